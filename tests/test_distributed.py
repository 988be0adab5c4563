"""torchrun: two gloo processes on CPU, each a DDP rank of s3prl's real pretraining runner."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from distilbert_pretrain.dataset import ResumableBucketSampler
from upstream_distilbert.s3prl_states import read_states
from downstream_hooks.results import read_scalars

from .conftest import REPO, cli, run, runner_config, write_yaml

# Without dropout the only randomness is the data's (crops, masks), which is seeded per bucket, so two ranks and
# one process with the same global batch compute the same thing up to float summation order.
NO_DROPOUT = {
    "transformer": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
                    "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
    "audio": {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80}}},
    "task": {"sequence_length": 150},
    "teacher": None,
    "distillation": {"reconstruction_weight": 1.0},
}
TOLERANCE = 1e-5  # relative, on every logged objective, gradient norm and final weight
STEPS, SAVE = 6, 3


def torchrun(processes: int, *program: str, cwd: Path | None = None) -> str:
    """`torchrun --standalone --nproc_per_node=N PROGRAM...` with one torch thread per process; its stdout."""
    torchrun_exe = str(Path(sys.executable).with_name("torchrun"))
    return run([torchrun_exe, "--standalone", f"--nproc_per_node={processes}", *program], cwd=cwd, threads=1).stdout


def pretrain_ranks(processes: int, *args: str, cwd: Path) -> None:
    torchrun(processes, "--no-python", *cli(), *args, cwd=cwd)


def _flags(work: Path, name: str, corpus: dict, accumulate: int) -> list[str]:
    model = write_yaml(work / "model.yaml", NO_DROPOUT)
    return ["pretrain", "-u", "distilbert", "-g", str(model), "-c",
            str(runner_config(work, corpus, STEPS, SAVE, accumulate)), "-n", name, "-p", name, "--device", "cpu"]


def _checkpoints(expdir: Path) -> list[str]:
    return sorted(p.name for p in expdir.iterdir() if p.suffix == ".ckpt" or ".tmp" in p.name)


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=TOLERANCE, atol=TOLERANCE, msg=key)


@pytest.fixture(scope="module")
def runs(corpus: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 6 steps of global batch 8 (2 buckets of 4): one process accumulating 2 batches, two ranks."""
    work = tmp_path_factory.mktemp("ddp")
    run([*cli(), *_flags(work, "single", corpus, accumulate=2)], cwd=work)
    pretrain_ranks(2, *_flags(work, "ddp", corpus, accumulate=1), cwd=work)
    return {"work": work, "single": work / "single", "ddp": work / "ddp"}


def _final(expdir: Path) -> Path:
    (last,) = expdir.glob("states-epoch-*.ckpt")  # 3 buckets, 6 steps of 2: the runner names it by epoch
    return last


def test_two_ranks_write_one_checkpoint_per_save_step(runs: dict[str, Path]) -> None:
    # s3prl's runner names its last save by epochs, counted from this process's batches: 2 for a rank, 4 for one
    # process accumulating two.
    assert _checkpoints(runs["ddp"]) == ["states-3.ckpt", "states-epoch-2.ckpt"]
    assert _checkpoints(runs["single"]) == ["states-3.ckpt", "states-epoch-4.ckpt"]
    # Rank 0's log only. (A second rank's writer opened in the same second would share the file name, and the
    # last to close would win: this catches it only when the names differ.)
    assert len(list(runs["ddp"].glob("events.out.tfevents.*"))) == 1


def test_two_ranks_follow_one_process_with_the_same_global_batch(runs: dict[str, Path]) -> None:
    single, ddp = read_scalars(runs["single"]), read_scalars(runs["ddp"])
    for tag in ("distilbert/train-reconstruction", "distilbert/train-gradient-norm"):
        assert sorted(ddp[tag]) == list(range(1, STEPS + 1)), tag
        for step, value in single[tag].items():
            assert ddp[tag][step] == pytest.approx(value, rel=TOLERANCE), (tag, step)
    single_states, ddp_states = read_states(_final(runs["single"])), read_states(_final(runs["ddp"]))
    assert ddp_states["Step"] == single_states["Step"] == STEPS
    assert ddp_states["Data_Position"] == single_states["Data_Position"] == 2 * STEPS
    _close(single_states["Student"], ddp_states["Student"])


