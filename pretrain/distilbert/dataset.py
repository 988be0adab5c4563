"""Training batches from s3prl's length CSVs: buckets of similar length, features, random crops and masks.

Each waveform is first augmented (when `augmentation:` is on, with the bucket's generator). Features (with CMVN)
are computed over the whole utterance and then cropped, as s3prl's Mockingjay does and as the
expert computes them in use; the waveform crop that spans the same frames goes to the teacher.

A length CSV (`<file_path>/<set>.csv`, file_path relative to the working directory, columns `file_path,length`, lengths in samples) lists the audio under
`libri_root`; rows sorted longest first are cut into buckets of `train_batch_size`, as s3prl's mockingjay does.
The sampler visits the buckets in a fresh seeded order each epoch and can start from any position, and each
bucket's crops and masks are drawn from a generator seeded by (seed, epoch, bucket), so a resumed run sees
exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from upstream_distilbert.audio_files import AudioProblems, audio_file_samples
from upstream_distilbert.errors import InputError, MissingError
from upstream_distilbert.features import FbankExtractor, check_wave, read_wave

from .augmentation import WaveAugmenter
from .config import AugmentationConfig, DataConfig, TaskConfig
from .masking import mask_frames


def read_length_csvs(data: DataConfig) -> list[tuple[str, int]]:
    """(audio path, samples) of every usable row, longest first; errors name the CSV and the column."""
    root = Path(data.libri_root)
    table_dir = Path(data.file_path)  # as in s3prl: relative to the working directory, not libri_root
    rows = []
    for name in data.sets:
        csv = table_dir / f"{name}.csv"
        if not csv.is_file():
            raise MissingError(f"{csv}: no length CSV for set '{name}' (datarc.file_path={data.file_path})")
        table = pd.read_csv(csv)
        missing = {"file_path", "length"} - set(table.columns)
        if missing:
            raise InputError(
                f"{csv}: missing column(s) {sorted(missing)}; expected s3prl's length CSV with columns "
                f"',file_path,length,label' (found {list(table.columns)})"
            )
        if not pd.api.types.is_integer_dtype(table["length"]):
            raise InputError(f"{csv}: column 'length' must hold integer sample counts")
        rows += [(str(root / p), int(n)) for p, n in zip(table["file_path"], table["length"])]
    if data.max_timestep > 0:  # as in s3prl: a positive value is a maximum, a negative one a minimum (frames)
        rows = [r for r in rows if r[1] <= data.max_timestep * 160]
    elif data.max_timestep < 0:
        rows = [r for r in rows if r[1] >= -data.max_timestep * 160]
    if not rows:
        raise InputError(f"{table_dir}: no utterances in sets {list(data.sets)} (max_timestep={data.max_timestep})")
    return sorted(rows, key=lambda r: -r[1])


def usable_rows(rows: list[tuple[str, int]], data: DataConfig, extractor: FbankExtractor) -> list[tuple[str, int]]:
    """The rows whose audio this front end can read (checked from the headers, before any training), so that one
    bad file cannot end a run mid-way. Problems stop the run with every one listed, or with
    `datarc.drop_bad_audio` are dropped and counted."""
    usable, problems = [], []
    for path, length in tqdm(rows, desc="checking audio", unit="file", mininterval=2):
        try:
            audio_file_samples(path, extractor.config.sample_rate, extractor.min_samples)
            usable.append((path, length))
        except ValueError as error:
            problems.append(str(error))
    if problems and not data.drop_bad_audio:
        raise AudioProblems(f"datarc (libri_root={data.libri_root}, sets={list(data.sets)}); fix or remove them, "
                            "or set pretrain_expert.datarc.drop_bad_audio: true to train without them", problems)
    if problems:
        print(f"[UpstreamPretrainExpert] - dropped {len(problems)} unusable audio file(s) of {len(rows)} "
              f"(datarc.drop_bad_audio), e.g. {problems[0]}")
    if not usable:
        raise InputError(f"datarc (libri_root={data.libri_root}): no usable audio in sets {list(data.sets)}")
    return usable


class BucketDataset(Dataset):
    """Index (epoch, bucket) -> one training batch as a dict of tensors (padded, with lengths)."""

    def __init__(self, data: DataConfig, task: TaskConfig, extractor: FbankExtractor,
                 augmentation: AugmentationConfig = AugmentationConfig()) -> None:
        rows = usable_rows(read_length_csvs(data), data, extractor)
        self.buckets = [rows[i : i + data.train_batch_size] for i in range(0, len(rows), data.train_batch_size)]
        self.data, self.task, self.extractor = data, task, extractor
        self.augment = (WaveAugmenter(augmentation, extractor.config.sample_rate, extractor.min_samples)
                        if augmentation.active else None)

    def __len__(self) -> int:
        return len(self.buckets)

    def _generator(self, epoch: int, bucket: int) -> torch.Generator:
        seed = int(np.random.SeedSequence([self.data.seed, epoch, bucket]).generate_state(1)[0])
        return torch.Generator().manual_seed(seed)

    def _crop(self, wave: Tensor, feats: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A random window of `sequence_length` frames (the whole utterance if shorter) and the samples those
        frames read (frame i reads samples [i * hop, i * hop + window))."""
        cfg = self.extractor.config
        length = self.task.sequence_length
        if length <= 0 or len(feats) <= length:
            return wave, feats
        start = int(torch.randint(0, len(feats) - length + 1, (1,), generator=generator))
        samples = wave[start * cfg.hop_samples : (start + length - 1) * cfg.hop_samples + cfg.window_samples]
        return samples, feats[start : start + length]

    def __getitem__(self, index: tuple[int, int]) -> dict[str, Tensor]:
        epoch, bucket = index
        generator = self._generator(epoch, bucket)
        waves, features, masked, labels = [], [], [], []
        for path, _ in self.buckets[bucket]:
            wave = read_wave(path, self.extractor.config.sample_rate)
            check_wave(wave, path, self.extractor.min_samples)
            if self.augment is not None:
                wave = self.augment(wave, generator)
            wave, feats = self._crop(wave, self.extractor(wave), generator)
            m, lab = mask_frames(feats, self.task, generator)
            waves.append(wave), features.append(feats), masked.append(m), labels.append(lab)
        return {
            "waves": pad_sequence(waves, batch_first=True),
            "wave_lengths": torch.tensor([len(w) for w in waves]),
            "features": pad_sequence(features, batch_first=True),
            "masked": pad_sequence(masked, batch_first=True),
            "label": pad_sequence(labels, batch_first=True),
            "lengths": torch.tensor([len(f) for f in features]),
        }


