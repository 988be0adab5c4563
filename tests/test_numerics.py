"""The numerics under the losses: masking statistics, each objective against values worked out by hand, the loss
scale, and our fbank front end against s3prl's own extracter on real corpus audio."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from distilbert_pretrain.config import DistillationConfig, TaskConfig
from distilbert_pretrain.masking import mask_frames
from distilbert_pretrain.objectives import DistillationModel, masked_l1
from upstream_distilbert import AudioDistilBert
from upstream_distilbert.config import AudioConfig
from upstream_distilbert.features import FbankExtractor, read_wave

from .conftest import tiny_config

FRAMES, BINS = 300, 80


def _draws(task: TaskConfig, count: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(features, masked, label) for `count` utterances of positive features (so a zeroed frame is unmistakable)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        features = torch.rand(FRAMES, BINS, generator=generator) + 1.0
        masked, label = mask_frames(features, task, generator)
        out.append((features, masked, label))
    return out


def _runs(row_mask: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D boolean tensor."""
    runs, current = [], 0
    for value in row_mask.tolist() + [False]:
        if value:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def test_non_overlapping_spans_have_the_exact_length_and_count() -> None:
    task = TaskConfig(mask_allow_overlap=False, mask_frequency=0.0, noise_proportion=0.0)
    expected_spans = round(FRAMES * task.mask_proportion / 7)  # 6 spans of 7 frames
    for _, _, label in _draws(task, 200):
        rows = label.any(dim=1)
        assert bool((label == rows[:, None]).all())  # whole frames, every bin
        assert _runs(rows) == [7] * expected_spans


def test_overlapping_spans_cover_about_the_proportion_and_come_in_sevens() -> None:
    task = TaskConfig(mask_frequency=0.0, noise_proportion=0.0)
    draws = _draws(task, 500)
    covered = torch.stack([label.any(dim=1) for _, _, label in draws]).float().mean().item()
    # 6 spans of 7 frames (42 of 300 frames) with distinct random starts: overlaps take a little off 0.14
    assert 0.125 < covered < 0.14, covered
    runs = [length for _, _, label in draws for length in _runs(label.any(dim=1))]
    assert min(runs) == 7 and max(runs) > 7  # spans of 7, merged where they overlap


def test_chosen_spans_are_zeroed_80_replaced_10_kept_10_percent() -> None:
    task = TaskConfig(mask_frequency=0.0, noise_proportion=0.0)
    outcome = {"zeroed": 0, "replaced": 0, "kept": 0}
    draws = _draws(task, 3000, seed=1)
    for features, masked, label in draws:
        rows = label.any(dim=1)
        chosen, original = masked[rows], features[rows]
        if bool((chosen == 0).all()):
            outcome["zeroed"] += 1
        elif torch.equal(chosen, original):
            outcome["kept"] += 1
        else:
            assert bool((chosen > 0).all())  # other frames of the same utterance
            outcome["replaced"] += 1
        assert torch.equal(masked[~rows], features[~rows])  # nothing else changes
    shares = {k: v / len(draws) for k, v in outcome.items()}
    assert abs(shares["zeroed"] - 0.8) < 0.03 and abs(shares["replaced"] - 0.1) < 0.02 and abs(shares["kept"] - 0.1) < 0.02, shares


def test_frequency_band_is_one_contiguous_band_of_up_to_a_fifth_of_the_bins() -> None:
    task = TaskConfig(mask_proportion=0.0, mask_frequency=0.2, noise_proportion=0.0)
    widths = []
    for features, masked, label in _draws(task, 1000, seed=2):
        band = label[0]
        assert bool((label == band[None, :]).all())  # the same bins on every frame
        widths.append(int(band.sum()))
        if widths[-1]:
            assert _runs(band) == [widths[-1]]
        assert bool((masked[:, band] == 0).all()) and torch.equal(masked[:, ~band], features[:, ~band])
    assert set(widths) == set(range(0, 17))  # uniform over 0..16 bins
    assert abs(sum(widths) / len(widths) - 8.0) < 0.5


def test_noise_is_added_to_the_given_share_of_utterances_with_std_0_2() -> None:
    task = TaskConfig(mask_proportion=0.0, mask_frequency=0.0, noise_proportion=0.3)
    noisy = [masked - features for features, masked, _ in _draws(task, 1000, seed=3)]
    hit = [d for d in noisy if bool(d.abs().max() > 0)]
    assert abs(len(hit) / len(noisy) - 0.3) < 0.045
    assert abs(torch.stack(hit).std().item() - 0.2) < 0.005


def test_masked_l1_is_the_mean_over_the_labelled_bins_only() -> None:
    prediction = torch.tensor([[[1.0, 2.0], [3.0, -4.0]]])
    target = torch.tensor([[[0.0, 100.0], [0.5, 0.0]]])
    label = torch.tensor([[[True, False], [False, True]]])
    assert masked_l1(prediction, target, label).item() == pytest.approx((1.0 + 4.0) / 2)
    assert masked_l1(prediction, target, torch.zeros_like(label)).item() == 0.0


