"""The upstream expert through s3prl's own interfaces: S3PRLUpstream checks, bad input, chunking."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from s3prl.nn import S3PRLUpstream
from s3prl.util.pseudo_data import get_pseudo_wavs

from downstream_hooks.registration import register_in_process
from upstream_distilbert.expert import UpstreamExpert
from upstream_distilbert.options import ExpertOptions

EXTRA_SHORT_SEC = 0.05


@pytest.fixture(scope="module")
def upstream(student_ckpt: Path) -> S3PRLUpstream:
    register_in_process()
    return S3PRLUpstream("distilbert_local", path_or_url=str(student_ckpt))


def _hidden(model: S3PRLUpstream, seed: int = 0, **wav_args) -> list[torch.Tensor]:
    wavs, wavs_len = get_pseudo_wavs(seed=seed, padded=True, **wav_args)
    all_hs, _ = model(wavs, wavs_len)
    return all_hs


def test_deterministic_in_eval_mode(upstream: S3PRLUpstream) -> None:
    upstream.eval()
    with torch.no_grad():
        first = _hidden(upstream)
        again = _hidden(upstream)
    assert len(first) == 3 == upstream.num_layers
    for a, b in zip(first, again):
        assert torch.equal(a, b)


def test_same_layer_count_in_train_and_eval_mode(upstream: S3PRLUpstream) -> None:
    upstream.eval()
    counts = {len(_hidden(upstream, seed=s)) for s in range(2)}
    upstream.train()
    counts |= {len(_hidden(upstream, seed=s)) for s in range(3)}
    upstream.eval()
    assert counts == {3}


@pytest.mark.parametrize(
    "n, min_secs, max_secs", [(1, EXTRA_SHORT_SEC, EXTRA_SHORT_SEC), (2, EXTRA_SHORT_SEC, EXTRA_SHORT_SEC), (3, EXTRA_SHORT_SEC, 1)]
)
def test_forward_backward(upstream: S3PRLUpstream, n: int, min_secs: float, max_secs: float) -> None:
    upstream.train()
    with torch.autograd.set_detect_anomaly(True):
        hs = _hidden(upstream, n=n, min_secs=min_secs, max_secs=max_secs)
        total = sum(h.sum() for h in hs)
        total.backward()
    grads = [p.grad for p in upstream.upstream.model.encoder.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    upstream.zero_grad()
    upstream.eval()


def test_frames_and_downsample_rate(student_ckpt: Path) -> None:
    expert = UpstreamExpert(str(student_ckpt)).eval()
    assert expert.get_downsample_rates("hidden_states") == 160
    out = expert([torch.zeros(800), torch.rand(16000) - 0.5])
    assert len(out["hidden_states"]) == 3
    assert out["hidden_states"][0].shape == (2, 1 + (16000 - 400) // 160, 32)
    assert torch.equal(out["last_hidden_state"], out["hidden_states"][-1])
    assert out["hidden_states"][-1][0, 3:].abs().sum() == 0  # padded frames are zero


@pytest.mark.parametrize(
    "wave, message",
    [
        (torch.zeros(0), r"wavs\[1\]: the waveform is empty"),
        (torch.zeros(2, 16000), r"wavs\[1\]: expected a 1-D \(mono\) waveform, got shape \(2, 16000\)"),
        (torch.zeros(16000, dtype=torch.int16), r"wavs\[1\]: expected a float waveform"),
        (torch.full((16000,), float("nan")), r"wavs\[1\]: the waveform holds 16000 NaN or infinite"),
        (torch.tensor([0.0] * 8000 + [float("inf")]), r"wavs\[1\]: the waveform holds 1 NaN or infinite"),
        (torch.zeros(300), r"wavs\[1\]: 300 samples is too short; at least 560"),
        ([0.0] * 16000, r"wavs\[1\]: expected a 1-D float torch.Tensor, got list"),
    ],
    ids=["empty", "stereo", "int16", "nan", "inf", "too-short", "not-a-tensor"],
)
def test_bad_input_is_a_clear_value_error(student_ckpt: Path, wave, message: str) -> None:
    expert = UpstreamExpert(str(student_ckpt))
    with pytest.raises(ValueError, match=message):
        expert([torch.zeros(16000), wave])


def test_long_inputs_run_in_equal_chunks(student_ckpt: Path, tmp_path: Path) -> None:
    """With max_input_length=148 a 3 s input (298 frames) runs as independent chunks of 100, 99 and 99 frames
    (not 148 + 148 + a 2-frame tail); a padded batch still gives each utterance its own result."""
    options = tmp_path / "expert.yaml"
    options.write_text("max_input_length: 148\n")
    expert = UpstreamExpert(str(student_ckpt), model_config=str(options)).eval()
    torch.manual_seed(0)
    long, short = torch.rand(48000) - 0.5, torch.rand(12000) - 0.5
    with torch.no_grad():
        batch = expert([long, short])["hidden_states"]
        feats = expert.extractor(long)[None]
        assert feats.shape[1] == 298
        pieces = [expert.model.encoder(feats[:, s:e]) for s, e in ((0, 100), (100, 199), (199, 298))]
        alone_short = expert([short])["hidden_states"]
    for layer, hidden in enumerate(batch):
        expected = torch.cat([p[layer] for p in pieces], dim=1)
        torch.testing.assert_close(hidden[0], expected[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(hidden[1, : alone_short[layer].shape[1]], alone_short[layer][0], atol=1e-5, rtol=0)


def test_chunk_sizes_are_equal_without_a_short_tail() -> None:
    """As few chunks of at most the chunk length as possible, their sizes within one frame of each other."""
    from upstream_distilbert.options import chunk_sizes

    for chunk in (*range(1, 18), 300):
        for frames in range(1, 1300):
            sizes = chunk_sizes(frames, chunk)
            assert sum(sizes) == frames and max(sizes) <= chunk and len(sizes) == -(-frames // chunk)
            assert max(sizes) - min(sizes) <= 1, (frames, chunk, sizes)
    assert chunk_sizes(10, 4) == [4, 3, 3] and chunk_sizes(7, 3) == [3, 2, 2]

    assert chunk_sizes(301, 300) == [151, 150]
    assert chunk_sizes(600, 300) == [300, 300]
    assert chunk_sizes(601, 300) == [201, 200, 200]
    assert chunk_sizes(299, 300) == [299] and chunk_sizes(5000, 0) == [5000]


def test_the_default_chunk_is_the_training_crop_recorded_in_the_student_file(tmp_path: Path) -> None:
    from dataclasses import replace

    from upstream_distilbert import AudioDistilBert, save_student

    from .conftest import tiny_config

    path = save_student(AudioDistilBert(replace(tiny_config(), sequence_length=40)), tmp_path / "s.ckpt")
    assert UpstreamExpert(str(path)).chunk_length == 40
    whole = tmp_path / "whole.yaml"
    whole.write_text("max_input_length: 0\n")
    assert UpstreamExpert(str(path), model_config=str(whole)).chunk_length == 0
    state = torch.load(path, weights_only=True)
    del state["config"]["sequence_length"]  # a file written before the crop was recorded
    torch.save(state, tmp_path / "old.ckpt")
    assert UpstreamExpert(str(tmp_path / "old.ckpt")).chunk_length == 3000
    state["config"]["sequence_length"] = -5
    torch.save(state, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match=r"bad.ckpt: config.sequence_length: expected an integer in 0..1000000"):
        UpstreamExpert(str(tmp_path / "bad.ckpt"))


def test_expert_options_file_errors_name_the_key(student_ckpt: Path, tmp_path: Path) -> None:
    options = tmp_path / "expert.yaml"
    options.write_text("max_input_lenght: 50\n")
    with pytest.raises(ValueError, match="max_input_lenght"):
        UpstreamExpert(str(student_ckpt), model_config=str(options))


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_lower_precisions_keep_float32_outputs_close_to_fp32(precision: str, student_ckpt: Path, tmp_path: Path) -> None:
    """`precision:` in the options yaml: float32 hidden states of the same shape, per frame close to fp32's."""
    from upstream_distilbert.precision import bf16_supported

    options = tmp_path / "expert.yaml"
    options.write_text(f"precision: {precision}\n")
    low = UpstreamExpert(str(student_ckpt), model_config=str(options)).eval()
    full = UpstreamExpert(str(student_ckpt)).eval()
    waves = [0.1 * torch.randn(20000), 0.1 * torch.randn(12000)]
    if precision == "bf16" and not bf16_supported(torch.device("cpu")):
        with pytest.raises(RuntimeError, match="precision bf16: this cpu has no bf16 support"):
            low(waves)
        return
    dtypes = []  # what the linear layers computed in: bf16 must really run in bf16, not stay fp32 silently
    linear = next(m for m in low.model.encoder.modules() if isinstance(m, torch.nn.Linear))
    hook = linear.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    with torch.no_grad():
        got, expected = low(waves)["hidden_states"], full(waves)["hidden_states"]
    hook.remove()
    # bf16: autocast over our own modules; int8: a quantized copy runs, so our fp32 linear layer never does
    assert dtypes == ([torch.bfloat16] * len(dtypes) if precision == "bf16" else []) and (dtypes or precision == "int8")
    for a, b in zip(got, expected):
        assert a.dtype == torch.float32 and a.shape == b.shape
        cosine = torch.nn.functional.cosine_similarity(a[0], b[0], dim=-1).min().item()
        assert cosine > 0.99, f"{precision}: per-frame cosine to fp32 down to {cosine}"
    assert not torch.equal(got[-1], expected[-1])  # a lower precision that changed nothing did not run
    options.write_text("precision: fp16\n")
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16', 'int8'\], got 'fp16'"):
        UpstreamExpert(str(student_ckpt), model_config=str(options))


