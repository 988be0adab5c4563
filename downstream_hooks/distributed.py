"""torchrun for `audio-distilbert pretrain`: each process is one DDP rank running s3prl's runner unchanged.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE (and the rendezvous address) in every process it starts. Here the
process group comes up from them (gloo on CPU, nccl on GPU, one GPU per local rank), the pretraining expert is
wrapped in DistributedDataParallel right after the runner builds it, and everything the runner writes to the
experiment folder (checkpoints and pruning old ones, TensorBoard, copies of the configs, progress bars) is left to
rank 0 (`runners.run_pretrain` hands the other ranks this module's silent writer and progress bar), so N processes
produce the same folder as one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from tqdm import tqdm

from upstream_distilbert.errors import InputError, UnsupportedError

from .patching import require


@dataclass(frozen=True)
class Rank:
    """This process's place in a torchrun job."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Rank | None":
        """The rank torchrun gave this process, or None when it was not started by torchrun."""
        if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
            return None
        try:
            rank = cls(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), int(os.environ["WORLD_SIZE"]))
        except ValueError as error:
            raise InputError(f"torchrun's RANK/LOCAL_RANK/WORLD_SIZE must be integers ({error})") from error
        if not 0 <= rank.rank < rank.world_size:
            raise InputError(f"RANK={rank.rank}: expected 0..{rank.world_size - 1} for WORLD_SIZE={rank.world_size}")
        return rank


def start_process_group(rank: Rank, device: str) -> None:
    """Join torchrun's job: nccl with this local rank's GPU for a CUDA device, gloo otherwise."""
    if str(device).startswith("cuda"):
        if torch.cuda.device_count() <= rank.local_rank:
            raise UnsupportedError(f"LOCAL_RANK={rank.local_rank}: this machine has {torch.cuda.device_count()} GPU(s); "
                               "start at most one process per GPU (--nproc_per_node)")
        torch.cuda.set_device(rank.local_rank)
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    print(f"[audio-distilbert] - rank {rank.rank} of {rank.world_size} ({dist.get_backend()}, device {device})")


def stop_process_group() -> None:
    """Leave the job (a no-op outside torchrun), after every rank is done: a rank that tears its gloo connections
    down while a peer still uses them can abort that peer."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class Unlogged:
    """The TensorBoard writer of ranks other than 0: they compute the same logs, rank 0 writes them."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def add_scalar(self, *args: object, **kwargs: object) -> None:
        pass

    def close(self) -> None:
        pass


class QuietTqdm(tqdm):
    """Progress bars and messages of ranks other than 0: hidden, so the console shows one job."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **{**kwargs, "disable": True})

    def update(self, n: float = 1) -> None:
        self.n += n  # a disabled tqdm stops counting, but the runner's loop ends on `pbar.n`

    @classmethod
    def write(cls, *args: object, **kwargs: object) -> None:
        pass


def distributed_runner(base: type, rank: Rank) -> type:
    """s3prl's Runner whose upstream becomes rank `rank` of the DDP job as soon as it is built (before the
    optimizer sees its parameters)."""
    require(base, "_get_upstream")

    class DistributedRunner(base):
        def _get_upstream(self):
            upstream = super()._get_upstream()
            upstream.distribute(rank.rank, rank.world_size, self.config["runner"]["gradient_accumulate_steps"],
                                self.args.seed)
            return upstream

    return DistributedRunner