@pytest.mark.parametrize("processes, accumulate", [(2, 1), (1, 2)])
def test_a_two_rank_checkpoint_resumes_with_any_process_count(runs: dict[str, Path], tmp_path: Path,
                                                              processes: int, accumulate: int) -> None:
    """Resume the two-rank run from step 3 with two ranks, or one process accumulating 2 batches (a new -o on
    resume applies): the same weights at step 6 as the uninterrupted run."""
    shutil.copytree(runs["work"], tmp_path, dirs_exist_ok=True)
    _final(tmp_path / "ddp").unlink()
    resume = ["pretrain", "-e", "ddp/states-3.ckpt", "-o", f"config.runner.gradient_accumulate_steps={accumulate}"]
    if processes == 1:
        run([*cli(), *resume], cwd=tmp_path)
    else:
        pretrain_ranks(processes, *resume, cwd=tmp_path)
    resumed, straight = read_states(_final(tmp_path / "ddp")), read_states(_final(runs["ddp"]))
    assert resumed["Step"] == STEPS and resumed["Data_Position"] == straight["Data_Position"]
    _close(straight["Student"], resumed["Student"])


def test_accumulation_all_reduces_once_per_step(corpus: dict) -> None:
    """With accumulation 2, DDP all-reduces during the second backward of each step only, which leaves the ranks'
    gradients equal; after the first, each rank holds its own."""
    out = torchrun(2, str(REPO / "tests" / "ddp_probe.py"), json.dumps(corpus), json.dumps(NO_DROPOUT))
    report = json.loads(out.strip().splitlines()[-1])
    assert [r["all_reduces"] > 0 for r in report] == [False, True, False, True]
    assert [r["grads_equal"] for r in report] == [False, True, False, True]


@pytest.mark.parametrize("world_size, start", [(2, 0), (3, 4), (2, 7)])
def test_ranks_share_out_the_single_process_stream(world_size: int, start: int) -> None:
    """Each step the ranks take the next buckets of the one seeded stream, rank r the r-th: together, across
    epoch ends, exactly what one process reads, and every epoch a new order of all buckets."""
    buckets, steps = 5, 9
    one = ResumableBucketSampler(buckets, seed=3, start=start)
    stream = [item for _ in range(12) for item in one][: steps * world_size]
    ranks = [ResumableBucketSampler(buckets, seed=3, start=start, rank=r, world_size=world_size)
             for r in range(world_size)]
    taken = [[item for _ in range(6) for item in sampler][:steps] for sampler in ranks]
    assert [taken[r][k] for k in range(steps) for r in range(world_size)] == stream
    assert len({len(sampler) for sampler in ranks}) == 1  # the same number of steps per iteration on every rank
    epochs = {}
    for epoch, bucket in stream:
        epochs.setdefault(epoch, []).append(bucket)
    whole = [sorted(b) for e, b in epochs.items() if e * buckets >= start and len(b) == buckets]
    assert whole and all(b == list(range(buckets)) for b in whole)
    orders = [tuple(b) for b in epochs.values() if len(b) == buckets]
    assert len(set(orders)) == len(orders)


def test_dataparallel_and_torchrun_do_not_combine(corpus: dict) -> None:
    from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert

    expert = UpstreamPretrainExpert(corpus, NO_DROPOUT, device="cpu", multi_gpu=True)
    with pytest.raises(ValueError, match="--multi_gpu"):
        expert.distribute(0, 2, gradient_accumulate_steps=1, seed=0)


def test_s3prls_runner_saves_through_our_atomic_writer_on_rank_0_only(corpus: dict, tmp_path: Path) -> None:
    """In a real two-rank run, every checkpoint s3prl's runner writes goes through atomic_save (the patch of its
    torch.save took effect), and only rank 0 writes: checkpoints, TensorBoard and the config copies."""
    out = torchrun(2, str(REPO / "tests" / "save_spy.py"), *_flags(tmp_path, "spied", corpus, accumulate=1),
                   cwd=tmp_path)
    saves = [line.split(maxsplit=2)[1:] for line in out.splitlines() if line.startswith("ATOMIC_SAVE ")]
    assert saves and {rank for rank, _ in saves} == {"rank=0"}
    written = sorted(p.name for p in (tmp_path / "spied").iterdir())
    assert sorted(Path(path).name for _, path in saves) == [n for n in written if n.endswith(".ckpt")]
    others = [n for n in written if not n.endswith(".ckpt")]
    assert len(others) == 3 and {"config_model.yaml", "config_runner.yaml"} < set(others)
    assert [n for n in others if n.startswith("events.out.tfevents")]
