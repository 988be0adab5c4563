"""Typed model configuration, read once from yaml dicts that use mockingjay's key names.

`transformer:` holds the encoder's shape (hidden_size, num_hidden_layers, ...), `audio:` the fbank settings in
s3prl's extracter layout (kaldi / delta / cmvn). Unknown keys and values of the wrong type are errors that name
the key, so that a typo in a config never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

ACTIVATIONS = ("gelu", "relu", "swish", "silu", "tanh")
# Upper bounds far beyond any speech transformer: a config (or a hostile student file) cannot ask for more.
TRANSFORMER_LIMITS = {"hidden_size": 16384, "num_hidden_layers": 256, "num_attention_heads": 256,
                      "intermediate_size": 65536}
AUDIO_LIMITS = {"num_mel_bins": 1024, "delta_order": 4, "delta_win_length": 101, "sample_rate": 384000}
MAX_SEQUENCE_LENGTH = 1_000_000  # frames (almost three hours): a bound for a crop length read from a file


class ConfigError(InputError):
    """A configuration value is missing, unknown or of the wrong type; the message names the key."""


def _typed_value(where: str, key: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of the field's default (ints are accepted where floats are expected)."""
    expected = type(default)
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):  # mockingjay writes "True" in yaml
            return value.lower() == "true"
    elif expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif expected is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}.{key}: expected {expected.__name__}, got {value!r}")


