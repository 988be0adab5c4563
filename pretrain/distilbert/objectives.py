"""The trainable side of distillation and its losses, each returned separately so each can be logged.

- reconstruction: L1 between the student's predicted fbank and the true fbank on masked bins (MAM);
- prediction: L1 between the student's and the teacher's predictions on masked bins (Audio DistilBERT);
- hidden: chosen student layers, through linear prediction heads, regress chosen teacher layers with L1 and
  -log sigmoid(cosine similarity) on real frames (DistilHuBERT).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upstream_distilbert.model import AudioDistilBert

from .config import DistillationConfig


def masked_l1(prediction: Tensor, target: Tensor, label: Tensor) -> Tensor:
    """Mean absolute error over the bins where `label` is true (0 when none is)."""
    label = label.to(prediction.dtype)
    return ((prediction - target).abs() * label).sum() / label.sum().clamp(min=1)


class DistillationModel(nn.Module):
    """The student plus the heads of hidden-state distillation: all the weights the optimizer trains."""

    def __init__(self, student: AudioDistilBert, config: DistillationConfig, teacher_hidden_size: int | None) -> None:
        super().__init__()
        self.student, self.config = student, config
        width = student.config.transformer.hidden_size
        self.heads = nn.ModuleList(  # none without hidden-state distillation: DDP needs every weight to get a grad
            nn.Linear(width, teacher_hidden_size or width) for _ in (config.student_layers if config.hidden_weight else ())
        )

    @property
    def trains_prediction_head(self) -> bool:
        """Whether a loss reaches the student's reconstruction head (not so for hidden-state-only distillation)."""
        return bool(self.config.reconstruction_weight or self.config.prediction_weight)

    def forward(
        self,
        masked: Tensor,
        lengths: Tensor,
        features: Tensor,
        label: Tensor,
        teacher_prediction: Tensor | None = None,
        teacher_hidden: list[Tensor] | None = None,
    ) -> dict[str, Tensor]:
        cfg = self.config
        hidden, prediction = self.student(masked, lengths)
        losses = {}
        if cfg.reconstruction_weight:
            losses["reconstruction"] = masked_l1(prediction, features, label)
        if cfg.prediction_weight:
            losses["prediction"] = masked_l1(prediction, teacher_prediction, label)
        if cfg.hidden_weight:
            real = (torch.arange(masked.shape[1], device=lengths.device)[None] < lengths[:, None]).to(masked.dtype)
            l1 = cos = 0
            for head, s, t in zip(self.heads, cfg.student_layers, cfg.teacher_layers):
                guess, target = head(hidden[s]), teacher_hidden[t]
                l1 = l1 + ((guess - target).abs().mean(-1) * real).sum() / real.sum()
                cos = cos - (F.logsigmoid(F.cosine_similarity(guess, target, dim=-1)) * real).sum() / real.sum()
            losses["hidden_l1"] = l1 / len(self.heads)
            losses["hidden_cosine"] = cos / len(self.heads)
        return losses

    def total(self, losses: dict[str, Tensor]) -> Tensor:
        """The weighted mean that is trained on: weights normalised to sum to one, as the original implementation's
        `(2 * reconstruction + 5 * prediction) / 7`, so that the loss, and the gradient that `gradient_clipping`
        clips, keep the scale of a single objective whatever the weights."""
        cfg = self.config
        weights = {
            "reconstruction": cfg.reconstruction_weight,
            "prediction": cfg.prediction_weight,
            "hidden_l1": cfg.hidden_weight,
            "hidden_cosine": cfg.hidden_weight * cfg.cosine_weight,
        }
        return sum(weights[name] * value for name, value in losses.items()) / sum(weights[name] for name in losses)
