"""The s3prl upstream expert: a list of 16 kHz waveforms in, the student's hidden states out.

Contract (s3prl's `UpstreamBase`): `hidden_states` holds the input embedding plus every layer, the same count on
every call, each padded to (B, T, hidden_size) with T = the longest utterance's frame count; the downsample rate
is the fbank hop (160 samples). Inputs longer than `max_input_length` frames run in independent chunks, so
attention memory stays bounded by the chunk length instead of growing with the square of the input.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from s3prl.upstream.interfaces import UpstreamBase
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from .checkpoint import load_student
from .config import ConfigError, fields_from_mapping
from .features import FbankExtractor, check_wave


@dataclass(frozen=True)
class ExpertOptions:
    """Inference options, from the yaml that s3prl passes as `model_config` (`-g`)."""

    max_input_length: int = 3000  # frames per chunk (30 s); 0 runs every input whole

    @classmethod
    def from_yaml(cls, path: str | None) -> "ExpertOptions":
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: cannot read the expert options ({error})") from error
        options = cls(**fields_from_mapping(cls, data, str(path)))
        if options.max_input_length < 0:
            raise ConfigError(f"{path}: max_input_length must be >= 0, got {options.max_input_length}")
        return options


class UpstreamExpert(UpstreamBase):
    """Loads an exported student (`student.ckpt`) for s3prl's downstream tasks, hub and `S3PRLUpstream`."""

    def __init__(self, ckpt: str, model_config: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)  # s3prl also passes `refresh`, which a local file does not need
        self.model = load_student(ckpt)
        self.extractor = FbankExtractor(self.model.config.audio)
        self.options = ExpertOptions.from_yaml(model_config)

    def get_downsample_rates(self, key: str) -> int:
        return self.model.config.audio.hop_samples

    def forward(self, wavs: list[Tensor]) -> dict[str, object]:
        if len(wavs) == 0:
            raise ValueError("wavs: expected a non-empty list of 1-D waveforms")
        for i, wave in enumerate(wavs):
            check_wave(wave, f"wavs[{i}]", self.extractor.min_samples)
        features = [self.extractor(wave) for wave in wavs]
        lengths = torch.tensor([len(f) for f in features], device=features[0].device)
        hidden_states = self._encode(pad_sequence(features, batch_first=True), lengths)
        return {"hidden_states": tuple(hidden_states), "last_hidden_state": hidden_states[-1]}

    def _encode(self, features: Tensor, lengths: Tensor) -> list[Tensor]:
        """Run the encoder over chunks of at most `max_input_length` frames and zero the padded frames."""
        chunk = self.options.max_input_length or features.shape[1]
        pieces = []
        for start in range(0, features.shape[1], chunk):
            # An utterance that ended before this chunk keeps one frame visible, so its (discarded) attention
            # rows are not all masked, which would make them NaN.
            chunk_lengths = (lengths - start).clamp(1, chunk)
            pieces.append(self.model.encoder(features[:, start : start + chunk], chunk_lengths))
        keep = (torch.arange(features.shape[1], device=lengths.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        return [torch.cat(layer, dim=1) * keep for layer in zip(*pieces)]
