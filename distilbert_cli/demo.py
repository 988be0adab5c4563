"""`audio-distilbert demo`: the whole job on the built-in corpus, every step through s3prl's runners.

corpus -> teacher -> student distilled from it -> export -> phone_linear on s3prl's `fbank`, the teacher and the
student, each with several seeds (features computed once per utterance, `--feature-cache`) and each also tested on
speakers of another synthesizer (the unseen synthesizer) that no model heard, reading words no model heard -> timing
of teacher and student on the same audio -> a table of means ± std, WORKDIR/results.json and WORKDIR/results.png. `--precisions [bf16] [int8]` (none named: both) adds the
student at those precisions: its phone_linear heads tested on features computed at them, and heads trained on them.
Each step is a subprocess of this same command, as a user would run it, in a folder keyed by what made it (`steps`):
a finished step with the same inputs is reused, an interrupted one resumes, and one whose inputs changed (another
plan, teacher, config or package version) is done again.

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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml
from distilbert_configs import config_path
from distilbert_models import model_path

from distilbert_corpus.corpus import PR_FOLDER, PR_VOCABULARY, PRETRAIN_SET, build_corpus, is_complete
from downstream_hooks.results import read_error_rates, read_phone_error_rate, read_results, read_scores
from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.digest import file_digest
from upstream_distilbert.errors import InputError, MissingError, StepFailed
from upstream_distilbert.s3prl_states import newest_states, read_states

from .provenance import provenance, relative
from .report import MODELS, TEST_SETS, figure, mean_std, on, over_seeds, paired
from .steps import Step, key_of

SHIPPED_TEACHER = model_path("demo_teacher.ckpt")
# pr_small.yaml's length for the demo: a first choice, not yet measured against longer runs.
PR_STEPS, PR_EVAL_STEP = 1000, 250
FIRST_SEED = 1337  # s3prl's default --seed; seed i of the demo is FIRST_SEED + i
UNSEEN_FIRST_SPEAKER = 200  # the unseen synthesizer's speaker ids: apart from the corpus's (100 on)
PHONE_CONFIG = config_path("downstream", "phone_linear_small.yaml")
ASR_CONFIG = config_path("downstream", "asr_small.yaml")
PR_CONFIG = config_path("downstream", "pr_small.yaml")
RUNNER_CONFIG = config_path("pretrain", "demo_runner.yaml")
# The held-out voices: two male voices of two engines (flite's awb; kal, in flite and festival), so that training
# keeps slt, the corpus's one female voice, beside rms, rab and ked.
TEST_VOICES = ("awb", "kal")
# Written by the demo once s3prl's asr evaluation has finished (s3prl opens its .ark files before writing them, so
# their existence says nothing).
EVALUATED = "evaluated.json"


@dataclass(frozen=True)
class Plan:
    text: str  # what the corpus's speakers read (distilbert_corpus.text: open or grammar)
    speakers: int  # flite speakers (voices x pitch/rate variants); their voices give the held-out ones
    festival_speakers: int  # festival speakers (kal, rab, ked x variants): training voices beside flite's
    test_voices: tuple[str, ...]  # held out at every pitch, rate and engine; the others train
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
    unseen_speakers: int  # espeak-ng + MBROLA speakers of the unseen-synthesizer test set (0: none)
    unseen_utterances_per_speaker: int
    timing_rounds: int
    pr_steps: int  # SUPERB phoneme recognition (s3prl's ctc, pr_small.yaml) for each model; 0: none
    pr_eval_step: int
    pr_seeds: int
    asr_steps: int  # s3prl's asr (asr_small.yaml) for each model; 0: no ASR
    asr_eval_step: int
    asr_seeds: int


FULL = Plan(text="open", speakers=8, festival_speakers=6, test_voices=TEST_VOICES, utterances_per_speaker=120,
            train_teacher=False, teacher_utterances_per_speaker=500, teacher_steps=(3000,), student_steps=1200,
            student_lr=1.4e-3, phone_steps=1000, phone_eval_step=500, phone_eval_batch=16, seeds=3, unseen_speakers=6,
            unseen_utterances_per_speaker=40, timing_rounds=5, pr_steps=PR_STEPS, pr_eval_step=PR_EVAL_STEP, pr_seeds=3,
            asr_steps=0, asr_eval_step=300, asr_seeds=2)
# The quick plan holds out one flite voice and synthesizes no festival speaker: a check that every step runs.
QUICK = Plan(text="open", speakers=4, festival_speakers=0, test_voices=("awb",), utterances_per_speaker=12,
             train_teacher=True, teacher_utterances_per_speaker=12, teacher_steps=(8, 12), student_steps=12,
             student_lr=1.4e-3, phone_steps=30, phone_eval_step=15, phone_eval_batch=2, seeds=2, unseen_speakers=3,
             unseen_utterances_per_speaker=4, timing_rounds=2, pr_steps=4, pr_eval_step=2, pr_seeds=1, asr_steps=0,
             asr_eval_step=2, asr_seeds=1)


@dataclass(frozen=True)
class Upstream:
    """An upstream as run_downstream.py takes it: hub name, checkpoint (`-k`), expert options (`-g`)."""

    hub: str
    ckpt: Path | None = None
    options: Path | None = None

    def flags(self) -> list[str]:
        return (["-u", self.hub] + (["-k", str(self.ckpt)] if self.ckpt else [])
                + (["-g", str(self.options)] if self.options else []))

    def inputs(self) -> dict:
        """What identifies its features (files by digest)."""
        return {"hub": self.hub, "ckpt": self.ckpt, "options": self.options}


def run_step(*args: str, cwd: Path) -> None:
    """Run `audio-distilbert ARGS` as a user would, its progress bars and logs shown; stop if it fails."""
    exe = str(Path(sys.executable).with_name("audio-distilbert"))
    print(f"[demo] audio-distilbert {' '.join(args)}", flush=True)
    proc = subprocess.run([exe, *args], cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if proc.returncode:
        raise StepFailed(f"[demo] audio-distilbert {' '.join(args[:3])} ... failed with exit code {proc.returncode}; "
                                "its output above says why, and rerunning the demo continues from there")


def corpus_step(folder: Path, text: str, speakers: int, utterances_per_speaker: int, **options: object) -> Step:
    """A corpus of `build_corpus` (built, or the finished one with the same settings)."""
    step = Step.of(folder, kind="corpus", text=text, speakers=speakers, utterances_per_speaker=utterances_per_speaker,
                   **options)
    if not (step.prepare() and is_complete(folder)):
        build_corpus(folder, speakers, utterances_per_speaker, text=text, **options)
    return step


def speakers_corpus(folder: Path, plan: Plan, utterances_per_speaker: int) -> Step:
    """The plan's corpus of training and held-out speakers (flite and festival), `utterances_per_speaker` each."""
    return corpus_step(folder, plan.text, plan.speakers, utterances_per_speaker,
                       festival_speakers=plan.festival_speakers, test_voices=plan.test_voices)