def fields_from_mapping(cls: type, data: Any, where: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for dataclass `cls` from `data`, rejecting unknown keys."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    unknown = sorted(set(data) - set(known) - set(skip))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(known)}")
    kwargs = {}
    for name, f in known.items():
        if name in data:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            kwargs[name] = _typed_value(where, name, data[name], default)
    return kwargs


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the encoder; the key names are mockingjay's `transformer:` keys.

    `pruned_heads` maps a layer index to the heads (numbered as before pruning) removed from that layer;
    with `share_layer` every layer is the same module, so only index 0 is meaningful.
    """

    hidden_size: int = 768
    num_hidden_layers: int = 3
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    share_layer: bool = False
    pre_layer_norm: bool = False
    # pre-LN only: every hidden state through its own LayerNorm, as s3prl's Mockingjay family outputs them (files
    # converted from it); False normalises only the last one
    hidden_state_norms: bool = False
    gradient_checkpointing: bool = False  # training: recompute attention in the backward pass (memory for time)
    pruned_heads: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "transformer"
        for key, limit in TRANSFORMER_LIMITS.items():
            if not 1 <= getattr(self, key) <= limit:
                raise ConfigError(f"{where}.{key}: expected an integer in 1..{limit}, got {getattr(self, key)}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"{where}.hidden_size: {self.hidden_size} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.hidden_state_norms and not self.pre_layer_norm:
            raise ConfigError(f"{where}.hidden_state_norms: only for pre_layer_norm: true (post-LN states are normalised)")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"{where}.hidden_act: expected one of {ACTIVATIONS}, got {self.hidden_act!r}")
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"{where}.{key}: expected a probability in [0, 1), got {getattr(self, key)}")
        layers = 1 if self.share_layer else self.num_hidden_layers
        for layer, heads in self.pruned_heads.items():
            if not 0 <= layer < layers:
                raise ConfigError(f"{where}.pruned_heads: layer {layer} out of range 0..{layers - 1}")
            if any(not 0 <= h < self.num_attention_heads for h in heads) or len(set(heads)) >= self.num_attention_heads:
                raise ConfigError(
                    f"{where}.pruned_heads[{layer}]: {list(heads)} must be distinct heads in "
                    f"0..{self.num_attention_heads - 1}, leaving at least one"
                )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def heads_kept(self, layer: int) -> list[int]:
        """Original indices of the heads that layer `layer` still has."""
        pruned = set(self.pruned_heads.get(layer, ()))
        return [h for h in range(self.num_attention_heads) if h not in pruned]

    @classmethod
    def from_dict(cls, data: Any, where: str = "transformer") -> "TransformerConfig":
        kwargs = fields_from_mapping(cls, data, where, skip=("pruned_heads",))
        pruned = data.get("pruned_heads") or {}
        if not isinstance(pruned, Mapping):
            raise ConfigError(f"{where}.pruned_heads: expected a mapping layer -> [heads], got {pruned!r}")
        try:
            kwargs["pruned_heads"] = {int(k): tuple(sorted(int(h) for h in v)) for k, v in pruned.items()}
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}.pruned_heads: expected integer layers and heads, got {pruned!r}") from error
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["pruned_heads"] = {int(k): list(v) for k, v in self.pruned_heads.items()}
        return out


@dataclass(frozen=True)
class AudioConfig:
    """Kaldi-compatible log-mel fbank with optional deltas and per-utterance CMVN (s3prl's extracter settings)."""

    num_mel_bins: int = 80
    frame_length: float = 25.0  # ms
    frame_shift: float = 10.0  # ms
    use_log_fbank: bool = True
    delta_order: int = 0
    delta_win_length: int = 5
    use_cmvn: bool = True
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        for key, limit in AUDIO_LIMITS.items():
            if not (0 if key == "delta_order" else 1) <= getattr(self, key) <= limit:
                raise ConfigError(f"audio.{key}: expected an integer up to {limit}, got {getattr(self, key)}")
        if not 0 < self.frame_shift <= self.frame_length <= 1000:
            raise ConfigError(
                f"audio.kaldi.fbank: expected 0 < frame_shift <= frame_length <= 1000 ms, got "
                f"frame_shift={self.frame_shift}, frame_length={self.frame_length}"
            )
        hop = self.frame_shift * self.sample_rate / 1000
        if hop != int(hop):
            raise ConfigError(f"audio.kaldi.fbank.frame_shift: {self.frame_shift} ms is not a whole number of samples")

    @property
    def feature_dim(self) -> int:
        return self.num_mel_bins * (self.delta_order + 1)

    @property
    def hop_samples(self) -> int:
        """Samples per output frame: s3prl's downsample rate (160 for 10 ms at 16 kHz)."""
        return int(self.frame_shift * self.sample_rate / 1000)

    @property
    def window_samples(self) -> int:
        return int(self.frame_length * self.sample_rate / 1000)

    @property
    def min_samples(self) -> int:
        """The shortest waveform with two frames: per-utterance CMVN's standard deviation needs more than one."""
        return self.window_samples + self.hop_samples

    @classmethod
    def from_dict(cls, data: Any, where: str = "audio") -> "AudioConfig":
        """Read s3prl's nested layout: {kaldi: {feat_type: fbank, fbank: {...}}, delta: {...}, cmvn: {...}}."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - {"kaldi", "delta", "cmvn", "sample_rate"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are ['cmvn', 'delta', 'kaldi', 'sample_rate']")
        kaldi = data.get("kaldi", {})
        if not isinstance(kaldi, Mapping):
            raise ConfigError(f"{where}.kaldi: expected a mapping, got {kaldi!r}")
        feat_type = kaldi.get("feat_type", "fbank")
        if feat_type != "fbank":
            raise ConfigError(f"{where}.kaldi.feat_type: only 'fbank' is supported, got {feat_type!r}")
        fbank_keys = ("num_mel_bins", "frame_length", "frame_shift", "use_log_fbank")
        fbank = kaldi.get("fbank", {})
        if not isinstance(fbank, Mapping) or set(fbank) - set(fbank_keys):
            raise ConfigError(f"{where}.kaldi.fbank: expected a mapping with keys among {list(fbank_keys)}, got {fbank!r}")
        delta = data.get("delta", {})
        cmvn = data.get("cmvn", {})
        if not isinstance(delta, Mapping) or set(delta) - {"order", "win_length"}:
            raise ConfigError(f"{where}.delta: expected a mapping with keys among ['order', 'win_length'], got {delta!r}")
        if not isinstance(cmvn, Mapping) or set(cmvn) - {"use_cmvn"}:
            raise ConfigError(f"{where}.cmvn: expected a mapping with key 'use_cmvn', got {cmvn!r}")
        flat = dict(fbank)
        flat.update({f"delta_{k}": v for k, v in delta.items()})
        flat.update(cmvn)
        if "sample_rate" in data:
            flat["sample_rate"] = data["sample_rate"]
        return cls(**fields_from_mapping(cls, flat, where))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kaldi": {
                "feat_type": "fbank",
                "fbank": {
                    "num_mel_bins": self.num_mel_bins,
                    "frame_length": self.frame_length,
                    "frame_shift": self.frame_shift,
                    "use_log_fbank": self.use_log_fbank,
                },
            },
            "delta": {"order": self.delta_order, "win_length": self.delta_win_length},
            "cmvn": {"use_cmvn": self.use_cmvn},
            "sample_rate": self.sample_rate,
        }


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild and use a model: the encoder's shape, the features it reads, and the length
    of the crops it was trained on (mockingjay's `task.sequence_length`; 0 when not recorded, as in files
    written before it was), which the expert takes as its default chunk length."""

    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    sequence_length: int = 0

    @classmethod
    def from_dict(cls, data: Any, where: str = "config") -> "ModelConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        for key in ("transformer", "audio"):
            if key not in data:
                raise ConfigError(f"{where}: missing key '{key}'")
        length = data.get("sequence_length", 0)
        if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= MAX_SEQUENCE_LENGTH:
            raise ConfigError(f"{where}.sequence_length: expected an integer in 0..{MAX_SEQUENCE_LENGTH} (frames of "
                              f"the training crops), got {length!r}")
        return cls(
            transformer=TransformerConfig.from_dict(data["transformer"], f"{where}.transformer"),
            audio=AudioConfig.from_dict(data["audio"], f"{where}.audio"),
            sequence_length=length,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"transformer": self.transformer.to_dict(), "audio": self.audio.to_dict(),
                "sequence_length": self.sequence_length}
