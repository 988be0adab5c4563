"""Run s3prl's own runner scripts in this process, from any directory, with the plugin registered."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from distilbert_configs import config_path

from upstream_distilbert.atomic import remove_stale_temporaries
from upstream_distilbert.errors import InputError

from .compat import s3prl_compat
from .distributed import (
    QuietTqdm,
    Rank,
    Unlogged,
    distributed_runner,
    start_process_group,
    stop_process_group,
)
from .feature_cache import cached_runner
from .patching import module_with, patch, require
from .registration import (
    PRETRAIN_NAME,
    pretrain_config_dir,
    register_in_process,
    s3prl_dir,
)


def _flag_value(argv: list[str], *names: str) -> str | None:
    """The value of the first of `names` in argv (`-d X` or `--downstream=X`), else None."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def with_default_downstream_config(argv: list[str]) -> list[str]:
    """Add `-c configs/downstream/<task>.yaml` when the user gave no config and is not resuming: the PyPI s3prl
    ships no downstream configs, so its own default path does not exist."""
    if _flag_value(argv, "-c", "--config") or _flag_value(argv, "-e", "--past_exp"):
        return argv
    task = _flag_value(argv, "-d", "--downstream")
    config = config_path("downstream", f"{task}.yaml")
    return [*argv, "-c", str(config)] if task and config.is_file() else argv


def _pop_flag(argv: list[str], name: str) -> tuple[list[str], str | None]:
    """argv without `name VALUE` (or `name=VALUE`), and that value (None when absent)."""
    value = _flag_value(argv, name)
    if value is None:
        return argv, None
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            rest.append(arg)
    return rest, value


def refuse_pickled_upstream(argv: list[str]) -> None:
    """s3prl's own upstreams given a file (`-k`; on resume, the one the run's checkpoint names) unpickle it whole
    (Mockingjay's builder, the distiller's: `torch.load(..., weights_only=False)`), which runs any code a hostile
    file names. Read it weights-only first and refuse one that holds more, naming the way to trust it. Our own
    upstreams load weights-only anyway; a folder (a Hugging Face model) is left to its upstream."""
    from upstream_distilbert import hubconf
    from upstream_distilbert.checkpoint import CheckpointError
    from upstream_distilbert.s3prl_states import read_states

    upstream, ckpt = _flag_value(argv, "-u", "--upstream"), _flag_value(argv, "-k", "--upstream_ckpt")
    past = _flag_value(argv, "-e", "--past_exp")
    if past and Path(past).is_file():  # s3prl's own checkpoint: read weights-only (it is, by s3prl's resume too)
        args = read_states(past).get("Args")
        upstream, ckpt = getattr(args, "upstream", upstream), getattr(args, "upstream_ckpt", ckpt)
    if not (upstream and ckpt) or upstream in hubconf.__all__ or not Path(ckpt).is_file():
        return
    try:
        read_states(ckpt)
    except CheckpointError as error:
        raise CheckpointError(f"-k {ckpt}: refused for s3prl's {upstream}: {error}. {upstream} would unpickle it, which "
                              "runs whatever code the file names. If you trust the file, pass --trust-pickle (or, for "
                              "the Mockingjay family, convert it once with `audio-distilbert convert --trust-pickle` "
                              "and use -u distilbert_local)") from error


def run_downstream(argv: list[str]) -> None:
    """s3prl's `run_downstream.py` with the same flags, plus `--feature-cache DIR`: a frozen upstream's features
    computed once per utterance and reused by later steps and runs (`feature_cache`), and `--trust-pickle`: let
    s3prl's upstreams unpickle a `-k` file that holds more than weights (`refuse_pickled_upstream`)."""
    trusted = "--trust-pickle" in argv
    argv = [arg for arg in argv if arg != "--trust-pickle"]
    if not trusted:
        refuse_pickled_upstream(argv)
    register_in_process()
    import s3prl.downstream.runner as downstream_runner
    from s3prl import run_downstream as script

    from upstream_distilbert.checkpoint import atomic_save

    # s3prl saves best-states-dev.ckpt and states-N.ckpt with a plain torch.save: a kill mid-save would leave a
    # truncated file that every later `-m evaluate` fails on. Written atomically, the previous file stays whole.
    patch(downstream_runner, "torch", module_with(downstream_runner.torch, save=atomic_save))

    patch(script, "Runner", clearing_stale_temporaries(script.Runner))
    argv, cache = _pop_flag(argv, "--feature-cache")
    if cache:
        patch(script, "Runner", cached_runner(script.Runner, Path(cache).resolve()))
    sys.argv = ["run_downstream.py", *with_default_downstream_config(argv)]
    with s3prl_compat():
        script.main()


def _with_default_pretrain_configs(argv: list[str]) -> list[str]:
    """Point a new run without -c/-g at our default configs by absolute path (s3prl looks for them relative to
    the working directory)."""
    if _flag_value(argv, "-e", "--past_exp"):
        return argv
    if not _flag_value(argv, "-c", "--config"):
        argv = [*argv, "-c", str(pretrain_config_dir() / "config_runner.yaml")]
    if not _flag_value(argv, "-g", "--upstream_config"):
        argv = [*argv, "-g", str(pretrain_config_dir() / "config_model.yaml")]
    return argv