def test_int8_output_of_an_utterance_does_not_depend_on_its_batch_mates(student_ckpt: Path) -> None:
    """Dynamic int8 quantizes activations with one scale per call: run batched, an utterance's int8 hidden states
    would shift with a louder or longer batch-mate (and its padding). The int8 encoder runs each utterance on its
    own, so batched and alone agree to the last bit of float error."""
    expert = UpstreamExpert(str(student_ckpt), options=ExpertOptions(precision="int8")).eval()
    torch.manual_seed(0)
    quiet, loud = 0.01 * torch.randn(12000), torch.rand(30000) - 0.5
    with torch.no_grad():
        batch, alone = expert([quiet, loud])["hidden_states"], expert([quiet])["hidden_states"]
    for layer, (hidden, single) in enumerate(zip(batch, alone)):
        torch.testing.assert_close(hidden[0, : single.shape[1]], single[0], atol=1e-5, rtol=0,
                                   msg=lambda m, layer=layer: f"hidden state {layer}: {m}")
        assert hidden[0, single.shape[1]:].abs().sum() == 0  # its padded frames stay zero


def test_expert_options_from_python_are_checked_like_the_yaml(student_ckpt: Path, tmp_path: Path) -> None:
    """`options=` is the Python twin of s3prl's `-g` yaml: the same checks, and only one of the two at a time."""
    expert = UpstreamExpert(str(student_ckpt), options=ExpertOptions(precision="int8", max_input_length=0))
    assert expert.options.precision == "int8" and expert.chunk_length == 0
    with pytest.raises(ValueError, match="max_input_length must be >= 0 .* got -2"):
        ExpertOptions(max_input_length=-2)
    options = tmp_path / "expert.yaml"
    options.write_text("max_input_length: -2\n")
    with pytest.raises(ValueError, match=f"{options}: max_input_length must be >= 0"):
        UpstreamExpert(str(student_ckpt), model_config=str(options))
    with pytest.raises(ValueError, match="give the expert options one way, not both"):
        UpstreamExpert(str(student_ckpt), model_config=str(options), options=ExpertOptions())
