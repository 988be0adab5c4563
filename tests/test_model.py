"""The transformer itself: padded batches, layer norms, sharing, head pruning, config errors."""
from __future__ import annotations

import pytest
import torch

from upstream_distilbert import AudioDistilBert, ConfigError, ModelConfig, TransformerConfig
from upstream_distilbert.config import AudioConfig

from .conftest import tiny_config


def _padded_vs_alone(model: AudioDistilBert) -> float:
    """Largest difference between utterances run in one padded batch and each run alone."""
    torch.manual_seed(1)
    lengths = [37, 80, 5]
    feats = [torch.randn(n, 80) for n in lengths]
    batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    with torch.no_grad():
        together, recon = model(batch, torch.tensor(lengths))
        worst = 0.0
        for i, f in enumerate(feats):
            alone, recon_alone = model(f[None], torch.tensor([len(f)]))
            for a, b in zip(together, alone):
                worst = max(worst, (a[i, : len(f)] - b[0]).abs().max().item())
            worst = max(worst, (recon[i, : len(f)] - recon_alone[0]).abs().max().item())
    return worst


@pytest.mark.parametrize(
    "shape",
    [{}, {"pre_layer_norm": True}, {"share_layer": True, "num_hidden_layers": 3}, {"hidden_act": "relu"}],
    ids=["post-ln", "pre-ln", "shared", "relu"],
)
def test_padded_batch_equals_each_utterance_alone(shape: dict) -> None:
    model = AudioDistilBert(tiny_config(**shape)).eval()
    assert _padded_vs_alone(model) < 1e-5


def test_hidden_states_are_embedding_plus_every_layer() -> None:
    model = AudioDistilBert(tiny_config(num_hidden_layers=3)).eval()
    hidden, recon = model(torch.randn(2, 10, 80))
    assert len(hidden) == 4
    assert all(h.shape == (2, 10, 32) for h in hidden)
    assert recon.shape == (2, 10, 80)


def test_shared_layer_has_one_layer_of_weights() -> None:
    shared = AudioDistilBert(tiny_config(share_layer=True, num_hidden_layers=4))
    single = AudioDistilBert(tiny_config(num_hidden_layers=1))
    assert shared.num_parameters() == single.num_parameters()
    assert len(shared.encoder(torch.randn(1, 6, 80))) == 5


def test_gradient_checkpointing_gives_the_same_outputs_and_gradients() -> None:
    """Recomputing attention in the backward pass changes memory, not results: with dropout on, the recomputation
    draws the same dropout as the forward pass (the gradients would differ if it drew new ones)."""
    outputs, grads = [], []
    for recompute in (False, True):
        torch.manual_seed(0)
        model = AudioDistilBert(tiny_config(gradient_checkpointing=recompute, attention_probs_dropout_prob=0.5))
        features = torch.randn(2, 40, 80)
        hidden, recon = model.train()(features, torch.tensor([40, 25]))
        (recon.abs().mean() + hidden[-1].pow(2).mean()).backward()
        outputs.append(recon.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(outputs[0], outputs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_pruning_heads_equals_silencing_them() -> None:
    """Pruned heads contribute nothing: the pruned model matches the full one with those heads' output
    columns zeroed."""
    torch.manual_seed(0)
    model = AudioDistilBert(tiny_config()).eval()
    x = torch.randn(2, 12, 80)
    silenced = AudioDistilBert(model.config).eval()
    silenced.load_state_dict(model.state_dict())
    head_dim = model.config.transformer.head_dim
    with torch.no_grad():
        for layer, heads in {0: [1, 3], 1: [0]}.items():
            for h in heads:
                silenced.encoder.layers[layer].attention.out.weight[:, h * head_dim : (h + 1) * head_dim] = 0
        model.prune_heads({0: [1, 3], 1: [0]})
        expected, _ = silenced(x)
        got, _ = model(x)
    assert model.config.transformer.pruned_heads == {0: (1, 3), 1: (0,)}
    assert model.encoder.layers[0].attention.num_heads == 2
    torch.testing.assert_close(got[-1], expected[-1], atol=1e-5, rtol=0)
    # Pruning again in original numbering composes with the first pruning.
    with torch.no_grad():
        silenced.encoder.layers[0].attention.out.weight[:, 2 * head_dim : 3 * head_dim] = 0
        model.prune_heads({0: [2]})
        torch.testing.assert_close(model(x)[0][-1], silenced(x)[0][-1], atol=1e-5, rtol=0)
    assert model.config.transformer.heads_kept(0) == [0]


def test_pruned_model_rebuilds_from_its_config() -> None:
    model = AudioDistilBert(tiny_config())
    model.prune_heads({1: [2]})
    rebuilt = AudioDistilBert(ModelConfig.from_dict(model.config.to_dict()))
    rebuilt.load_state_dict(model.state_dict())


@pytest.mark.parametrize(
    "data, key",
    [
        ({"hidden_sise": 32}, "hidden_sise"),
        ({"hidden_size": 30, "num_attention_heads": 4}, "hidden_size"),
        ({"hidden_act": "mish"}, "hidden_act"),
        ({"num_hidden_layers": "three"}, "num_hidden_layers"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
        ({"pruned_heads": {0: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}}, "pruned_heads"),
    ],
)
def test_config_errors_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        TransformerConfig.from_dict(data)


def test_audio_config_reads_s3prl_extracter_layout() -> None:
    cfg = AudioConfig.from_dict(
        {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 40}}, "delta": {"order": 2}, "cmvn": {"use_cmvn": True}}
    )
    assert cfg.feature_dim == 120 and cfg.hop_samples == 160
    assert AudioConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="feat_type"):
        AudioConfig.from_dict({"kaldi": {"feat_type": "mfcc"}})
