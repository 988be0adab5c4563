"""`audio-distilbert demo`: the whole job on the built-in corpus, every step through s3prl's runners.

corpus -> teacher -> student distilled from it -> export -> phone_linear on s3prl's `fbank`, the teacher and the
student, each with several seeds (features computed once per utterance, `--feature-cache`) and each also tested on
speakers of another synthesizer that no model heard -> timing of teacher and student on the same audio -> a table of
means ± std, WORKDIR/results.json and WORKDIR/results.png. `--precisions [bf16] [int8]` (none named: both) adds the
student at those precisions: its phone_linear heads tested on features computed at them, and heads trained on them.
Each step is a subprocess of this same command, as a user would run it, and a step whose output already exists is
skipped, so an interrupted demo resumes.

The teacher (configs/pretrain/demo_teacher.yaml) needs about half an hour of masked acoustic modelling on 2 cores,
more than the demo's budget leaves, so the full demo distils from the shipped models/demo_teacher.ckpt;
`--retrain-teacher` makes it again the same way (a larger corpus of the same speakers, 3000 steps). The quick demo
trains its own teacher for a few steps. No model hears the held-out test speakers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from distilbert_configs import config_path
from distilbert_corpus.corpus import PRETRAIN_SET, build_corpus, is_complete
from distilbert_models import model_path
from downstream_hooks.results import read_results, read_scores
from upstream_distilbert.s3prl_states import read_states

from .report import MODELS, figure, mean_std, over_seeds, ratio

SHIPPED_TEACHER = model_path("demo_teacher.ckpt")
FIRST_SEED = 1337  # s3prl's default --seed; seed i of the demo is FIRST_SEED + i


@dataclass(frozen=True)
class Plan:
    speakers: int
    utterances_per_speaker: int  # the corpus of phone_linear (and of the student's distillation)
    train_teacher: bool  # False: distil from SHIPPED_TEACHER
    teacher_utterances_per_speaker: int  # the teacher's corpus: the same speakers, more sentences
    teacher_steps: tuple[int, ...]  # a run to the first total, then each next total extends the finished run
    student_steps: int
    student_lr: float  # twice demo_runner.yaml's (the teacher's): 1200 steps gain about a point over 7e-4
    phone_steps: int
    phone_eval_step: int
    phone_eval_batch: int  # small for tiny corpora: s3prl's phone dataset drops an incomplete last bucket
    seeds: int  # phone_linear runs per model, each with its own --seed
    unseen_speakers: int  # espeak-ng + MBROLA speakers of the unseen-engine test set (0: none)
    unseen_utterances_per_speaker: int
    timing_rounds: int


FULL = Plan(speakers=8, utterances_per_speaker=120, train_teacher=False, teacher_utterances_per_speaker=500,
            teacher_steps=(3000,), student_steps=1200, student_lr=1.4e-3, phone_steps=1000, phone_eval_step=500,
            phone_eval_batch=16, seeds=3, unseen_speakers=6, unseen_utterances_per_speaker=40, timing_rounds=5)
QUICK = Plan(speakers=4, utterances_per_speaker=12, train_teacher=True, teacher_utterances_per_speaker=12,
             teacher_steps=(8, 12), student_steps=12, student_lr=1.4e-3, phone_steps=30, phone_eval_step=15,
             phone_eval_batch=2, seeds=2, unseen_speakers=3, unseen_utterances_per_speaker=4, timing_rounds=2)


def run_step(*args: str, cwd: Path) -> None:
    """Run `audio-distilbert ARGS` as a user would, its progress bars and logs shown; stop if it fails."""
    exe = str(Path(sys.executable).with_name("audio-distilbert"))
    print(f"[demo] audio-distilbert {' '.join(args)}", flush=True)
    proc = subprocess.run([exe, *args], cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if proc.returncode:
        raise ChildProcessError(f"[demo] audio-distilbert {' '.join(args[:3])} ... failed with exit code {proc.returncode}; "
                                "its output above says why, and rerunning the demo continues from there")


def _pretrain_datarc(corpus: Path) -> str:
    d = "config.pretrain_expert.datarc"
    return f"{d}.libri_root={corpus / 'LibriSpeech'},,{d}.file_path={corpus / 'len_for_bucket'},,{d}.sets=['{PRETRAIN_SET}']"


def _held_out(corpus: Path) -> set[str]:
    return {utt.split("-")[0] for utt in (corpus / "cpc_phone" / "test_split.txt").read_text().split()}


def _corpus(path: Path, speakers: int, utterances_per_speaker: int) -> Path:
    if not is_complete(path):
        build_corpus(path, speakers, utterances_per_speaker)
    return path


def pretrain_and_export(workdir: Path, name: str, model_config: Path, steps: tuple[int, ...], corpus: Path,
                        lr: float | None = None) -> Path:
    """Pretrain (or find the finished run) and export its last checkpoint; return the student file. A run to
    `steps[0]`, then each next total resumes the finished run with that `total_steps` (`-e`), which restarts the
    learning-rate schedule at its value for that step of the longer schedule. An interrupted phase resumes from
    its newest checkpoint. `lr` overrides demo_runner.yaml's."""
    exported = workdir / f"{name}.ckpt"
    if exported.is_file():
        return exported
    expdir = workdir / "pretrain" / name
    for phase, total in enumerate(steps):
        done = _saved_step(expdir)
        if done >= total:
            continue
        runner = (f"config.runner.total_steps={total},,config.runner.save_step={max(min(total // 3, 1000), 1)},,"
                  f"config.runner.log_step={max(total // 10, 1)}")
        if done == 0 and phase == 0:
            overrides = [runner, _pretrain_datarc(corpus), *([f"config.optimizer.lr={lr}"] if lr else [])]
            run_step("pretrain", "-u", "distilbert", "-g", str(model_config),
                     "-c", str(config_path("pretrain", "demo_runner.yaml")), "-n", name, "-p", str(expdir),
                     "--device", "cpu", "-o", ",,".join(overrides), cwd=workdir)
        else:
            run_step("pretrain", "-e", str(_last_checkpoint(expdir)), "-o", runner, cwd=workdir)
    run_step("export", str(_last_checkpoint(expdir)), "-o", str(exported), cwd=workdir)
    return exported


