"""s3prl's Mockingjay family (mockingjay, tera, audio_albert) as teachers and as files we convert."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from upstream_distilbert.checkpoint import CheckpointError
from upstream_distilbert.mockingjay_states import convert_states, from_mockingjay_states

from .conftest import REPO, cli, run, runner_config, tree_digest, write_yaml

FBANK = {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80}}, "delta": {"order": 0}, "cmvn": {"use_cmvn": True}}


def s3prl_states(seed: int = 0, **transformer: object) -> tuple[dict, torch.nn.Module, torch.nn.Module]:
    """A randomly initialised s3prl TransformerModel and SpecHead (LayerNorms and biases randomised too, so that a
    misplaced weight shows) in the layout of a `run_pretrain.py -u mockingjay` checkpoint."""
    from s3prl.upstream.mockingjay.model import TransformerConfig, TransformerModel, TransformerSpecPredictionHead

    shape = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 64,
             "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
             "initializer_range": 0.02, "layer_norm_eps": 1e-12, "share_layer": False, "pre_layer_norm": False,
             "input_dim": -1} | transformer
    torch.manual_seed(seed)
    config = TransformerConfig(shape)
    encoder, head = TransformerModel(config, 80).eval(), TransformerSpecPredictionHead(config, 80).eval()
    with torch.no_grad():
        for p in [*encoder.parameters(), *head.parameters()]:
            p.add_(0.1 * torch.randn_like(p))
    states = {"Transformer": encoder.state_dict(), "SpecHead": head.state_dict(),
              "Upstream_Config": {"transformer": shape, "task": {"sequence_length": 300}, "audio": FBANK}}
    return states, encoder, head


@pytest.mark.parametrize("shape", [{}, {"pre_layer_norm": True}, {"share_layer": True},
                                   {"share_layer": True, "pre_layer_norm": True}],
                         ids=["post-LN", "pre-LN", "shared", "shared-pre-LN"])
def test_our_encoder_gives_s3prl_mockingjay_hidden_states(shape: dict) -> None:
    """Weights copied from s3prl's TransformerModel through the name map: the same hidden states (within 1e-5) on
    a padded batch, and the same reconstruction from the SpecHead."""
    from s3prl.upstream.mockingjay.builder import position_encoding

    states, encoder, head = s3prl_states(**shape)
    ours = from_mockingjay_states(states, "test states")
    features = torch.randn(2, 120, 80)
    lengths = torch.tensor([120, 90])
    features[1, 90:] = 0
    mask = (torch.arange(120)[None] < lengths[:, None]).float()
    with torch.no_grad():
        theirs = encoder(features, position_encoding(120, 32).expand(2, -1, -1), mask)
        mine, reconstruction = ours(features, lengths)
    assert len(mine) == len(theirs) == 4
    for layer, (a, b) in enumerate(zip(mine, theirs)):
        for utt, n in enumerate(lengths.tolist()):
            diff = (a[utt, :n] - b[utt, :n]).abs().max().item()
            assert diff < 1e-5, f"hidden state {layer} of utterance {utt}: max abs difference {diff}"
    expected, _ = head(theirs[-1])
    assert (reconstruction - expected).abs().max().item() < 1e-5
    assert ours.config.sequence_length == 300


def test_legacy_layout_and_tensorflow_names_convert() -> None:
    """Legacy files keep the upstream config under 'Config' and may name LayerNorm weights gamma/beta."""
    states, _, _ = s3prl_states()
    legacy = {"Transformer": {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                              for k, v in states["Transformer"].items()},
              "SpecHead": states["SpecHead"], "Config": states["Upstream_Config"]}
    a, b = from_mockingjay_states(states, "new"), from_mockingjay_states(legacy, "legacy")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_checkpoints_on_preprocessor_features_are_refused_by_name() -> None:
    states, _, _ = s3prl_states()
    states["Upstream_Config"]["audio"] = {"target_level": -25, "input": {"feat_type": "mel", "log": True}}
    with pytest.raises(CheckpointError, match=r"released.ckpt: its input is not kaldi fbank .*feat_type: 'mel'"):
        from_mockingjay_states(states, "released.ckpt")


def test_a_file_without_feature_settings_takes_them_from_the_user(tmp_path: Path) -> None:
    """Released files that record no `audio:` (s3prl hands them an on-the-fly config): without one the error says
    what is missing; with `convert --audio-config` they convert."""
    from upstream_distilbert.checkpoint import atomic_save, load_student

    states, _, _ = s3prl_states()
    del states["Upstream_Config"]["audio"]
    source = atomic_save(states, tmp_path / "states-9.ckpt")
    with pytest.raises(CheckpointError, match="its input is not kaldi fbank"):
        from_mockingjay_states(states, "bare.ckpt")
    audio = write_yaml(tmp_path / "audio.yaml", {"audio": {**FBANK, "cmvn": {"use_cmvn": False}}})
    run([*cli(), "convert", str(source), "-o", str(tmp_path / "t.ckpt"), "--audio-config", str(audio)])
    assert load_student(tmp_path / "t.ckpt").config.audio.use_cmvn is False


def test_a_weight_without_counterpart_is_named() -> None:
    states, _, _ = s3prl_states()
    states["Transformer"]["encoder.layer.0.attention.self.rotary.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="'encoder.layer.0.attention.self.rotary.weight' has no counterpart"):
        from_mockingjay_states(states, "odd.ckpt")


FAMILIES = ("mockingjay", "tera", "audio_albert")
# One layer of the small teachers' width; it leaves out `audio:` (so it takes the teacher's) and learns by the
# original implementation's 5:2 loss.
ORIGINAL_LOSS_STUDENT = {
    "transformer": {"hidden_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 512},
    "task": {"sequence_length": 150},
    "distillation": {"reconstruction_weight": 2.0, "prediction_weight": 5.0},
}


@pytest.fixture(scope="module")
def family_states(corpus: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A checkpoint of each family from s3prl's literal `python run_pretrain.py -u <family>` (run in s3prl's
    package folder, as its README says) with our small configs, after 2 steps."""
    from downstream_hooks.registration import s3prl_dir

    work = tmp_path_factory.mktemp("families")
    runner = runner_config(work, corpus, 4, 2)
    states = {}
    for family in FAMILIES:
        run([sys.executable, "run_pretrain.py", "-u", family, "-g", str(REPO / "configs" / "pretrain" / f"small_{family}_teacher.yaml"),
             "-c", str(runner), "-n", family, "-p", str(work / family), "--device", "cpu"], cwd=s3prl_dir())
        states[family] = work / family / "states-2.ckpt"
        assert states[family].is_file()
    return states