def _skip(*args: object, **kwargs: object) -> None:
    """What a torchrun rank other than 0 does instead of writing or deleting a file of the experiment."""


def _listdir_with_our_task(real_pretrain: Path):
    """os.listdir for s3prl's run_pretrain.py, whose `-u` choices are `os.listdir('pretrain/')` of the working
    directory: it answers that listing with s3prl's tasks plus ours."""

    def listdir(path: str = ".") -> list[str]:
        if os.path.normpath(path) == "pretrain":
            return sorted({*os.listdir(real_pretrain), PRETRAIN_NAME})
        return os.listdir(path)

    return listdir


def clearing_stale_temporaries(base: type) -> type:
    """An s3prl Runner (pretraining or downstream) that first removes from its experiment folder the temporary
    checkpoint files a killed run left (`atomic.remove_stale_temporaries`), whether it starts or resumes."""

    class Runner(base):
        def __init__(self, args, config):
            for path in remove_stale_temporaries(args.expdir) if os.path.isdir(args.expdir) else []:
                print(f"[audio-distilbert] - removed {path}, which a killed run left unfinished")
            super().__init__(args, config)

    return Runner


def schedule_following_config(base: type) -> type:
    """s3prl's pretraining Runner whose learning-rate schedule ends at the config's `runner.total_steps` also on
    resume. Its `*_with_schedule` optimizers keep the schedule (with its total) inside the optimizer state, so
    `-e OLD -o config.runner.total_steps=MORE` would otherwise train the extra steps at a learning rate of zero."""
    require(base, "_get_optimizer")

    class Runner(base):
        def _get_optimizer(self, model_params):
            optimizer = super()._get_optimizer(model_params)
            total = float(self.config["runner"]["total_steps"])
            schedules = {id(s): s for g in optimizer.param_groups if hasattr(s := g.get("schedule"), "t_total")}
            for schedule in schedules.values():
                if schedule.t_total != total:
                    print(f"[audio-distilbert] - the learning-rate schedule now ends at step {total:.0f} "
                          f"(runner.total_steps), not {schedule.t_total:.0f}")
                    schedule.t_total = total
            return optimizer

    return Runner


def run_pretrain(argv: list[str]) -> None:
    """s3prl's `run_pretrain.py` with the same flags, from any directory. Its checkpoints are written
    atomically (temporary file, then rename), so a run killed while saving resumes from the previous one.
    Started by torchrun, this process is one DDP rank (see `distributed`)."""
    root = s3prl_dir()
    sys.path.insert(0, str(root))  # first: run_pretrain.py imports `pretrain.runner`, `optimizers`, `utility`
    import pretrain.runner
    import run_pretrain as script

    from upstream_distilbert.checkpoint import atomic_save

    register_in_process()
    rank = Rank.from_env()
    writes = rank is None or rank.is_main
    patch(script, "os", module_with(os, listdir=_listdir_with_our_task(root / "pretrain")))
    patch(pretrain.runner, "torch", module_with(pretrain.runner.torch, save=atomic_save if writes else _skip))
    patch(script, "Runner", schedule_following_config(script.Runner))
    if writes:
        patch(script, "Runner", clearing_stale_temporaries(script.Runner))
    if rank is not None:
        patch(script, "Runner", distributed_runner(script.Runner, rank))
    if not writes:  # a torchrun rank other than 0: the experiment folder and the console are rank 0's
        patch(pretrain.runner, "os", module_with(pretrain.runner.os, remove=_skip))  # pruning old checkpoints
        patch(pretrain.runner, "SummaryWriter", Unlogged)
        patch(pretrain.runner, "tqdm", QuietTqdm)
        patch(script, "copyfile", _skip)  # run_pretrain.py's copies of the configs
    parse = script.get_pretrain_args

    def parse_and_check() -> tuple:
        args, config = parse()
        new_override = _flag_value(argv, "-o", "--override")
        if new_override and _flag_value(argv, "-e", "--past_exp"):
            # s3prl's resume restores the old run's args, -o included, so a new -o (say, the accumulation that
            # keeps the global batch with another process count) would be lost: apply it, and keep it for later.
            script.override(new_override, args, config)
            old = args.override if args.override and args.override.lower() != "none" else None
            args.override = f"{old},,{new_override}" if old else new_override
        total, save = config["runner"].get("total_steps"), config["runner"].get("save_step")
        if isinstance(total, int) and isinstance(save, int) and not save < total:
            raise InputError(f"runner.save_step={save}: s3prl's pretraining runner needs it smaller than "
                             f"runner.total_steps={total}")
        if config["runner"].get("fp16") and not str(args.device).startswith("cuda"):
            print(f"[audio-distilbert] - runner.fp16 is CUDA mixed precision; on --device {args.device} this run "
                  "trains in fp32 (s3prl's runner disables CUDA autocast and its GradScaler without a GPU)")
        if rank is not None:
            start_process_group(rank, args.device)
        return args, config

    patch(script, "get_pretrain_args", parse_and_check)
    sys.argv = ["run_pretrain.py", *_with_default_pretrain_configs(argv)]
    with s3prl_compat():
        script.main()
    stop_process_group()  # not after a failure: the other ranks may never reach its barrier; torchrun stops them