def _pretrain_datarc(corpus: Path) -> str:
    d = "config.pretrain_expert.datarc"
    return f"{d}.libri_root={corpus / 'LibriSpeech'},,{d}.file_path={corpus / 'len_for_bucket'},,{d}.sets=['{PRETRAIN_SET}']"


def _held_out(corpus: Path) -> set[str]:
    return {utt.split("-")[0] for utt in (corpus / "cpc_phone" / "test_split.txt").read_text().split()}


def pretrain_and_export(workdir: Path, name: str, model_config: Path, steps: tuple[int, ...], corpus: Step,
                        lr: float | None = None, **inputs: object) -> Path:
    """Pretrain (or find the finished run) and export its last checkpoint; return the exported file. A run to
    `steps[0]`, then each next total resumes the finished run with that `total_steps` (`-e`), which restarts the
    learning-rate schedule at its value for that step of the longer schedule. An interrupted phase resumes from
    its newest checkpoint. `lr` overrides demo_runner.yaml's; `inputs` are further files or settings the run
    depends on (a teacher file), for its key."""
    step = Step.of(workdir / "pretrain" / name, kind="pretrain", model_config=model_config, runner=RUNNER_CONFIG,
                   steps=steps, lr=lr, corpus=corpus, **inputs)
    expdir, exported = step.folder, step.folder / f"{name}.ckpt"
    if step.prepare() and exported.is_file():
        return exported
    for phase, total in enumerate(steps):
        done = saved_step(expdir)
        if done >= total:
            continue
        runner = (f"config.runner.total_steps={total},,config.runner.save_step={max(min(total // 3, 1000), 1)},,"
                  f"config.runner.log_step={max(total // 10, 1)}")
        if done == 0 and phase == 0:
            overrides = [runner, _pretrain_datarc(corpus.folder), *([f"config.optimizer.lr={lr}"] if lr else [])]
            run_step("pretrain", "-u", "distilbert", "-g", str(model_config), "-c", str(RUNNER_CONFIG), "-n", name,
                     "-p", str(expdir), "--device", "cpu", "-o", ",,".join(overrides), cwd=workdir)
        else:
            run_step("pretrain", "-e", str(newest_states(expdir)), "-o", runner, cwd=workdir)
    run_step("export", str(newest_states(expdir)), "-o", str(exported), cwd=workdir)
    return exported


