"""`audio-distilbert demo`: the whole job on the built-in corpus, every step through s3prl's runners.

corpus -> teacher -> student distilled from it -> export -> phone_linear on s3prl's `fbank`, the teacher and the
student -> timing of teacher and student on the same audio -> a table, WORKDIR/results.json and WORKDIR/results.png.
Each step is a subprocess of this same command, as a user would run it, and a step whose output already exists is
skipped, so an interrupted demo resumes.

The teacher (configs/pretrain/demo_teacher.yaml) needs about two hours of masked acoustic modelling on 2 cores,
far more than the demo's budget, so the full demo distils from the shipped models/demo_teacher.ckpt;
`--retrain-teacher` makes it again the same way (a larger corpus of the same speakers, 6000 steps, then the run
extended to 11000). The quick demo trains its own teacher for a few steps. No model hears the held-out test
speakers.
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
from downstream_hooks.results import read_results, read_scalars, read_scores
from upstream_distilbert.s3prl_states import read_states

SHIPPED_TEACHER = model_path("demo_teacher.ckpt")
COLOURS = {"fbank": "grey", "teacher": "tab:blue", "student": "tab:orange"}


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
    timing_rounds: int


FULL = Plan(speakers=8, utterances_per_speaker=120, train_teacher=False, teacher_utterances_per_speaker=500,
            teacher_steps=(6000, 11000), student_steps=1200, student_lr=1.4e-3, phone_steps=1000, phone_eval_step=500,
            phone_eval_batch=16, timing_rounds=5)
QUICK = Plan(speakers=4, utterances_per_speaker=12, train_teacher=True, teacher_utterances_per_speaker=12,
             teacher_steps=(8, 12), student_steps=12, student_lr=1.4e-3, phone_steps=30, phone_eval_step=15,
             phone_eval_batch=2, timing_rounds=2)


def _command(*args: str, cwd: Path) -> None:
    """Run `audio-distilbert ARGS` as a user would, its progress bars and logs shown; stop if it fails."""
    exe = str(Path(sys.executable).with_name("audio-distilbert"))
    print(f"[demo] audio-distilbert {' '.join(args)}", flush=True)
    proc = subprocess.run([exe, *args], cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if proc.returncode:
        raise ChildProcessError(f"[demo] audio-distilbert {' '.join(args[:3])} ... failed with exit code {proc.returncode}; "
                                "its output above says why, and rerunning the demo continues from there")


def _datarc(corpus: Path) -> str:
    d = "config.pretrain_expert.datarc"
    return f"{d}.libri_root={corpus / 'LibriSpeech'},,{d}.file_path={corpus / 'len_for_bucket'},,{d}.sets=['{PRETRAIN_SET}']"


def _held_out(corpus: Path) -> set[str]:
    return {utt.split("-")[0] for utt in (corpus / "cpc_phone" / "test_split.txt").read_text().split()}


def _corpus(path: Path, speakers: int, utterances_per_speaker: int) -> Path:
    if not is_complete(path):
        build_corpus(path, speakers, utterances_per_speaker)
    return path


def _pretrain(workdir: Path, name: str, model_config: Path, steps: tuple[int, ...], corpus: Path,
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
        runner = (f"config.runner.total_steps={total},,config.runner.save_step={max(total // 3, 1)},,"
                  f"config.runner.log_step={max(total // 10, 1)}")
        if done == 0 and phase == 0:
            overrides = [runner, _datarc(corpus), *([f"config.optimizer.lr={lr}"] if lr else [])]
            _command("pretrain", "-u", "distilbert", "-g", str(model_config),
                     "-c", str(config_path("pretrain", "demo_runner.yaml")), "-n", name, "-p", str(expdir),
                     "--device", "cpu", "-o", ",,".join(overrides), cwd=workdir)
        else:
            _command("pretrain", "-e", str(_last_checkpoint(expdir)), "-o", runner, cwd=workdir)
    _command("export", str(_last_checkpoint(expdir)), "-o", str(exported), cwd=workdir)
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
                                    "`audio-distilbert demo --retrain-teacher` trains it (about two hours on 2 cores)")
        return SHIPPED_TEACHER
    source = corpus
    if plan.teacher_utterances_per_speaker != plan.utterances_per_speaker:
        source = _corpus(workdir / "teacher-corpus", plan.speakers, plan.teacher_utterances_per_speaker)
        if _held_out(source) != _held_out(corpus):
            raise ValueError(f"{source}: holds out speakers {sorted(_held_out(source))}, the demo corpus "
                             f"{sorted(_held_out(corpus))}; delete one of them to rebuild it")
    return _pretrain(workdir, "teacher", config_path("pretrain", "demo_teacher.yaml"), plan.teacher_steps, source)


def _phone_linear(workdir: Path, name: str, upstream: list[str], plan: Plan, corpus: Path) -> dict:
    expdir = workdir / "downstream" / name
    if not (expdir / "log.log").is_file() or read_results(expdir)["last_step"] < plan.phone_steps:
        d = "config.downstream_expert.datarc"
        _command("downstream", "-m", "train", *upstream, "-d", "phone_linear",
                 "-c", str(config_path("downstream", "phone_linear_small.yaml")), "-p", str(expdir), "--device", "cpu",
                 "-o", f"config.runner.total_steps={plan.phone_steps},,config.runner.eval_step={plan.phone_eval_step},,"
                       f"config.runner.save_step={plan.phone_eval_step},,"
                       f"config.runner.log_step={max(plan.phone_eval_step // 5, 1)},,"
                       f"{d}.libri_root={corpus / 'LibriSpeech'},,{d}.phone_path={corpus / 'cpc_phone'},,"
                       f"{d}.bucket_file={corpus / 'len_for_bucket'},,{d}.eval_batch_size={plan.phone_eval_batch}",
                 cwd=workdir)
    return read_results(expdir)


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


def _figure(workdir: Path, results: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = results["models"]
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
    prefix = "distilbert/train-"
    for tag, curve in sorted(read_scalars(workdir / "pretrain" / "student").items()):
        name = tag.removeprefix(prefix)
        if tag.startswith(prefix) and name not in ("loss", "lr", "gradient-norm"):
            steps, values = zip(*sorted(curve.items()))
            axes[0].plot(steps, values, label=name)
    axes[0].set(title="student distillation objectives", xlabel="step", ylabel="loss")
    axes[0].legend(fontsize="small")
    for name in ("fbank", "teacher", "student"):
        curve = read_scores(workdir / "downstream" / name)["train"]
        steps, accs = zip(*sorted(curve.items()))
        axes[1].plot(steps, accs, label=name, color=COLOURS[name])
    axes[1].set(title="phone_linear training accuracy", xlabel="step", ylabel="frame accuracy")
    axes[1].legend()
    names = ["fbank", "teacher", "student"]
    axes[2].bar(names, [models[n]["test_acc"] for n in names], color=[COLOURS[n] for n in names])
    axes[2].set(title="test accuracy (held-out speakers)")
    pair = ["teacher", "student"]
    axes[3].bar(pair, [models[n]["params"] / 1e6 for n in pair], color=[COLOURS[n] for n in pair])
    axes[3].set(title=f"parameters, millions ({results['size_ratio']:.2f}x)")
    axes[4].bar(pair, [models[n]["seconds_per_audio_second"] * 1000 for n in pair], color=[COLOURS[n] for n in pair])
    axes[4].set(title=f"ms per audio second ({results['speedup']:.2f}x)")
    fig.tight_layout()
    path = workdir / "results.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def table(results: dict) -> str:
    models = results["models"]
    rows = [f"{'model':10} {'test acc':>9} {'dev acc':>8} {'params':>11} {'s/audio s':>10}"]
    for name in ("fbank", "teacher", "student"):
        m = models[name]
        params = f"{m['params']:,}" if "params" in m else "-"
        speed = f"{m['seconds_per_audio_second']:.4f}" if "seconds_per_audio_second" in m else "-"
        rows.append(f"{name:10} {m['test_acc']:>9.3f} {m['best_dev_acc']:>8.3f} {params:>11} {speed:>10}")
    rows.append(f"retention {results['retention']:.1%}, size ratio {results['size_ratio']:.2f}x, "
                f"speedup {results['speedup']:.2f}x")
    return "\n".join(rows)


def run_demo(workdir: str | Path, quick: bool = False, retrain_teacher: bool = False) -> dict:
    plan = QUICK if quick else FULL
    if retrain_teacher:
        plan = replace(plan, train_teacher=True)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = _corpus(workdir / "corpus", plan.speakers, plan.utterances_per_speaker)
    teacher = _teacher(workdir, plan, corpus)
    student_config = yaml.safe_load(config_path("pretrain", "demo_student.yaml").read_text())
    student_config["teacher"]["ckpt"] = str(teacher)
    (workdir / "student.yaml").write_text(yaml.safe_dump(student_config))
    student = _pretrain(workdir, "student", workdir / "student.yaml", (plan.student_steps,), corpus,
                        plan.student_lr)
    models = {
        "fbank": _phone_linear(workdir, "fbank", ["-u", "fbank"], plan, corpus),
        "teacher": _phone_linear(workdir, "teacher", ["-u", "distilbert_local", "-k", str(teacher)], plan, corpus),
        "student": _phone_linear(workdir, "student", ["-u", "distilbert_local", "-k", str(student)], plan, corpus),
    }
    for name, measured in _timing(teacher, student, corpus, plan.timing_rounds).items():
        models[name].update(measured)
    results = {
        "plan": plan.__dict__ | {"quick": quick, "teacher_file": str(teacher)},
        "models": models,
        "retention": models["student"]["test_acc"] / models["teacher"]["test_acc"],
        "size_ratio": models["teacher"]["params"] / models["student"]["params"],
        "speedup": models["teacher"]["seconds_per_audio_second"] / models["student"]["seconds_per_audio_second"],
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    _figure(workdir, results)
    return results
