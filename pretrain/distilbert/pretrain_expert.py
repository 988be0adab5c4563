"""`UpstreamPretrainExpert`: what s3prl's `run_pretrain.py -u distilbert` builds and trains.

The runner optimizes `self.model` (the student and its distillation heads), calls `forward` per batch (several
times per step with gradient accumulation), saves what `add_state_to_save` returns in `states-N.ckpt` and gives
it back to `load_model` on resume (`-e`). Under torchrun, `distribute` makes this process one DDP rank.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from upstream_distilbert.checkpoint import load_weights
from upstream_distilbert.config import TransformerConfig
from upstream_distilbert.errors import InputError
from upstream_distilbert.features import FbankExtractor
from upstream_distilbert.model import AudioDistilBert

from .config import DataConfig, PretrainConfig
from .dataset import BucketDataset, ResumableBucketSampler
from .objectives import DistillationModel
from .teacher import Teacher


class UpstreamPretrainExpert(nn.Module):
    def __init__(self, datarc: dict, upstream_config: str | dict, device: str = "cuda", multi_gpu: bool = False,
                 **kwargs: Any) -> None:
        super().__init__()
        self.data = DataConfig.from_dict(datarc)
        config = PretrainConfig.load(upstream_config)
        self.device, self.multi_gpu = device, multi_gpu
        self.teacher = None
        if config.teacher:
            self.teacher = Teacher(config.teacher, config.model.audio if config.audio_given else None, device)
            if not config.audio_given:
                config = config.with_audio(self.teacher.audio)
                print(f"[UpstreamPretrainExpert] - audio: the teacher's fbank settings {config.model.audio.to_dict()}")
        self.config = config
        self.extractor = FbankExtractor(config.model.audio)
        self._check_teacher_fits()
        student = AudioDistilBert(self.config.model)
        if self.config.teacher and self.config.teacher.init_student:
            self._init_from_teacher(student)
        model = DistillationModel(student, self.config.distillation, self.teacher and self.teacher.hidden_size)
        self.model = nn.DataParallel(model) if multi_gpu else model
        self.position = 0  # buckets all ranks have consumed: where the data stream resumes
        self.step = 0  # the runner's global step of the latest forward: optimizer steps done at save time
        self.rank, self.world_size, self.accumulate = 0, 1, 1
        self.forwards = 0  # forward calls by this process, to find the last micro-batch of each step
        print(f"[UpstreamPretrainExpert] - student: {student.num_parameters():,} encoder parameters; "
              f"teacher: {self.config.teacher.expert if self.config.teacher else 'none (plain MAM)'}")

    @property
    def distillation_model(self) -> DistillationModel:
        return self.model.module if isinstance(self.model, (nn.DataParallel, DistributedDataParallel)) else self.model

    def distribute(self, rank: int, world_size: int, gradient_accumulate_steps: int, seed: int) -> None:
        """Train as rank `rank` of `world_size` (the process group is up): DDP over the model, this rank's share
        of the bucket stream, and gradients all-reduced only on the last micro-batch of each accumulation window."""
        if self.multi_gpu:
            raise InputError("--multi_gpu (DataParallel in one process) cannot be combined with torchrun (one DDP "
                             "rank per process); drop --multi_gpu and start one process per GPU")
        model = self.distillation_model
        device_ids = [torch.cuda.current_device()] if str(self.device).startswith("cuda") else None
        self.model = DistributedDataParallel(model, device_ids=device_ids,
                                             find_unused_parameters=not model.trains_prediction_head)
        self.rank, self.world_size, self.accumulate = rank, world_size, gradient_accumulate_steps
        # s3prl seeds every process alike; give each rank its own dropout draws, reproducibly from the position.
        torch.manual_seed(int(np.random.SeedSequence([seed, rank, self.position]).generate_state(1)[0]))

    def _check_teacher_fits(self) -> None:
        cfg, teacher = self.config.distillation, self.teacher
        if teacher is None:
            return
        if cfg.prediction_weight and teacher.model is None:
            raise InputError(
                f"distillation.prediction_weight: teacher {teacher.expert} has no reconstruction head on fbank "
                f"({teacher.no_model_because}); set prediction_weight: 0 and use hidden-state distillation"
            )
        if cfg.prediction_weight and teacher.model.config.audio != self.config.model.audio:
            theirs, ours = teacher.model.config.audio, self.config.model.audio
            differ = [f.name for f in dataclasses.fields(ours) if getattr(theirs, f.name) != getattr(ours, f.name)]
            raise InputError(
                f"distillation.prediction_weight: teacher {teacher.expert} ({self.config.teacher.ckpt}) predicts "
                f"other features than the student reads: "
                + "; ".join(f"{k}: teacher {getattr(theirs, k)}, student {getattr(ours, k)}" for k in differ)
                + ". Leave out the student's audio: to take the teacher's settings, or make them equal"
            )
        bad = [t for t in cfg.teacher_layers if not -teacher.num_layers <= t < teacher.num_layers]
        if bad:
            raise InputError(f"distillation.teacher_layers: {bad} out of range; the teacher has {teacher.num_layers}")
        layers = self.config.model.transformer.num_hidden_layers + 1
        bad = [s for s in cfg.student_layers if not -layers <= s < layers]
        if bad:
            raise InputError(f"distillation.student_layers: {bad} out of range; the student has {layers}")

    def _init_from_teacher(self, student: AudioDistilBert) -> None:
        if self.teacher is None or self.teacher.model is None:
            raise InputError(f"teacher.init_student: teacher {self.config.teacher.expert} has no fbank model to copy "
                             f"from ({self.teacher.no_model_because if self.teacher else 'no teacher'})")
        theirs, ours = self.teacher.model.state_dict(), student.state_dict()
        copied, skipped, report = {}, [], []
        for mine, source in teacher_init_map(student.config.transformer, self.teacher.model.config.transformer).items():
            keys = [k for k in ours if k.startswith(mine + ".")]
            for key in keys:
                other = source + key[len(mine):]
                if other in theirs and theirs[other].shape == ours[key].shape:
                    copied[key] = theirs[other]
                else:
                    skipped.append(key)
            report.append(f"{mine} <- {source} ({sum(k in copied for k in keys)} of {len(keys)} tensors)")
        student.load_state_dict(copied, strict=False)
        print(f"[UpstreamPretrainExpert] - init_student: {'; '.join(report)}"
              + (f"; not copied (shapes differ): {', '.join(skipped)}" if skipped else ""))

    # --- the runner's interface -------------------------------------------------------------------------
    def get_train_dataloader(self) -> DataLoader:
        dataset = BucketDataset(self.data, self.config.task, self.extractor, self.config.augmentation)
        sampler = ResumableBucketSampler(len(dataset), self.data.seed, self.position, self.rank, self.world_size)
        return DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=self.data.num_workers,
                          generator=torch.Generator().manual_seed(self.data.seed))

    def forward(self, data: dict[str, Tensor], records: dict | None = None, global_step: int = 0,
                log_step: int = 1000, **kwargs: Any) -> tuple[Tensor, dict]:
        records = defaultdict(list) if records is None else records
        self.position += self.world_size
        self.step = global_step
        self.forwards += 1
        batch = {k: v.to(self.device) for k, v in data.items()}
        extra = {}
        if self.teacher is not None:
            cfg = self.config.distillation
            if cfg.prediction_weight:
                extra["teacher_prediction"] = self.teacher.reconstruct(batch["masked"], batch["lengths"])
            if cfg.hidden_weight:
                waves = [w[:n] for w, n in zip(batch["waves"], batch["wave_lengths"])]
                extra["teacher_hidden"] = self.teacher.hidden_states(waves, batch["features"], batch["lengths"])
        # DDP decides at forward time whether this backward all-reduces; only the window's last one needs to.
        last_of_window = self.forwards % self.accumulate == 0
        skip_sync = isinstance(self.model, DistributedDataParallel) and not last_of_window
        with self.model.no_sync() if skip_sync else nullcontext():
            losses = self.model(batch["masked"], batch["lengths"], batch["features"], batch["label"], **extra)
        losses = {k: v.mean() for k, v in losses.items()}  # DataParallel returns one value per device
        total = self.distillation_model.total(losses)
        for name, value in losses.items():
            records[name].append(value.item())
        return total, records

    def on_before_zero_grad(self) -> None:
        pass

    def log_records(self, records: dict, logger: Any, prefix: str, global_step: int, **kwargs: Any) -> None:
        """Each objective's mean since the last log, over all ranks (every rank calls this at the same step)."""
        names = sorted(records)
        means = torch.tensor([sum(records[n]) / len(records[n]) for n in names], dtype=torch.float64)
        if self.world_size > 1:
            means = means.to(self.device)
            dist.all_reduce(means)
            means = means.cpu() / self.world_size
        for name, value in zip(names, means.tolist()):
            logger.add_scalar(f"{prefix}{name}", value, global_step=global_step)

    def add_state_to_save(self, all_states: dict) -> dict:
        model = self.distillation_model
        all_states.update(
            Student=model.student.state_dict(),
            Heads=model.heads.state_dict(),
            Upstream_Config=self.config.raw,
            Data_Position=self.position,
            Rng_State=torch.get_rng_state(),
            Teacher_Digest=self.teacher.digest if self.teacher else None,
        )
        # s3prl's runner records `Step` one short (it counts the step it is saving as not yet done), so a resume
        # would repeat that step; record the optimizer steps actually taken.
        all_states["Step"] = self.step
        return all_states

    def load_model(self, init_ckpt: dict) -> None:
        recorded = init_ckpt.get("Teacher_Digest")
        if self.teacher is not None and recorded and recorded != self.teacher.digest:
            raise InputError(
                f"resume: teacher.ckpt {self.config.teacher.ckpt} has sha256 {self.teacher.digest}, but this run was "
                f"distilled from a teacher with sha256 {recorded}; put that teacher back, or start a new run (-n) "
                "to distil from this one"
            )
        model = self.distillation_model
        load_weights(model.student, init_ckpt["Student"], "resume checkpoint 'Student'")
        model.heads.load_state_dict(init_ckpt["Heads"])
        self.position = int(init_ckpt["Data_Position"])
        self.step = int(init_ckpt["Step"])
        torch.set_rng_state(init_ckpt["Rng_State"])


def teacher_init_map(student: TransformerConfig, teacher: TransformerConfig) -> dict[str, str]:
    """`init_student`'s name map, student module -> teacher module: the input embedding, the first layers (as
    many as both have), and the reconstruction head. The rest of the student keeps its fresh initialisation."""
    layers = min(1 if student.share_layer else student.num_hidden_layers,
                 1 if teacher.share_layer else teacher.num_hidden_layers)
    return {"encoder.embedding": "encoder.embedding", **{f"encoder.layers.{i}": f"encoder.layers.{i}" for i in range(layers)},
            "spec_head": "spec_head"}