def export_step(folder: Path, states: Path) -> Path:
    """`audio-distilbert export` of a pretraining checkpoint into `folder` (keyed by the checkpoint's digest, so a
    checkpoint replaced under the same name is exported again); returns the exported file."""
    step = Step.of(folder, kind="export", states=states)
    exported = step.folder / f"{folder.name}.ckpt"
    if not (step.prepare() and exported.is_file()):
        run_step("export", str(states), "-o", str(exported), cwd=folder)
    return exported


def saved_step(expdir: Path) -> int:
    """The steps done by a run's newest checkpoint (0 when it saved none yet)."""
    return int(read_states(newest_states(expdir))["Step"]) if any(expdir.glob("states-*.ckpt")) else 0


def _teacher(workdir: Path, plan: Plan, corpus: Step) -> Path:
    """The shipped teacher, or one pretrained here on the training speakers of a corpus like the demo's."""
    if not plan.train_teacher:
        if not SHIPPED_TEACHER.is_file():
            raise MissingError(f"{SHIPPED_TEACHER}: the shipped demo teacher is missing; "
                                    "`audio-distilbert demo --retrain-teacher` trains it (about 30 min on 2 cores)")
        return SHIPPED_TEACHER
    source = corpus
    if plan.teacher_utterances_per_speaker != plan.utterances_per_speaker:
        source = speakers_corpus(workdir / "teacher-corpus", plan, plan.teacher_utterances_per_speaker)
        if _held_out(source.folder) != _held_out(corpus.folder):
            raise InputError(f"{source.folder}: holds out speakers {sorted(_held_out(source.folder))}, the demo corpus "
                             f"{sorted(_held_out(corpus.folder))}; delete one of them to rebuild it")
    return pretrain_and_export(workdir, "teacher", config_path("pretrain", "demo_teacher.yaml"), plan.teacher_steps,
                               source)


def _downstream_datarc(corpus: Path) -> str:
    d = "config.downstream_expert.datarc"
    return (f"{d}.libri_root={corpus / 'LibriSpeech'},,{d}.phone_path={corpus / 'cpc_phone'},,"
            f"{d}.bucket_file={corpus / 'len_for_bucket'}")


def finished(expdir: Path, steps: int) -> bool:
    """Whether a downstream run logged its final test evaluation (at step `steps`): a run killed before or during
    it is not finished, however far its training got."""
    return (expdir / "log.log").is_file() and steps in read_scores(expdir).get("test", {})