@pytest.mark.parametrize("family", FAMILIES)
def test_convert_gives_the_hidden_states_of_s3prls_expert(family: str, family_states: dict, tmp_path: Path) -> None:
    """`audio-distilbert convert` writes a weights-only file; distilbert_local on it gives the hidden states that
    s3prl's own `<family>_local` gives on the original checkpoint (features included)."""
    import s3prl.hub

    from upstream_distilbert import hubconf
    from upstream_distilbert.checkpoint import read_checkpoint
    from upstream_distilbert.s3prl_states import s3prl_checkpoints_allowed

    out = tmp_path / f"{family}.ckpt"
    if family == "tera":  # the command once; the same function in-process for the others
        assert f"wrote {out}" in run([*cli(), "convert", str(family_states[family]), "-o", str(out)]).stdout
    else:
        convert_states(family_states[family], out)
    assert read_checkpoint(out)["format"] == "audio-distilbert-student"  # weights_only=True, nothing allowed
    with s3prl_checkpoints_allowed():
        theirs = getattr(s3prl.hub, f"{family}_local")(ckpt=str(family_states[family])).eval()
    ours = hubconf.distilbert_local(ckpt=str(out)).eval()
    torch.manual_seed(0)
    waves = [0.1 * torch.randn(24000), 0.1 * torch.randn(16000)]
    with torch.no_grad():
        a, b = theirs(waves)["hidden_states"], ours(waves)["hidden_states"]
    assert len(a) == len(b) == 4
    for layer, (x, y) in enumerate(zip(a, b)):
        diff = (x[1, :98] - y[1, :98]).abs().max().item()  # the real frames of the shorter utterance (1 s: 98)
        assert diff < 1e-4, f"{family} hidden state {layer}: max abs difference {diff}"
        assert (x[0] - y[0]).abs().max().item() < 1e-4


