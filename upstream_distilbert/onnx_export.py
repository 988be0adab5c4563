"""The encoder as an ONNX model, and the ONNX Runtime path that runs it on waveforms.

    student file -> ONNX: features (B, T, D) float32 and mask (B, T) bool (True on real frames) in,
                          hidden_state_0 .. hidden_state_L, each (B, T, H), out; batch and time axes dynamic
    wave -> our fbank + CMVN (features.py) -> ONNX Runtime -> every hidden state

The int8 variant quantizes the linear layers' weights with ONNX Runtime's dynamic quantizer (activations quantized
per call, VNNI dot products where the CPU has them). `onnx`, `onnxscript` and `onnxruntime` are imported only here.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .atomic import publish, temporary_path
from .features import FbankExtractor, check_wave
from .model import AudioDistilBert
from .options import ExpertOptions, chunk_sizes

OPSET = 18


class _MaskedEncoder(nn.Module):
    def __init__(self, model: AudioDistilBert) -> None:
        super().__init__()
        self.encoder = model.encoder

    def forward(self, features: Tensor, mask: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.encoder.encode(features, mask))


def export_onnx(model: AudioDistilBert, path: str | os.PathLike, int8: bool = False) -> Path:
    """Write `model`'s encoder (eval mode, fp32) to `path`, or with `int8` its weight-quantized variant. Written
    to a temporary file of its own in the same folder, then renamed; removed if the export fails."""
    path = Path(path)
    tmp = temporary_path(path, ".onnx")  # unique: two exports to one path never delete each other's file
    layers = model.config.transformer.num_hidden_layers + 1
    features = torch.randn(2, 50, model.config.audio.feature_dim)
    mask = torch.ones(2, 50, dtype=torch.bool)
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    try:
        program = torch.onnx.export(
            _MaskedEncoder(model).eval(), (features, mask), dynamo=True, opset_version=OPSET,
            input_names=["features", "mask"], output_names=[f"hidden_state_{i}" for i in range(layers)],
            dynamic_shapes={"features": {0: batch, 1: time}, "mask": {0: batch, 1: time}}, verbose=False,
        )
        program.save(str(tmp))
        if int8:
            return quantize_onnx(tmp, path)
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def quantize_onnx(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """The int8 variant of an exported fp32 file: ONNX Runtime's dynamic quantization of the weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    tmp = temporary_path(path, ".onnx")
    try:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class OnnxEncoder:
    """Waveforms -> hidden states through an exported ONNX file and ONNX Runtime (no torch model needed; our
    fbank front end makes the features). Like the torch expert, an utterance longer than `max_input_length` frames
    (-1, the default: the crop `model` was trained on; 0: whole) runs in chunks of `chunk_sizes`, each utterance in
    a call of its own, so that the two give the same hidden states; outputs are float32 numpy arrays."""

    def __init__(self, path: str | os.PathLike, model: AudioDistilBert, threads: int | None = None,
                 max_input_length: int = -1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.extractor = FbankExtractor(model.config.audio)
        self.chunk_length = ExpertOptions(max_input_length=max_input_length).chunk_length(model.config.sequence_length)

    def _run(self, parts: list[Tensor]) -> list[np.ndarray]:
        """Every hidden state (B, T, H) of a padded batch of feature sequences."""
        frames = max(len(p) for p in parts)
        batch = np.zeros((len(parts), frames, parts[0].shape[1]), dtype=np.float32)
        mask = np.zeros((len(parts), frames), dtype=bool)
        for i, p in enumerate(parts):
            batch[i, : len(p)], mask[i, : len(p)] = p.numpy(), True
        return self.session.run(None, {"features": batch, "mask": mask})

    def __call__(self, waves: list[Tensor]) -> list[np.ndarray]:
        """Every hidden state (B, T, H) of a batch of 1-D 16 kHz waveforms, zero past each utterance's end."""
        for i, wave in enumerate(waves):
            check_wave(wave, f"waves[{i}]", self.extractor.min_samples)
        features = [self.extractor(w) for w in waves]
        frames = max(len(f) for f in features)
        if not self.chunk_length or frames <= self.chunk_length:
            layers = self._run(features)
            for i, f in enumerate(features):
                for layer in layers:
                    layer[i, len(f):] = 0
            return layers
        out: list[np.ndarray] | None = None
        for i, f in enumerate(features):
            chunks = f.split(chunk_sizes(len(f), self.chunk_length))
            layers = self._run(list(chunks))
            if out is None:
                out = [np.zeros((len(features), frames, layer.shape[-1]), dtype=np.float32) for layer in layers]
            for layer, target in zip(layers, out):
                target[i, : len(f)] = np.concatenate([layer[j, : len(c)] for j, c in enumerate(chunks)])
        return out