def phone_linear(workdir: Path, name: str, upstream: Upstream, plan: Plan, corpus: Step, seed: int,
                 layer: int | None = None) -> Path:
    """One phone_linear run (or the finished one); returns its experiment folder. `layer`: s3prl's `-l`, the
    probe on that hidden state alone instead of the learned weighted sum of all."""
    step = Step.of(workdir / "downstream" / name / f"seed-{seed}", kind="phone_linear", upstream=upstream.inputs(),
                   config=PHONE_CONFIG, steps=plan.phone_steps, eval_step=plan.phone_eval_step,
                   eval_batch=plan.phone_eval_batch, corpus=corpus, seed=seed, layer=layer)
    if step.prepare():
        if finished(step.folder, plan.phone_steps):
            return step.folder
        step.clear()  # an interrupted run: s3prl's runner would append to its log, so start it again
    run_step("downstream", "-m", "train", *upstream.flags(), *(["-l", str(layer)] if layer is not None else []),
             "-d", "phone_linear", "-c", str(PHONE_CONFIG), "-p", str(step.folder), "--device", "cpu",
             "--seed", str(seed), "--feature-cache", str(workdir / "feature-cache"),
             "-o", f"config.runner.total_steps={plan.phone_steps},,config.runner.eval_step={plan.phone_eval_step},,"
                   f"config.runner.save_step={plan.phone_eval_step},,"
                   f"config.runner.log_step={max(plan.phone_eval_step // 5, 1)},,{_downstream_datarc(corpus.folder)},,"
                   f"config.downstream_expert.datarc.eval_batch_size={plan.phone_eval_batch}",
             cwd=workdir)
    if not finished(step.folder, plan.phone_steps):
        raise StepFailed(f"[demo] {step.folder}: phone_linear ended without its step-{plan.phone_steps} test "
                                "evaluation in log.log")
    return step.folder


def evaluation_step(expdir: Path, name: str, corpus: Step, **inputs: object) -> Step:
    """The folder `expdir/name` of an `-m evaluate` of the finished run in `expdir` on `corpus`, keyed by that run's
    key, the corpus and `inputs`."""
    return Step.of(expdir / name, kind="evaluate", run=key_of(expdir), corpus=corpus, **inputs)


def test_accuracy(workdir: Path, expdir: Path, corpus: Step, name: str, options: Path | None = None) -> float:
    """The test accuracy on `corpus` of a run's best-dev model (s3prl's `-m evaluate`, its log in
    `expdir/name`), its upstream run with other expert options (`-g`) where `options` is given."""
    step = evaluation_step(expdir, name, corpus, options=options)
    log = step.folder / "log.log"
    if not (step.prepare() and log.is_file() and "test" in read_scores(step.folder)):
        step.clear()
        overrides = [f"args.expdir={step.folder}", _downstream_datarc(corpus.folder),
                     *([f"args.upstream_model_config={options}"] if options else [])]
        run_step("downstream", "-m", "evaluate", "-e", str(expdir / "best-states-dev.ckpt"), "-t", "test",
                 "--device", "cpu", "--feature-cache", str(workdir / "feature-cache"), "-o", ",,".join(overrides),
                 cwd=workdir)
    (accuracy,) = read_scores(step.folder)["test"].values()
    return accuracy


def unseen_synthesizer_corpus(workdir: Path, plan: Plan) -> Step | None:
    """Speakers of espeak-ng + MBROLA with ids and words of their own, all for testing; None (and why) where that
    synthesizer is not installed."""
    from distilbert_corpus.synthesizers import check_installed, make_speakers

    if not plan.unseen_speakers:
        return None
    try:
        check_installed(make_speakers(0, plan.unseen_speakers))
    except FileNotFoundError as error:
        print(f"[demo] no unseen-synthesizer test set, so that column is left out: {error}", flush=True)
        return None
    return corpus_step(workdir / "unseen-synthesizer-corpus", plan.text, 0, plan.unseen_utterances_per_speaker,
                       test_voices=None, mbrola_speakers=plan.unseen_speakers,
                       test_vocabulary="unseen", first_speaker_id=UNSEEN_FIRST_SPEAKER)


def model_upstreams(teacher: str | Path, student: str | Path) -> dict[str, Upstream]:
    """The demo's models (MODELS) as upstreams, by name."""
    return {"fbank": Upstream("fbank"), "teacher": Upstream("distilbert_local", Path(teacher)),
            "student": Upstream("distilbert_local", Path(student))}


