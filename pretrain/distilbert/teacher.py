"""The frozen teacher: any s3prl upstream by hub name, its frames aligned to the student's 10 ms frames."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from upstream_distilbert import hubconf
from upstream_distilbert.checkpoint import CheckpointError
from upstream_distilbert.config import AudioConfig, ConfigError
from upstream_distilbert.digest import path_digest
from upstream_distilbert.errors import InputError, MissingError
from upstream_distilbert.expert import UpstreamExpert
from upstream_distilbert.mockingjay_states import from_mockingjay_states
from upstream_distilbert.model import AudioDistilBert
from upstream_distilbert.s3prl_states import read_states, s3prl_checkpoints_allowed

from .config import TeacherConfig


class Teacher:
    """Wraps an s3prl upstream; deliberately not an nn.Module, so the runner's `train()`, optimizer and
    checkpoints never touch it. It always runs in eval mode, without gradients and without autocast.

    A teacher of our own family (`distilbert_local`) or of s3prl's Mockingjay family (`mockingjay*`, `tera*`,
    `audio_albert*`, converted on load) also gives `model`: encoder and reconstruction head on fbank, which
    prediction distillation and `init_student` need. `audio` is the student's fbank settings, or None to take the
    teacher's. `digest` is the sha256 of its checkpoint file or folder (None for a hub name's default model): a run
    records it, and refuses to resume with another teacher."""

    def __init__(self, config: TeacherConfig, audio: AudioConfig | None, device: str) -> None:
        self.expert, self.device = config.expert, device
        self.digest = path_digest(config.ckpt) if config.ckpt and Path(config.ckpt).exists() else None
        upstream = _load_upstream(config)
        self.upstream = upstream.to(device).eval().requires_grad_(False)
        self.model, self.no_model_because = _fbank_model(upstream, config)
        if self.model is not None:
            self.model = self.model.to(device).eval().requires_grad_(False)
        if audio is None:
            if self.model is None:
                raise ConfigError(f"audio: not given, and teacher {config.expert} has no fbank settings to take "
                                  f"({self.no_model_because}); give the student's audio: settings")
            audio = self.model.config.audio
        self.audio = audio
        rate = int(self.upstream.get_downsample_rates("hidden_states"))
        if rate % audio.hop_samples:
            raise InputError(
                f"teacher {config.expert}: {rate} samples per frame cannot be aligned to the student's "
                f"{audio.hop_samples}-sample frames (expected a multiple of {audio.hop_samples})"
            )
        self.repeat = rate // audio.hop_samples
        probe = self._upstream_hidden_states([torch.zeros(audio.sample_rate)], 98)
        self.num_layers, self.hidden_size = len(probe), probe[0].shape[-1]
        # With the student's fbank settings the teacher reads the student's features (computed once).
        self.reads_student_features = self.model is not None and self.model.config.audio == audio

    @torch.no_grad()
    def hidden_states(self, waves: list[Tensor], features: Tensor, lengths: Tensor) -> list[Tensor]:
        """Every hidden state, each (B, frames, H) on the student's frames. A teacher of our own family with the
        student's fbank settings reads the student's unmasked features (computed once, with the same
        whole-utterance CMVN); any other upstream reads the waveforms."""
        if not self.reads_student_features:
            return self._upstream_hidden_states(waves, features.shape[1])
        with torch.autocast(device_type=features.device.type, enabled=False):
            return self.model.encoder(features.float(), lengths)

    def _upstream_hidden_states(self, waves: list[Tensor], num_frames: int) -> list[Tensor]:
        """The upstream's hidden states, its frames repeated to 10 ms, trimmed or edge-padded to `num_frames`."""
        with torch.autocast(device_type=torch.device(self.device).type, enabled=False):
            hidden = self.upstream([w.to(self.device) for w in waves])["hidden_states"]
        aligned = []
        for h in hidden:
            h = h.float().repeat_interleave(self.repeat, dim=1)[:, :num_frames]
            if h.shape[1] < num_frames:
                h = torch.cat([h, h[:, -1:].expand(-1, num_frames - h.shape[1], -1)], dim=1)
            aligned.append(h)
        return aligned

    @torch.no_grad()
    def reconstruct(self, masked: Tensor, lengths: Tensor) -> Tensor:
        """The teacher's own prediction of the masked frames (prediction distillation's target)."""
        if self.model is None:
            raise InputError(f"teacher {self.expert}: no reconstruction head ({self.no_model_because})")
        with torch.autocast(device_type=masked.device.type, enabled=False):
            return self.model(masked.float(), lengths)[1]


def _load_upstream(config: TeacherConfig) -> torch.nn.Module:
    """The teacher's s3prl upstream: our hub entries, or any of s3prl's. A checkpoint file for one of s3prl's
    upstreams is first read weights-only (with s3prl's own classes allowed): many of them unpickle their file whole
    (Mockingjay's builder with `weights_only=False`), which would run any code a hostile file names, so a file that
    holds more than weights is refused unless `teacher.trust_pickle` says the user trusts it. A folder (a Hugging
    Face model, for `hf_hubert_custom`, `hf_wav2vec2_custom`) is handed over as it is."""
    import s3prl.hub

    source = hubconf if config.expert in hubconf.__all__ else s3prl.hub  # ours, or any of s3prl's
    entry = getattr(source, config.expert, None)
    if entry is None or config.expert.startswith("_"):
        raise ConfigError(f"teacher.expert: {config.expert!r} is not an s3prl hub entry (see s3prl.hub.options())")
    if config.ckpt and not Path(config.ckpt).exists():
        raise MissingError(f"teacher.ckpt: no checkpoint file or folder at {config.ckpt!r} for teacher {config.expert}")
    if config.ckpt and Path(config.ckpt).is_file() and source is s3prl.hub and not config.trust_pickle:
        try:
            read_states(config.ckpt)
        except CheckpointError as error:
            raise CheckpointError(
                f"teacher.ckpt: refused {config.ckpt} for teacher {config.expert}: {error}. s3prl's {config.expert} "
                "would unpickle it, which runs whatever code the file names. If you trust the file, set "
                "teacher.trust_pickle: true (or, for the Mockingjay family, convert it once with `audio-distilbert "
                "convert --trust-pickle` and use distilbert_local)"
            ) from error
    try:
        with s3prl_checkpoints_allowed():  # s3prl's upstreams load their own checkpoints with torch's default
            return entry(ckpt=config.ckpt) if config.ckpt else entry()
    except Exception as error:  # noqa: BLE001 - every upstream fails in its own way on a bad file
        raise InputError(
            f"teacher.ckpt: {config.ckpt or '(the default model)'} could not be loaded by {config.expert} "
            f"({type(error).__name__}: {error})"
        ) from error


def _fbank_model(upstream: torch.nn.Module, config: TeacherConfig) -> tuple[AudioDistilBert | None, str]:
    """(our model of the teacher, "") where it has one, else (None, why not)."""
    from s3prl.upstream.mockingjay.expert import UpstreamExpert as MockingjayExpert

    if isinstance(upstream, UpstreamExpert):
        return upstream.model, ""
    if not isinstance(upstream, MockingjayExpert):  # tera and audio_albert use it too
        return None, f"{config.expert} is neither distilbert_local nor of s3prl's Mockingjay family"
    try:
        return from_mockingjay_states(upstream.transformer.all_states, config.ckpt or config.expert), ""
    except CheckpointError as error:
        return None, str(error)
