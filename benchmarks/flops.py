"""Analytic forward FLOPs of a Mockingjay-family encoder (ours or s3prl's: the same arithmetic).

Per frame and layer: QKV and output projections 2 * (3 * H * A + A * H), feed-forward 2 * 2 * H * I, and
attention over a sequence of T frames 2 * 2 * T * A (scores and weighted sum), where A = kept heads x head size.
Plus the input projection 2 * D * H per frame. Layer norms, activations and softmax are not counted.
"""
from __future__ import annotations

from dataclasses import dataclass

from upstream_distilbert.config import ModelConfig
from upstream_distilbert.options import chunk_sizes


@dataclass(frozen=True)
class EncoderShape:
    input_dim: int
    hidden_size: int
    intermediate_size: int
    attention_widths: tuple[int, ...]  # kept heads x head size, one per applied layer

    @classmethod
    def of(cls, config: ModelConfig) -> "EncoderShape":
        t = config.transformer
        widths = tuple(len(t.heads_kept(0 if t.share_layer else i)) * t.head_dim for i in range(t.num_hidden_layers))
        return cls(config.audio.feature_dim, t.hidden_size, t.intermediate_size, widths)

    @classmethod
    def of_mockingjay(cls, transformer: dict, input_dim: int) -> "EncoderShape":
        """From s3prl mockingjay's `transformer:` config dict."""
        layers = int(transformer["num_hidden_layers"])
        return cls(input_dim, int(transformer["hidden_size"]), int(transformer["intermediate_size"]),
                   (int(transformer["hidden_size"]),) * layers)


def encoder_flops(shape: EncoderShape, frames: int) -> float:
    """Forward FLOPs for one sequence of `frames` frames."""
    h, i = shape.hidden_size, shape.intermediate_size
    total = 2 * shape.input_dim * h * frames
    for a in shape.attention_widths:
        total += frames * (2 * (3 * h * a + a * h) + 4 * h * i) + 4 * frames * frames * a
    return float(total)


def flops_per_audio_second(shape: EncoderShape, seconds: float, chunk: int = 0, hop_ms: float = 10.0,
                           equal_chunks: bool = True) -> float:
    """FLOPs per second of audio for an input of `seconds`, run in chunks of at most `chunk` frames (0: whole):
    equal-sized as our expert cuts them, or else `chunk` frames each and the rest (s3prl's Mockingjay)."""
    frames = int(round(seconds * 1000 / hop_ms))
    if equal_chunks:
        sizes = chunk_sizes(frames, chunk)
    else:
        full, rest = divmod(frames, chunk or frames)
        sizes = [chunk or frames] * full + ([rest] if rest else [])
    return sum(encoder_flops(shape, n) for n in sizes) / seconds