def model_results(workdir: Path, name: str, upstream: Upstream, plan: Plan, corpus: Step, unseen: Step | None,
                  layer: int | None = None) -> tuple[dict, Path]:
    """One model's phone_linear figures over the plan's seeds, and its first seed's folder (for the curves)."""
    seeds = [FIRST_SEED + i for i in range(plan.seeds)]
    expdirs = [phone_linear(workdir, name, upstream, plan, corpus, seed, layer) for seed in seeds]
    runs = [read_results(expdir) for expdir in expdirs]
    if unseen is not None:
        for run, expdir in zip(runs, expdirs):
            run[on("unseen_synthesizer", "test_acc")] = test_accuracy(workdir, expdir, unseen, "unseen-synthesizer")
    result = {"seeds": seeds, "run_keys": [key_of(expdir) for expdir in expdirs]}  # the steps the figures come from
    for key in ("best_dev_acc", *(on(t, "test_acc") for t in TEST_SETS if on(t, "test_acc") in runs[0])):
        result |= over_seeds(runs, key)
    return result, expdirs[0]


def _asr_data(corpus: Path) -> str:
    d = "config.downstream_expert.datarc"
    return (f"{d}.libri_root={corpus / 'LibriSpeech'},,{d}.bucket_file={corpus / 'asr'},,"
            f"{d}.dict_path={corpus / 'asr' / 'char.dict'}")


def _pr_data(corpus: Path) -> str:
    d = "config.downstream_expert"
    return f"{d}.corpus.csv_dir={corpus / PR_FOLDER},,{d}.text.vocab_file={corpus / PR_FOLDER / PR_VOCABULARY}"


@dataclass(frozen=True)
class CtcTask:
    """A task of s3prl's that trains a CTC recognizer on the features and writes its hypotheses: asr (WER, CER) and
    SUPERB phoneme recognition, `pr` (s3prl's ctc downstream, PER). Its plan settings are `<name>_steps`,
    `<name>_eval_step` and `<name>_seeds`."""

    name: str  # results.json's tasks.<name>, the step kind and the folder under downstream/
    downstream: str  # s3prl's -d
    config: Path
    best: str  # the checkpoint s3prl saves on a new lowest dev error rate
    test_split: str
    data: Callable[[Path], str]  # the -o overrides that point the task at a corpus folder
    rates: Callable[[Path, str], dict[str, float]]  # the error rates of an evaluated folder and split
    metric: str  # the one of `rates` that retention and the paired differences are of

    def steps(self, plan: Plan) -> int:
        return getattr(plan, f"{self.name}_steps")


ASR = CtcTask("asr", "asr", ASR_CONFIG, "dev-clean-best.ckpt", "test-clean", _asr_data, read_error_rates, "wer")
PR = CtcTask("pr", "ctc", PR_CONFIG, "dev-best.ckpt", "test", _pr_data,
             lambda expdir, split: {"per": read_phone_error_rate(expdir, split)}, "per")
CTC_TASKS = (PR, ASR)


def ctc_run(workdir: Path, task: CtcTask, name: str, upstream: Upstream, plan: Plan, corpus: Step, seed: int) -> Path:
    """One run of a CTC task (or the finished one); returns its experiment folder. Finished when its last
    checkpoint, saved after the last dev evaluation, exists."""
    steps, eval_step = task.steps(plan), getattr(plan, f"{task.name}_eval_step")
    step = Step.of(workdir / "downstream" / task.name / name / f"seed-{seed}", kind=task.name,
                   upstream=upstream.inputs(), config=task.config, steps=steps, eval_step=eval_step, corpus=corpus,
                   seed=seed)
    last = step.folder / f"states-{steps}.ckpt"
    if step.prepare():
        if last.is_file():
            return step.folder
        step.clear()
    run_step("downstream", "-m", "train", *upstream.flags(), "-d", task.downstream, "-c", str(task.config),
             "-p", str(step.folder), "--device", "cpu", "--seed", str(seed),
             "--feature-cache", str(workdir / "feature-cache"),
             "-o", f"config.runner.total_steps={steps},,config.runner.eval_step={eval_step},,"
                   f"config.runner.save_step={eval_step},,config.runner.log_step={max(eval_step // 5, 1)},,"
                   f"{task.data(corpus.folder)}",
             cwd=workdir)
    if not last.is_file():
        raise StepFailed(f"[demo] {step.folder}: {task.name} ended without its last checkpoint {last.name}")
    return step.folder