def _model(config: DistillationConfig, teacher_width: int | None = None) -> DistillationModel:
    torch.manual_seed(0)
    return DistillationModel(AudioDistilBert(tiny_config()), config, teacher_width).eval()


def test_hidden_objective_against_hand_values_ignores_padded_frames() -> None:
    """Heads set to the identity and a teacher twice the student: L1 = mean |h| over real frames, and the cosine
    term -log sigmoid(1) = log(1 + 1/e), whatever the padded frames hold."""
    config = DistillationConfig(reconstruction_weight=0.0, prediction_weight=0.0, hidden_weight=1.0,
                                student_layers=(1,), teacher_layers=(0,))
    model = _model(config, teacher_width=32)
    with torch.no_grad():
        model.heads[0].weight.copy_(torch.eye(32))
        model.heads[0].bias.zero_()
        features = torch.randn(2, 10, 80)
        lengths = torch.tensor([10, 6])
        hidden, _ = model.student(features, lengths)
        teacher = 2 * hidden[1]
        teacher[1, 6:] = 1e6  # padding: must not count
        losses = model(features, lengths, features, torch.zeros_like(features, dtype=torch.bool),
                       teacher_hidden=[teacher])
    real = torch.cat([hidden[1][0], hidden[1][1, :6]])
    assert losses["hidden_l1"].item() == pytest.approx(real.abs().mean().item(), rel=1e-5)
    assert losses["hidden_cosine"].item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-5)


def test_reconstruction_and_prediction_objectives_against_hand_values() -> None:
    """From a known student prediction, true fbank and teacher prediction: reconstruction is the mean |student -
    true fbank| and prediction the mean |student - teacher| over the masked bins only. A prediction objective
    that regressed the true fbank (or reconstruction the teacher) would give the other's value and fail."""
    model = _model(DistillationConfig(reconstruction_weight=2.0, prediction_weight=5.0))
    torch.manual_seed(1)
    masked, lengths = torch.randn(2, 10, 80), torch.tensor([10, 7])
    label = torch.zeros(2, 10, 80, dtype=torch.bool)
    label[0, 2:5], label[1, 1:3, :40] = True, True
    with torch.no_grad():
        _, student = model.student(masked, lengths)
        truth = student + 0.5  # |student - truth| = 0.5 on every bin
        teacher = student - 2.0 * torch.sign(torch.randn_like(student))  # |student - teacher| = 2 on every bin
        teacher[~label] = 1e6  # unmasked bins must not count, for either objective
        truth[~label] = -1e6
        losses = model(masked, lengths, truth, label, teacher_prediction=teacher)
    assert losses["reconstruction"].item() == pytest.approx(0.5, rel=1e-5)
    assert losses["prediction"].item() == pytest.approx(2.0, rel=1e-5)
    assert model.total(losses).item() == pytest.approx((2 * 0.5 + 5 * 2.0) / 7, rel=1e-5)


def test_the_loss_is_the_weighted_mean_of_the_objectives() -> None:
    """The original implementation's (2 reconstruction + 5 prediction) / 7: the loss keeps one objective's scale, so gradient
    clipping means what the original implementation's setting means."""
    model = _model(DistillationConfig(reconstruction_weight=2.0, prediction_weight=5.0))
    assert model.total({"reconstruction": torch.tensor(1.0), "prediction": torch.tensor(8.0)}).item() == 6.0
    hidden = _model(DistillationConfig(reconstruction_weight=2.0, prediction_weight=0.0, hidden_weight=1.0,
                                       cosine_weight=3.0, student_layers=(1,), teacher_layers=(0,)), 32)
    losses = {"reconstruction": torch.tensor(1.0), "hidden_l1": torch.tensor(2.0), "hidden_cosine": torch.tensor(4.0)}
    assert hidden.total(losses).item() == pytest.approx((2 * 1 + 1 * 2 + 3 * 4) / 6)
    same = {name: torch.tensor(0.7) for name in losses}
    assert hidden.total(same).item() == pytest.approx(0.7)  # equal objectives: the loss is their value


@pytest.mark.parametrize("delta_order", [0, 2])
def test_fbank_matches_s3prls_own_extracter(corpus: dict, delta_order: int) -> None:
    from s3prl.upstream.baseline.extracter import get_extracter

    config = AudioConfig(delta_order=delta_order)
    settings = config.to_dict()
    settings.pop("sample_rate")
    theirs, dim, _ = get_extracter(settings)
    wave = read_wave(next(Path(corpus["libri_root"]).rglob("*.flac")), 16000)
    ours = FbankExtractor(config)(wave)
    with torch.no_grad():
        expected = theirs(wave)
    assert ours.shape == expected.shape == (FbankExtractor(config).num_frames(len(wave)), dim)
    assert dim == 80 * (delta_order + 1)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
