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


def test_onnx_runs_long_inputs_in_the_experts_chunks(tmp_path: Path) -> None:
    """A model trained on 60-frame crops: the torch expert runs a 1.5 s utterance in chunks of at most 60 frames,
    and so does the ONNX Runtime path, to the same hidden states; with `max_input_length: 0` both run it whole
    (and then differ from the chunked result)."""
    import dataclasses

    from upstream_distilbert import AudioDistilBert, save_student
    from upstream_distilbert.onnx_export import export_onnx
    from upstream_distilbert.options import ExpertOptions

    from .conftest import tiny_config

    torch.manual_seed(0)
    ckpt = save_student(AudioDistilBert(dataclasses.replace(tiny_config(), sequence_length=60)), tmp_path / "s.ckpt")
    model = load_student(ckpt).eval()
    path = export_onnx(model, tmp_path / "s.onnx")
    waves = [0.1 * torch.randn(24000), 0.1 * torch.randn(12000)]  # 148 and 73 frames: 3 and 2 chunks
    from upstream_distilbert.expert import UpstreamExpert

    for options, max_input_length in ((ExpertOptions(), -1), (ExpertOptions(max_input_length=0), 0)):
        with torch.no_grad():
            expected = UpstreamExpert(str(ckpt), options=options).eval()(waves)["hidden_states"]
        got = OnnxEncoder(path, model, threads=1, max_input_length=max_input_length)(waves)
        assert OnnxEncoder(path, model, max_input_length=max_input_length).chunk_length == (60 if max_input_length else 0)
        for layer, (a, b) in enumerate(zip(got, expected)):
            diff = (torch.from_numpy(a) - b).abs().max().item()  # padding included: zero in both
            assert diff <= 1e-4, f"max_input_length {max_input_length}, hidden state {layer}: {diff}"
    whole, chunked = (OnnxEncoder(path, model, max_input_length=m)(waves)[-1] for m in (0, -1))
    assert abs(whole - chunked).max() > 1e-3  # chunking matters: the parity above is not a coincidence


def test_export_needs_something_to_write(student_ckpt: Path) -> None:
    import subprocess

    proc = subprocess.run([*cli(), "export", str(student_ckpt)], capture_output=True, text=True)
    assert proc.returncode == 2 and "nothing to write; give -o STUDENT_CKPT, --onnx FILE.onnx, or both" in proc.stderr


def test_exports_and_cache_entries_use_temporary_files_of_their_own(student_ckpt: Path, tmp_path: Path) -> None:
    """Another export to the same path still writing its temporary file (here under the name earlier versions
    used for every export) is left alone; a feature-cache entry whose save fails leaves no temporary file."""
    from downstream_hooks.feature_cache import _save
    from upstream_distilbert.onnx_export import export_onnx

    from .test_checkpoint import _FailsHalfway

    other = tmp_path / ".student.onnx.tmp"
    other.write_text("another export, still writing")
    export_onnx(load_student(student_ckpt).eval(), tmp_path / "student.onnx")
    assert other.read_text() == "another export, still writing"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".student.onnx.tmp", "student.onnx"]
    cache = tmp_path / "cache"
    cache.mkdir()
    try:
        _save({"hidden_states": [torch.zeros(3)], "bad": _FailsHalfway()}, cache / "entry.pt")
    except RuntimeError:
        pass
    assert list(cache.iterdir()) == []
