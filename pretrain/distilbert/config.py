"""config_model.yaml (`-g`) and the runner's `pretrain_expert.datarc`, read once into typed objects."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from upstream_distilbert.config import AudioConfig, ConfigError, ModelConfig, fields_from_mapping


@dataclass(frozen=True)
class TaskConfig:
    """Masked acoustic modelling, with mockingjay's `task:` key names."""

    sequence_length: int = 1500  # frames per random crop; 0 keeps whole utterances
    mask_proportion: float = 0.15
    mask_consecutive_min: int = 7
    mask_consecutive_max: int = 7
    mask_allow_overlap: bool = True
    mask_bucket_ratio: float = 1.5
    mask_frequency: float = 0.2  # largest frequency band masked, as a fraction of the feature bins
    noise_proportion: float = 0.15

    def __post_init__(self) -> None:
        if not 1 <= self.mask_consecutive_min <= self.mask_consecutive_max:
            raise ConfigError(
                f"task: expected 1 <= mask_consecutive_min <= mask_consecutive_max, got "
                f"{self.mask_consecutive_min} and {self.mask_consecutive_max}"
            )
        for key in ("mask_proportion", "mask_frequency", "noise_proportion"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"task.{key}: expected a fraction in [0, 1], got {getattr(self, key)}")


@dataclass(frozen=True)
class TeacherConfig:
    """A frozen s3prl upstream: `expert` is a hub entry name, `ckpt` its checkpoint."""

    expert: str = ""
    ckpt: str = ""  # a checkpoint file, or a folder where the upstream takes one (a Hugging Face model)
    init_student: bool = False  # copy the teacher's weights into the student where names and shapes match
    trust_pickle: bool = False  # let s3prl unpickle a teacher file that holds more than weights (runs its code)

    def __post_init__(self) -> None:
        if not self.expert:
            raise ConfigError("teacher.expert: expected an s3prl hub entry name such as distilbert_local")


@dataclass(frozen=True)
class DistillationConfig:
    """Weights of the objectives (0 turns one off) and the layers that hidden-state distillation pairs."""

    reconstruction_weight: float = 2.0  # student's prediction vs the true fbank, on masked frames
    prediction_weight: float = 5.0  # student's prediction vs the teacher's, on masked frames
    hidden_weight: float = 0.0  # chosen student layers, through heads, vs chosen teacher layers (L1)
    cosine_weight: float = 1.0  # within hidden distillation: weight of the -log sigmoid(cosine) term
    student_layers: tuple[int, ...] = ()
    teacher_layers: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str = "distillation") -> "DistillationConfig":
        data = dict(data or {})
        layers = {k: tuple(int(i) for i in data.pop(k, ()) or ()) for k in ("student_layers", "teacher_layers")}
        config = cls(**fields_from_mapping(cls, data, where, skip=tuple(layers)), **layers)
        if len(config.student_layers) != len(config.teacher_layers):
            raise ConfigError(
                f"{where}: student_layers {list(config.student_layers)} and teacher_layers "
                f"{list(config.teacher_layers)} must pair up one to one"
            )
        if config.hidden_weight > 0 and not config.student_layers:
            raise ConfigError(f"{where}.hidden_weight: > 0 needs student_layers and teacher_layers")
        return config


@dataclass(frozen=True)
class AugmentationConfig:
    """`augmentation:` of the model config (`-g`); every probability is 0 by default (no augmentation)."""

    speed_prob: float = 0.0
    speed_min: float = 0.9  # playback-speed factor: 1.1 is 10% shorter and higher
    speed_max: float = 1.1
    pitch_prob: float = 0.0
    pitch_min: float = 0.89  # frequency factor at the same duration (0.89..1.12: about -2..+2 semitones)
    pitch_max: float = 1.12
    reverb_prob: float = 0.0
    reverb_rt60_min: float = 0.2  # seconds, of a shoebox room with one source and one microphone
    reverb_rt60_max: float = 0.8
    room_min: float = 3.0  # metres, each side of the room drawn between these
    room_max: float = 10.0
    noise_prob: float = 0.0
    noise_snr_min: float = 5.0  # dB, white noise
    noise_snr_max: float = 20.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_prob") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ConfigError(f"augmentation.{f.name}: expected a probability in [0, 1], got {getattr(self, f.name)}")
        bounds = {"speed": (0.5, 2.0), "pitch": (0.5, 2.0), "reverb_rt60": (0.05, 3.0), "room": (2.0, 50.0),
                  "noise_snr": (-20.0, 80.0)}
        for name, (low, high) in bounds.items():
            lo, hi = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if not low <= lo <= hi <= high:
                raise ConfigError(f"augmentation.{name}_min/{name}_max: expected {low} <= min <= max <= {high}, "
                                  f"got {lo} and {hi}")

    @classmethod
    def from_dict(cls, data: object, where: str = "augmentation") -> "AugmentationConfig":
        return cls(**fields_from_mapping(cls, data or {}, where))

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self) if f.name.endswith("_prob"))


