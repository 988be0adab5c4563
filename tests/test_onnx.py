"""ONNX export of the encoder and the ONNX Runtime path: fp32 parity with torch, and the int8 variant."""
from __future__ import annotations

from pathlib import Path

import torch

from upstream_distilbert import load_student
from upstream_distilbert.hubconf import distilbert_local
from upstream_distilbert.onnx_export import OnnxEncoder, quantize_onnx

from .conftest import cli, run


def test_onnx_export_matches_torch_on_a_padded_batch(student_ckpt: Path, tmp_path: Path) -> None:
    fp32, int8 = tmp_path / "student.onnx", tmp_path / "student-int8.onnx"
    out = run([*cli(), "export", str(student_ckpt), "--onnx", str(fp32)]).stdout
    assert f"wrote {fp32} (fp32; inputs features, mask; outputs hidden_state_0..2)" in out
    quantize_onnx(fp32, int8)  # what `export --onnx F --int8` writes, from the same fp32 export
    model = load_student(student_ckpt)
    torch.manual_seed(0)
    waves = [0.1 * torch.randn(24000), 0.1 * torch.randn(9000)]  # batch and time differ from the export's example
    with torch.no_grad():
        expected = distilbert_local(ckpt=str(student_ckpt)).eval()(waves)["hidden_states"]
    for name, path in (("fp32", fp32), ("int8", int8)):
        encoder = OnnxEncoder(path, model, threads=1)
        frames = [encoder.extractor.num_frames(len(w)) for w in waves]
        got = encoder(waves)
        assert len(got) == len(expected) == 3
        for layer, (a, b) in enumerate(zip(got, expected)):
            for utt, n in enumerate(frames):
                x, y = torch.from_numpy(a[utt, :n]), b[utt, :n]
                if name == "fp32":
                    diff = (x - y).abs().max().item()
                    assert diff <= 1e-4, f"fp32 hidden state {layer}, utterance {utt}: max abs difference {diff}"
                else:
                    cosine = torch.nn.functional.cosine_similarity(x, y, dim=-1).min().item()
                    assert cosine > 0.99, f"int8 hidden state {layer}, utterance {utt}: cosine {cosine}"
    import onnx

    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "DynamicQuantizeLinear" in ops and "MatMulInteger" in ops  # the linear layers run as int8 dot products


def test_export_needs_something_to_write(student_ckpt: Path) -> None:
    import subprocess

    proc = subprocess.run([*cli(), "export", str(student_ckpt)], capture_output=True, text=True)
    assert proc.returncode == 2 and "nothing to write; give -o STUDENT_CKPT, --onnx FILE.onnx, or both" in proc.stderr