def ctc_error_rates(workdir: Path, task: CtcTask, expdir: Path, corpus: Step, name: str, steps: int) -> dict[str, float]:
    """The error rates on `corpus`'s test split of a run's best-dev model (s3prl's `-m evaluate`, in `expdir/name`):
    the checkpoint that s3prl saves on a new lowest dev error rate, or the last one where none was saved."""
    best = expdir / task.best
    model = best if best.is_file() else expdir / f"states-{steps}.ckpt"
    step = evaluation_step(expdir, name, corpus, model=model.name)
    if not (step.prepare() and (step.folder / EVALUATED).is_file()):
        step.clear()
        run_step("downstream", "-m", "evaluate", "-e", str(model), "-t", task.test_split, "--device", "cpu",
                 "--feature-cache", str(workdir / "feature-cache"),
                 "-o", f"args.expdir={step.folder},,{task.data(corpus.folder)}", cwd=workdir)
        atomic_write_text(step.folder / EVALUATED, json.dumps(task.rates(step.folder, task.test_split)) + "\n")
    return json.loads((step.folder / EVALUATED).read_text())


def error_retentions(teacher: list[float], student: list[float]) -> list[float | None]:
    """Teacher error rate / student error rate seed by seed (> 1: the student errs less); 1 where both are 0, None
    (no ratio) where only the student's is."""
    return [t / s if s else (1.0 if t == 0 else None) for t, s in zip(teacher, student)]


def ctc_results(workdir: Path, task: CtcTask, upstreams: dict[str, Upstream], plan: Plan, corpus: Step,
                unseen: Step | None) -> dict:
    """`tasks.<name>` of results.json: each model's test error rates over the task's seeds (held-out speakers, and
    the unseen synthesizer); per test set the student minus the teacher seed by seed (`paired`), and the retention
    teacher / student of the task's metric (> 1: the student errs less) per seed."""
    seeds = [FIRST_SEED + i for i in range(getattr(plan, f"{task.name}_seeds"))]
    models = {}
    for name in MODELS:
        runs = []
        for seed in seeds:
            expdir = ctc_run(workdir, task, name, upstreams[name], plan, corpus, seed)
            run = {}
            for test_set, data in (("held_out", corpus), ("unseen_synthesizer", unseen)):
                if data is not None:
                    rates = ctc_error_rates(workdir, task, expdir, data, test_set.replace("_", "-"), task.steps(plan))
                    run |= {on(test_set, f"test_{metric}"): value for metric, value in rates.items()}
            runs.append(run)
        models[name] = {"seeds": seeds}
        for key in runs[0]:
            models[name] |= over_seeds(runs, key)
    metrics = [key.removeprefix("test_") for key in runs[0] if key.startswith("test_")]
    result: dict = {"models": models, "metric": task.metric, "metrics": metrics, "paired": {"student_minus_teacher": {}}}
    for test_set in TEST_SETS[: 2 if unseen is not None else 1]:
        key = on(test_set, f"test_{task.metric}")
        teacher, student = models["teacher"][f"{key}s"], models["student"][f"{key}s"]
        differences = [s - t for s, t in zip(student, teacher)]
        mean, std = mean_std(differences)
        result["paired"]["student_minus_teacher"][test_set] = {"mean": mean, "std": std, "values": differences}
        ratios = error_retentions(teacher, student)
        known = [r for r in ratios if r is not None]
        result[on(test_set, "retention")], result[on(test_set, "retention_std")] = mean_std(known) if known else (None, None)
        result[on(test_set, "retentions")] = ratios
    return result