def _last_checkpoint(expdir: Path) -> Path:
    return max(expdir.glob("states-*.ckpt"), key=lambda p: p.stat().st_mtime)


def _saved_step(expdir: Path) -> int:
    """The step of the newest checkpoint of a run (0 when it saved none yet)."""
    if not any(expdir.glob("states-*.ckpt")):
        return 0
    return int(read_states(_last_checkpoint(expdir))["Step"])


def _teacher(workdir: Path, plan: Plan, corpus: Path) -> Path:
    """The shipped teacher, or one pretrained here on the training speakers of a corpus like the demo's."""
    if not plan.train_teacher:
        if not SHIPPED_TEACHER.is_file():
            raise FileNotFoundError(f"{SHIPPED_TEACHER}: the shipped demo teacher is missing; "
                                    "`audio-distilbert demo --retrain-teacher` trains it (about 30 min on 2 cores)")
        return SHIPPED_TEACHER
    source = corpus
    if plan.teacher_utterances_per_speaker != plan.utterances_per_speaker:
        source = _corpus(workdir / "teacher-corpus", plan.speakers, plan.teacher_utterances_per_speaker)
        if _held_out(source) != _held_out(corpus):
            raise ValueError(f"{source}: holds out speakers {sorted(_held_out(source))}, the demo corpus "
                             f"{sorted(_held_out(corpus))}; delete one of them to rebuild it")
    return pretrain_and_export(workdir, "teacher", config_path("pretrain", "demo_teacher.yaml"), plan.teacher_steps, source)


def _downstream_datarc(corpus: Path) -> str:
    d = "config.downstream_expert.datarc"
    return (f"{d}.libri_root={corpus / 'LibriSpeech'},,{d}.phone_path={corpus / 'cpc_phone'},,"
            f"{d}.bucket_file={corpus / 'len_for_bucket'}")


def _expdir(workdir: Path, name: str, seed: int) -> Path:
    return workdir / "downstream" / name / f"seed-{seed}"


