"""The s3prl upstream expert: a list of 16 kHz waveforms in, the student's hidden states out.

Contract (s3prl's `UpstreamBase`): `hidden_states` holds the input embedding plus every layer, the same count on
every call, each padded to (B, T, hidden_size) with T = the longest utterance's frame count; the downsample rate
is the fbank hop (160 samples). An utterance longer than `max_input_length` frames (by default the length of the
crops the model was trained on, recorded in the student file) runs in equal-sized independent chunks of at most that
many frames: the model attends over the context lengths it was trained on, and attention memory stays bounded by
the chunk length instead of growing with the square of the input.
"""
from __future__ import annotations

import torch
from s3prl.upstream.interfaces import UpstreamBase
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from .checkpoint import load_student
from .errors import InputError
from .features import FbankExtractor, check_wave
from .options import ExpertOptions, chunk_sizes
from .precision import at_precision


class UpstreamExpert(UpstreamBase):
    """Loads an exported student (`student.ckpt`) for s3prl's downstream tasks, hub and `S3PRLUpstream`."""

    def __init__(self, ckpt: str, model_config: str | None = None, options: ExpertOptions | None = None,
                 **kwargs) -> None:
        """`model_config` is s3prl's path to the options yaml (`-g`); from Python, `options` can be given instead."""
        super().__init__(**kwargs)  # s3prl also passes `refresh`, which a local file does not need
        if model_config is not None and options is not None:
            raise InputError(f"model_config {model_config} and options: give the expert options one way, not both")
        self.model = load_student(ckpt)
        self.extractor = FbankExtractor(self.model.config.audio)
        self.options = options or ExpertOptions.from_yaml(model_config)
        self.chunk_length = self.options.chunk_length(self.model.config.sequence_length)
        self.encoder = at_precision(self.model.encoder, self.options.precision)

    def get_downsample_rates(self, key: str) -> int:
        return self.model.config.audio.hop_samples

    def forward(self, wavs: list[Tensor]) -> dict[str, object]:
        if len(wavs) == 0:
            raise InputError("wavs: expected a non-empty list of 1-D waveforms")
        for i, wave in enumerate(wavs):
            check_wave(wave, f"wavs[{i}]", self.extractor.min_samples)
        features = [self.extractor(wave) for wave in wavs]
        lengths = torch.tensor([len(f) for f in features], device=features[0].device)
        hidden_states = self._encode(pad_sequence(features, batch_first=True), lengths)
        return {"hidden_states": tuple(hidden_states), "last_hidden_state": hidden_states[-1]}

    def _encode(self, features: Tensor, lengths: Tensor) -> list[Tensor]:
        """The encoder's hidden states of a padded batch, padded frames zeroed; an utterance longer than the chunk
        length runs in chunks of its own, so its output never depends on what it is batched with."""
        if not self.chunk_length or features.shape[1] <= self.chunk_length:
            layers = self.encoder(features, lengths)
        else:
            utterances = [self._encode_in_chunks(features[i, :n]) for i, n in enumerate(lengths.tolist())]
            layers = [pad_sequence(layer, batch_first=True) for layer in zip(*utterances)]
        keep = (torch.arange(features.shape[1], device=lengths.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        return [layer * keep for layer in layers]

    def _encode_in_chunks(self, features: Tensor) -> list[Tensor]:
        """One utterance (frames, dim) in equal-sized chunks of at most `chunk_length` frames (no short tail: 301
        frames become 151 + 150), run as one batch; each hidden state (frames, hidden) reassembled."""
        chunks = features.split(chunk_sizes(len(features), self.chunk_length))
        sizes = torch.tensor([len(c) for c in chunks], device=features.device)
        layers = self.encoder(pad_sequence(list(chunks), batch_first=True), sizes)
        return [torch.cat([layer[j, :n] for j, n in enumerate(sizes.tolist())]) for layer in layers]
