"""Running the encoder below fp32: bf16 autocast and int8 linear layers. Outputs stay float32 for s3prl.

- bf16: torch's autocast over the encoder (matrix products in bf16 where the CPU has AVX512-BF16/AMX, or on GPU);
  refused with a clear message where the hardware lacks it.
- int8: PyTorch's dynamic quantization of every `nn.Linear` (int8 weights, activations quantized per call, VNNI dot
  products), CPU only. torch marks that API deprecated in favour of torchao; it is what ships with torch itself.
  Each utterance of a batch runs on its own: the activation scale is taken per call, so a batched call would make
  an utterance's output depend on its batch-mates and their padding; and one utterance's activations stay in the
  CPU's cache where a batch's spill out of it (10 s, 768 wide: 12 MB each in the feed-forward block).
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import InputError, UnsupportedError

PRECISIONS = ("fp32", "bf16", "int8")
Encoder = Callable[[Tensor, Tensor], list[Tensor]]


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.cpu._is_avx512_bf16_supported()


def at_precision(encoder: nn.Module, precision: str) -> Encoder:
    """A callable (features, lengths) -> float32 hidden states that runs `encoder` at `precision`."""
    if precision == "fp32":
        return encoder
    if precision == "bf16":
        def run(features: Tensor, lengths: Tensor) -> list[Tensor]:
            if not bf16_supported(features.device):
                raise UnsupportedError(f"precision bf16: this {features.device.type} has no bf16 support "
                                   "(CPU: AVX512-BF16 or AMX); use fp32 or int8")
            with torch.autocast(features.device.type, dtype=torch.bfloat16):
                return [h.float() for h in encoder(features, lengths)]
        return run
    if precision == "int8":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))  # see the module docstring
            quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(encoder).cpu().eval(), {nn.Linear},
                                                               dtype=torch.qint8)

        def run(features: Tensor, lengths: Tensor | None) -> list[Tensor]:
            if features.device.type != "cpu":
                raise UnsupportedError(f"precision int8: runs on CPU only, got inputs on {features.device}")
            if lengths is None:
                lengths = torch.full(features.shape[:1], features.shape[1])
            # one call per utterance: its own activation scale, and activations that fit the cache (see above)
            alone = [quantized(features[i:i + 1, :n]) for i, n in enumerate(lengths.tolist())]
            return [torch.cat([F.pad(h, (0, 0, 0, features.shape[1] - h.shape[1])) for h in layer])
                    for layer in zip(*alone)]
        return run
    raise InputError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")