def _precision_results(workdir: Path, plan: Plan, corpus: Step, student: Path, precisions: tuple[str, ...],
                       fp32: list[float]) -> dict:
    """The student at each of `precisions` (bf16, int8: `precision:` in the expert options, s3prl's `-g`): its fp32
    phone_linear heads tested on features computed at that precision (same head), and heads trained on those
    features with the same seeds (retrained); each with its difference to `fp32` (the student's test accuracies)
    seed by seed. bf16 is None where the CPU lacks it."""
    import torch

    from upstream_distilbert.precision import bf16_supported

    seeds = [FIRST_SEED + i for i in range(plan.seeds)]
    fp32_runs = [workdir / "downstream" / "student" / f"seed-{seed}" for seed in seeds]
    results: dict = {}
    for precision in precisions:
        if precision == "bf16" and not bf16_supported(torch.device("cpu")):
            print("[demo] this CPU has no bf16 (AVX512-BF16 or AMX), so the bf16 row is left out", flush=True)
            results[precision] = None
            continue
        options = workdir / f"expert-{precision}.yaml"
        atomic_write_text(options, f"precision: {precision}\n")
        same_head = [test_accuracy(workdir, expdir, corpus, f"test-{precision}", options) for expdir in fp32_runs]
        upstream = Upstream("distilbert_local", student, options)
        retrained = [read_results(phone_linear(workdir, f"student-{precision}", upstream, plan, corpus, seed))["test_acc"]
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


def make_plan(quick: bool = False, retrain_teacher: bool = False, seeds: int | None = None,
              text: str | None = None) -> Plan:
    """The full or quick plan with the command line's changes."""
    plan = QUICK if quick else FULL
    if retrain_teacher:
        plan = replace(plan, train_teacher=True)
    if seeds is not None:
        if seeds < 1:
            raise InputError(f"--seeds {seeds}: expected at least 1 phone_linear seed per model")
        plan = replace(plan, seeds=seeds)
    if text is not None:
        plan = replace(plan, text=text)
    return plan


def plan_file(workdir: Path, results: dict, name: str) -> Path:
    """The teacher's or student's file that a results.json of `workdir` names (relative to it; older files name an
    absolute path, which this keeps)."""
    return workdir / results["plan"][f"{name}_file"]


def student_config(workdir: Path, teacher: Path) -> Path:
    """demo_student.yaml distilling from `teacher`, written to the workdir."""
    config = yaml.safe_load(config_path("pretrain", "demo_student.yaml").read_text())
    config["teacher"]["ckpt"] = str(teacher)
    return atomic_write_text(workdir / "student.yaml", yaml.safe_dump(config))


def run_demo(workdir: str | Path, plan: Plan, quick: bool = False, precisions: tuple[str, ...] = ()) -> dict:
    started = time.monotonic()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = speakers_corpus(workdir / "corpus", plan, plan.utterances_per_speaker)
    teacher = _teacher(workdir, plan, corpus)
    student = pretrain_and_export(workdir, "student", student_config(workdir, teacher), (plan.student_steps,), corpus,
                                  plan.student_lr, teacher=teacher)
    unseen = unseen_synthesizer_corpus(workdir, plan)
    upstreams = model_upstreams(teacher, student)
    models, first_runs = {}, {}
    for name in MODELS:
        models[name], first_runs[name] = model_results(workdir, name, upstreams[name], plan, corpus, unseen)
    for name, measured in _timing(teacher, student, corpus.folder, plan.timing_rounds).items():
        models[name].update(measured)
    results = {
        "provenance": provenance(),
        # the model files relative to the work folder (`plan_file` reads them back)
        "plan": asdict(plan) | {"quick": quick, "teacher_file": relative(teacher, workdir),
                                "student_file": relative(student, workdir),
                                "teacher_sha256": file_digest(teacher), "student_sha256": file_digest(student)},
        "models": models,
        "size_ratio": models["teacher"]["params"] / models["student"]["params"],
        "speedup": models["teacher"]["seconds_per_audio_second"] / models["student"]["seconds_per_audio_second"],
    } | paired(models["student"], models["teacher"])
    tasks = {task.name: ctc_results(workdir, task, upstreams, plan, corpus, unseen)
             for task in CTC_TASKS if task.steps(plan)}
    if tasks:
        results["tasks"] = tasks
    if precisions:
        results["precisions"] = _precision_results(workdir, plan, corpus, student, precisions,
                                                   models["student"]["test_accs"])
    results["provenance"]["seconds"] = round(time.monotonic() - started)  # this run's wall time, reused steps and all
    atomic_write_text(workdir / "results.json", json.dumps(results, indent=2) + "\n")
    figure(workdir, results, first_runs)
    return results