def _phone_linear(workdir: Path, name: str, upstream: list[str], plan: Plan, corpus: Path, seed: int) -> Path:
    """One phone_linear run (or the finished one); returns its experiment folder."""
    expdir = _expdir(workdir, name, seed)
    if not (expdir / "log.log").is_file() or read_results(expdir)["last_step"] < plan.phone_steps:
        run_step("downstream", "-m", "train", *upstream, "-d", "phone_linear",
                 "-c", str(config_path("downstream", "phone_linear_small.yaml")), "-p", str(expdir), "--device", "cpu",
                 "--seed", str(seed), "--feature-cache", str(workdir / "feature-cache"),
                 "-o", f"config.runner.total_steps={plan.phone_steps},,config.runner.eval_step={plan.phone_eval_step},,"
                       f"config.runner.save_step={plan.phone_eval_step},,"
                       f"config.runner.log_step={max(plan.phone_eval_step // 5, 1)},,{_downstream_datarc(corpus)},,"
                       f"config.downstream_expert.datarc.eval_batch_size={plan.phone_eval_batch}",
                 cwd=workdir)
    return expdir


def _test_accuracy(workdir: Path, expdir: Path, corpus: Path, out: Path, model_config: Path | None = None) -> float:
    """The test accuracy on `corpus` of a run's best-dev model (s3prl's `-m evaluate`, results in `out`), its
    upstream run with other expert options (`-g`) where `model_config` is given."""
    if "test" not in (read_scores(out) if (out / "log.log").is_file() else {}):
        overrides = [f"args.expdir={out}", _downstream_datarc(corpus),
                     *([f"args.upstream_model_config={model_config}"] if model_config else [])]
        run_step("downstream", "-m", "evaluate", "-e", str(expdir / "best-states-dev.ckpt"), "-t", "test",
                 "--device", "cpu", "--feature-cache", str(workdir / "feature-cache"), "-o", ",,".join(overrides),
                 cwd=workdir)
    (accuracy,) = read_scores(out)["test"].values()
    return accuracy


def unseen_engine_corpus(workdir: Path, plan: Plan) -> Path | None:
    """Speakers of espeak-ng + MBROLA, all for testing; None (and why) where that engine is not installed."""
    from distilbert_corpus.synthesizers import check_installed, make_speakers

    if not plan.unseen_speakers:
        return None
    try:
        check_installed(make_speakers(0, plan.unseen_speakers))
    except FileNotFoundError as error:
        print(f"[demo] no unseen-engine test set, so that column is left out: {error}", flush=True)
        return None
    path = workdir / "unseen-engine-corpus"
    if not is_complete(path):
        build_corpus(path, 0, plan.unseen_utterances_per_speaker, test_speakers=plan.unseen_speakers,
                     mbrola_speakers=plan.unseen_speakers)
    return path


def model_upstreams(teacher: str | Path, student: str | Path) -> dict[str, list[str]]:
    """The run_downstream.py upstream flags of the demo's models (MODELS), by name."""
    return {"fbank": ["-u", "fbank"], "teacher": ["-u", "distilbert_local", "-k", str(teacher)],
            "student": ["-u", "distilbert_local", "-k", str(student)]}


def model_results(workdir: Path, name: str, upstream: list[str], plan: Plan, corpus: Path,
                   unseen: Path | None) -> tuple[dict, Path]:
    """One model's phone_linear figures over the plan's seeds, and its first seed's folder (for the curves)."""
    expdirs = [_phone_linear(workdir, name, upstream, plan, corpus, FIRST_SEED + i) for i in range(plan.seeds)]
    runs = [read_results(expdir) for expdir in expdirs]
    if unseen is not None:
        for run, expdir in zip(runs, expdirs):
            run["unseen_engine_test_acc"] = _test_accuracy(workdir, expdir, unseen, expdir / "unseen-engine")
    result = {"last_step": min(run["last_step"] for run in runs), "seeds": [FIRST_SEED + i for i in range(plan.seeds)]}
    for key in ("test_acc", "best_dev_acc", *(["unseen_engine_test_acc"] if unseen is not None else [])):
        result |= over_seeds(runs, key)
    return result, expdirs[0]