class ResumableBucketSampler(Sampler):
    """Yields (epoch, bucket) from one seeded stream of buckets shared by all ranks.

    The stream visits every bucket once per epoch in a fresh order seeded by (seed, epoch). `position` counts the
    buckets the ranks have taken together; each step of `world_size` ranks takes the next `world_size` buckets,
    rank r the r-th of them. One process with `gradient_accumulate_steps = W` therefore sees exactly the batches
    of W ranks, and a checkpoint's position resumes the stream with any number of ranks. An iteration ends where
    the epoch ends, the same number of steps on every rank.
    """

    def __init__(self, num_buckets: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise InputError(f"rank {rank}: expected 0..{world_size - 1} for world size {world_size}")
        self.num_buckets, self.seed, self.position = num_buckets, seed, start
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        left = self.num_buckets - self.position % self.num_buckets
        return -(-left // self.world_size)

    def _order(self, epoch: int) -> list[int]:
        return torch.randperm(self.num_buckets, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.position // self.num_buckets
        orders: dict[int, list[int]] = {}
        while self.position // self.num_buckets == epoch:
            # this rank's bucket may fall in the next epoch when the step straddles its start
            which, offset = divmod(self.position + self.rank, self.num_buckets)
            if which not in orders:
                orders[which] = self._order(which)
            self.position += self.world_size
            yield which, orders[which][offset]