def test_literal_distillation_from_each_family_with_the_original_loss(corpus: dict, family_states: dict, tmp_path: Path,
                                                                   private_s3prl: Path) -> None:
    """Each family's checkpoint is the teacher of s3prl's literal `run_pretrain.py -u distilbert` with the original implementation's
    5:2 loss and init_student; the student takes the teacher's features, exports (recording its crop and the
    states' weights); one student (their files differ only in weights) trains through the literal
    `run_downstream.py -u distilbert_local`; uninstalling leaves s3prl's folder byte for byte as it was. (All in a
    private copy of s3prl.)"""
    from distilbert_cli.main import main
    from upstream_distilbert.s3prl_states import read_states

    root = private_s3prl
    before = tree_digest(root)
    runner = runner_config(tmp_path, corpus, 2, 1)
    assert "`run_pretrain.py -u distilbert` (s3prl/pretrain/distilbert/): installed" in run(
        [*cli(), "s3prl", "install"]).stdout
    try:
        for family in FAMILIES:
            config = {**ORIGINAL_LOSS_STUDENT, "teacher": {"expert": f"{family}_local", "ckpt": str(family_states[family]),
                                                       "init_student": True}}
            model = write_yaml(tmp_path / f"{family}.yaml", config)
            out = run([sys.executable, "run_pretrain.py", "-u", "distilbert", "-g", str(model), "-c", str(runner),
                       "-n", family, "-p", str(tmp_path / family), "--device", "cpu"], cwd=root).stdout
            assert "audio: the teacher's fbank settings" in out
            assert "init_student: encoder.embedding <- encoder.embedding (4 of 4 tensors)" in out
            student = tmp_path / f"{family}-student.ckpt"
            assert main(["export", str(tmp_path / family / "states-2.ckpt"), "-o", str(student)]) == 0
            saved = torch.load(student, weights_only=True)
            assert saved["format"] == "audio-distilbert-student" and saved["config"]["sequence_length"] == 150
            assert torch.equal(saved["state_dict"]["encoder.embedding.spec_transform.weight"],
                               read_states(tmp_path / family / "states-2.ckpt")["Student"]["encoder.embedding.spec_transform.weight"])
        run([sys.executable, "run_downstream.py", "-m", "train", "-u", "distilbert_local", "-k", str(student),
             "-d", "example", "-c", str(REPO / "configs" / "downstream" / "example.yaml"), "--device", "cpu",
             "-p", str(tmp_path / "down"), "-o", "config.runner.total_steps=2,,config.runner.log_step=1,,"
             "config.runner.eval_step=1000,,config.runner.save_step=2"], cwd=root)
        assert (tmp_path / "down" / "states-2.ckpt").is_file()
    finally:
        run([*cli(), "s3prl", "uninstall"])
    assert tree_digest(root) == before


@pytest.mark.parametrize("family", FAMILIES)
def test_prediction_loss_falls_on_a_fixed_batch(family: str, corpus: dict, family_states: dict) -> None:
    """The teacher's reconstruction of the student's masked input is a target the student can learn."""
    from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert

    config = {**ORIGINAL_LOSS_STUDENT, "teacher": {"expert": f"{family}_local", "ckpt": str(family_states[family])}}
    expert = UpstreamPretrainExpert(corpus, config, device="cpu")
    assert expert.teacher.reads_student_features and not expert.teacher.model.training
    batch = next(iter(expert.get_train_dataloader()))
    optimizer = torch.optim.Adam(expert.model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss, records = expert(batch, global_step=1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(records["prediction"][-1])
    assert losses[-1] < 0.7 * losses[0], losses


def test_student_features_that_differ_from_the_teachers_fail_at_start(corpus: dict, family_states: dict) -> None:
    from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert

    config = {**ORIGINAL_LOSS_STUDENT, "audio": {**FBANK, "delta": {"order": 2}},
              "teacher": {"expert": "tera_local", "ckpt": str(family_states["tera"])}}
    with pytest.raises(ValueError, match=r"predicts other features than the student reads: delta_order: teacher 0, "
                                         r"student 2\. Leave out the student's audio"):
        UpstreamPretrainExpert(corpus, config, device="cpu")