def _precision_results(workdir: Path, plan: Plan, corpus: Path, student: Path, precisions: tuple[str, ...],
                       fp32: list[float]) -> dict:
    """The student at each of `precisions` (bf16, int8: `precision:` in the expert options, s3prl's `-g`): its fp32
    phone_linear heads tested on features computed at that precision (same head), and heads trained on those
    features with the same seeds (retrained); each with its difference to `fp32` (the student's test accuracies)
    seed by seed. bf16 is None where the CPU lacks it."""
    import torch

    from upstream_distilbert.precision import bf16_supported

    seeds = [FIRST_SEED + i for i in range(plan.seeds)]
    fp32_runs = [_expdir(workdir, "student", seed) for seed in seeds]
    results: dict = {}
    for precision in precisions:
        if precision == "bf16" and not bf16_supported(torch.device("cpu")):
            print("[demo] this CPU has no bf16 (AVX512-BF16 or AMX), so the bf16 row is left out", flush=True)
            results[precision] = None
            continue
        options = workdir / f"expert-{precision}.yaml"
        options.write_text(f"precision: {precision}\n")
        same_head = [_test_accuracy(workdir, expdir, corpus, expdir / f"test-{precision}", options)
                     for expdir in fp32_runs]
        upstream = ["-u", "distilbert_local", "-k", str(student), "-g", str(options)]
        retrained = [read_results(_phone_linear(workdir, f"student-{precision}", upstream, plan, corpus, seed))["test_acc"]
                     for seed in seeds]
        results[precision] = {}
        for name, accs in (("same_head", same_head), ("retrained", retrained)):
            (mean, std), (diff, diff_std) = mean_std(accs), mean_std([a - b for a, b in zip(accs, fp32)])
            results[precision][name] = {"test_acc": mean, "test_acc_std": std, "test_accs": accs,
                                        "minus_fp32": diff, "minus_fp32_std": diff_std}
    return results


def _timing(teacher: Path, student: Path, corpus: Path, rounds: int) -> dict:
    """Seconds per audio second of both upstreams on the same test utterances, timed round-robin."""
    import torch

    from distilbert_benchmarks.models import load_measured
    from distilbert_benchmarks.timing import interleaved_medians
    from upstream_distilbert.features import read_wave

    ids = (corpus / "cpc_phone" / "test_split.txt").read_text().split()[:8]
    waves = [read_wave(next((corpus / "LibriSpeech").rglob(f"{u}.flac")), 16000) for u in ids]
    audio_seconds = sum(len(w) for w in waves) / 16000
    models = {name: load_measured(path, "distilbert_local", name) for name, path in (("teacher", teacher), ("student", student))}
    with torch.inference_mode():
        times = interleaved_medians({n: (lambda m=m: [m.upstream([w]) for w in waves]) for n, m in models.items()}, rounds)
    return {name: {"params": m.params, "seconds_per_audio_second": times[name] / audio_seconds}
            for name, m in models.items()}


def run_demo(workdir: str | Path, quick: bool = False, retrain_teacher: bool = False, seeds: int | None = None,
             precisions: tuple[str, ...] = ()) -> dict:
    plan = QUICK if quick else FULL
    if retrain_teacher:
        plan = replace(plan, train_teacher=True)
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"--seeds {seeds}: expected at least 1 phone_linear seed per model")
        plan = replace(plan, seeds=seeds)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = _corpus(workdir / "corpus", plan.speakers, plan.utterances_per_speaker)
    teacher = _teacher(workdir, plan, corpus)
    student_config = yaml.safe_load(config_path("pretrain", "demo_student.yaml").read_text())
    student_config["teacher"]["ckpt"] = str(teacher)
    (workdir / "student.yaml").write_text(yaml.safe_dump(student_config))
    student = pretrain_and_export(workdir, "student", workdir / "student.yaml", (plan.student_steps,), corpus,
                        plan.student_lr)
    unseen = unseen_engine_corpus(workdir, plan)
    upstreams = model_upstreams(teacher, student)
    models, first_runs = {}, {}
    for name in MODELS:
        models[name], first_runs[name] = model_results(workdir, name, upstreams[name], plan, corpus, unseen)
    for name, measured in _timing(teacher, student, corpus, plan.timing_rounds).items():
        models[name].update(measured)
    results = {
        "plan": plan.__dict__ | {"quick": quick, "teacher_file": str(teacher)},
        "models": models,
        "size_ratio": models["teacher"]["params"] / models["student"]["params"],
        "speedup": models["teacher"]["seconds_per_audio_second"] / models["student"]["seconds_per_audio_second"],
    }
    for prefix, key in (("", "test_acc"), *([("unseen_engine_", "unseen_engine_test_acc")] if unseen else [])):
        results[f"{prefix}retention"], results[f"{prefix}retention_std"] = ratio(models["student"], models["teacher"], key)
    if precisions:
        results["precisions"] = _precision_results(workdir, plan, corpus, student, precisions,
                                                   models["student"]["test_accs"])
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    figure(workdir, results, first_runs)
    return results