@dataclass(frozen=True)
class PretrainConfig:
    """Everything in config_model.yaml."""

    model: ModelConfig
    task: TaskConfig
    teacher: TeacherConfig | None
    distillation: DistillationConfig
    augmentation: AugmentationConfig
    raw: dict = field(compare=False, repr=False)  # as read, saved as `Upstream_Config` for resume
    audio_given: bool = True  # False: `audio:` left out, so the student reads its teacher's features

    def with_audio(self, audio: AudioConfig) -> "PretrainConfig":
        """The student on `audio` (its teacher's fbank settings), recorded in `raw` so that a resumed run and the
        exported file read the same features without loading the teacher again."""
        return dataclasses.replace(self, model=dataclasses.replace(self.model, audio=audio),
                                   raw={**self.raw, "audio": audio.to_dict()}, audio_given=True)

    @classmethod
    def from_dict(cls, data: Any, where: str = "config_model") -> "PretrainConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - {"transformer", "audio", "task", "teacher", "distillation", "augmentation"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}")
        teacher = data.get("teacher")
        if teacher is not None and not isinstance(teacher, Mapping):
            raise ConfigError(f"{where}.teacher: expected a mapping or null, got {teacher!r}")
        distillation = DistillationConfig.from_dict(data.get("distillation"), f"{where}.distillation")
        if teacher is None and (distillation.prediction_weight or distillation.hidden_weight):
            distillation = dataclasses.replace(distillation, prediction_weight=0.0, hidden_weight=0.0)
        if not (distillation.reconstruction_weight or distillation.prediction_weight or distillation.hidden_weight):
            raise ConfigError(f"{where}.distillation: every objective's weight is 0 (without a teacher only "
                              "reconstruction_weight counts)")
        task = TaskConfig(**fields_from_mapping(TaskConfig, data.get("task", {}), f"{where}.task"))
        if "audio" not in data and teacher is None:
            raise ConfigError(f"{where}: missing key 'audio' (the fbank settings; only a student with a teacher may "
                              "leave them out to take the teacher's)")
        # Without `audio:` the defaults stand in until the expert takes the teacher's settings (`with_audio`).
        model = ModelConfig.from_dict({"audio": {}, **{k: data[k] for k in ("transformer", "audio") if k in data}}, where)
        return cls(
            model=dataclasses.replace(model, sequence_length=task.sequence_length),  # recorded in the student file
            task=task,
            teacher=None if teacher is None else TeacherConfig(**fields_from_mapping(TeacherConfig, teacher, f"{where}.teacher")),
            distillation=distillation,
            augmentation=AugmentationConfig.from_dict(data.get("augmentation"), f"{where}.augmentation"),
            raw=dict(data),
            audio_given="audio" in data,
        )

    @classmethod
    def load(cls, source: str | Path | Mapping) -> "PretrainConfig":
        """From a yaml path (a new run) or the dict a checkpoint saved (`Upstream_Config`, on resume)."""
        if isinstance(source, Mapping):
            return cls.from_dict(source, "Upstream_Config")
        try:
            data = yaml.safe_load(Path(source).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{source}: cannot read the model config ({error})") from error
        return cls.from_dict(data, str(source))


@dataclass(frozen=True)
class DataConfig:
    """`pretrain_expert.datarc` in the runner config (s3prl's key names)."""

    train_batch_size: int = 0
    libri_root: str = ""
    file_path: str = ""  # folder of length CSVs (relative to the working directory, as in s3prl)
    sets: tuple[str, ...] = ()
    max_timestep: int = 0  # frames: > 0 skips longer utterances, < 0 shorter ones, 0 keeps all
    num_workers: int = 0
    seed: int = 1337  # shuffling, crops and masks derive from it, so a resumed run sees the same data
    drop_bad_audio: bool = False  # unusable files listed in the CSVs: False stops at start, True drops them

    @classmethod
    def from_dict(cls, data: Any, where: str = "pretrain_expert.datarc") -> "DataConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        for key in ("train_batch_size", "libri_root", "file_path", "sets"):
            if key not in data:
                raise ConfigError(f"{where}: missing key '{key}'")
        sets = data["sets"]
        if isinstance(sets, str) or not isinstance(sets, (list, tuple)) or not sets:
            raise ConfigError(f"{where}.sets: expected a list of length-CSV names, got {sets!r}")
        config = cls(sets=tuple(str(s) for s in sets), **fields_from_mapping(cls, data, where, skip=("sets",)))
        if config.train_batch_size < 1:
            raise ConfigError(f"{where}.train_batch_size: expected >= 1, got {config.train_batch_size}")
        return config
