"""The `audio-distilbert` command: one subcommand per job, each with --help.

Each subcommand imports what it needs when it runs, so `--help` and the torch-free jobs (`corpus`, `prepare`,
`s3prl`) start fast. A user's mistake (a missing file, a bad value, a refused action) ends with exit status 2 and
the message alone; `--debug` shows the traceback too.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upstream_distilbert.errors import InputError, UserError


def _s3prl(args: argparse.Namespace) -> None:
    from downstream_hooks import registration

    if args.action == "install":
        print(registration.install(force=args.force).describe())
    else:
        print(getattr(registration, args.action)().describe())


def _export(args: argparse.Namespace) -> None:
    from distilbert_pretrain.export import student_of_states, teacher_record
    from upstream_distilbert.checkpoint import STUDENT_FORMAT, load_student, read_checkpoint, save_student

    if not (args.output or args.onnx):
        raise InputError("export: nothing to write; give -o STUDENT_CKPT, --onnx FILE.onnx, or both")
    if Path(args.states).is_dir():  # a run folder: its checkpoint with the most steps
        from upstream_distilbert.s3prl_states import newest_states

        args.states = str(newest_states(args.states))
        print(f"exporting {args.states}")
    try:
        ours = read_checkpoint(args.states)
    except ValueError:  # not weights-only readable as ours: an s3prl states file (read with its allow-list)
        ours = {}
    if ours.get("format") == STUDENT_FORMAT:
        model, teacher = load_student(args.states), ours.get("teacher")
    else:
        model, teacher = student_of_states(args.states), teacher_record(args.states)
    if args.output:
        print(f"wrote {save_student(model, args.output, teacher)}")
    if args.onnx:
        from upstream_distilbert.onnx_export import export_onnx

        print(f"wrote {export_onnx(model.eval(), args.onnx, args.int8)}"
              f" ({'int8 weights' if args.int8 else 'fp32'}; inputs features, mask; outputs hidden_state_0.."
              f"{model.config.transformer.num_hidden_layers})")


def _convert(args: argparse.Namespace) -> None:
    from upstream_distilbert.mockingjay_states import convert_states

    audio = None
    if args.audio_config:
        import yaml

        from upstream_distilbert.errors import MissingError

        if not Path(args.audio_config).is_file():
            raise MissingError(f"--audio-config {args.audio_config}: no such file")
        audio = yaml.safe_load(Path(args.audio_config).read_text())
        audio = audio.get("audio", audio) if isinstance(audio, dict) else audio
    model = convert_states(args.states, args.output, args.trust_pickle, audio)
    t = model.config.transformer
    print(f"wrote {args.output}: {t.num_hidden_layers} layers x {t.hidden_size}"
          f"{', one shared layer' if t.share_layer else ''}, {'pre' if t.pre_layer_norm else 'post'}-LN, "
          f"{model.config.audio.feature_dim}-dim fbank in, chunk {model.config.sequence_length} frames; "
          f"load it with distilbert_local (weights_only=True)")


def _voices(value: str) -> int | tuple[str, ...]:
    """`--test-voices`: a count (`2`) or persons by name (`awb,kal`)."""
    return int(value) if value.isdigit() else tuple(v for v in value.split(",") if v)


def _corpus(args: argparse.Namespace) -> None:
    from distilbert_corpus.corpus import build_corpus

    report = build_corpus(args.out, args.speakers, args.utterances_per_speaker, args.seed, args.jobs,
                          test_voices=None if args.test_only else _voices(args.test_voices),
                          mbrola_speakers=args.mbrola_speakers, festival_speakers=args.festival_speakers,
                          text=args.text, test_vocabulary=args.test_vocabulary,
                          first_speaker_id=args.first_speaker_id)
    print(f"{report.utterances} utterances ({report.seconds / 60:.1f} min) in {args.out}; {report.dropped} dropped "
          f"(labels and audio disagreed by more than 2 frames); train speakers {list(report.train_speakers)}, "
          f"held-out test speakers {list(report.test_speakers)}")


def _demo(args: argparse.Namespace) -> None:
    from .demo import make_plan, run_demo
    from .report import table

    precisions = () if args.precisions is None else tuple(dict.fromkeys(args.precisions or ("bf16", "int8")))
    plan = make_plan(args.quick, args.retrain_teacher, args.seeds, args.text)
    results = run_demo(args.workdir, plan, args.quick, precisions)
    print(table(results))
    print(f"wrote {Path(args.workdir) / 'results.json'} and {Path(args.workdir) / 'results.png'}")


def _prepare(args: argparse.Namespace) -> None:
    from distilbert_corpus.prepare import check_cpc_phone, prepare_length_csvs

    for name, path in prepare_length_csvs(args.root, args.out).items():
        print(f"{name}: {path}")
    if args.phones:
        print(f"{args.phones}: {check_cpc_phone(args.root, args.phones)} utterances match their audio")


def _extract(args: argparse.Namespace) -> None:
    from .extract import extract

    written, skipped = extract(args.ckpt, args.wav_dir, args.out, args.layer, args.precision)
    print(f"wrote {written} files under {args.out}; {skipped} already there were kept")


def _results(args: argparse.Namespace) -> None:
    import json

    from downstream_hooks.results import read_results

    text = json.dumps(read_results(args.expdir), indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)


def _bench(args: argparse.Namespace) -> None:
    from distilbert_benchmarks import speed

    speed.run(args)


# Subcommands that hand every flag to s3prl's runner (runners.run_<name>); argparse cannot pass such flags on.
PASSTHROUGH = ("downstream", "pretrain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audio-distilbert", description="Audio DistilBERT: distil speech transformers inside s3prl.",
        epilog="--debug (anywhere): show the traceback of an error, not just its message",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "s3prl",
        help="register the plugin in the installed s3prl (for its literal run_pretrain.py and run_downstream.py), undo it, or show it",
        description="install: make `python run_downstream.py -u distilbert_local` and `python run_pretrain.py -u "
        "distilbert` (run from the s3prl package folder) and `s3prl.hub.distilbert_local` work; uninstall: restore "
        "s3prl's files exactly; status: show. Files you edited there are never overwritten or deleted.",
    )
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.add_argument("--force", action="store_true", help="install into an s3prl version other than the supported one")
    p.set_defaults(func=_s3prl)

    sub.add_parser(
        "downstream", help="s3prl's run_downstream.py with the same flags, from any directory (--help shows them)"
    )
    sub.add_parser(
        "pretrain", help="s3prl's run_pretrain.py with the same flags, from any directory (--help shows them)"
    )
    p = sub.add_parser("export", help="write the student of a distilbert states-N.ckpt as a student file, or "
                                      "a student as ONNX")
    p.add_argument("states", help="a states-N.ckpt of `run_pretrain.py -u distilbert` or its run folder (the checkpoint "
                                  "with the most steps), or a student file (for --onnx)")
    p.add_argument("-o", "--output", help="the student file to write (student.ckpt)")
    p.add_argument("--onnx", help="also write the encoder as ONNX (features and padding mask in, every hidden state "
                                  "out; dynamic batch and time)")
    p.add_argument("--int8", action="store_true", help="with --onnx: ONNX Runtime's int8 dynamic quantization of "
                                                      "the weights")
    p.set_defaults(func=_export)

    p = sub.add_parser("convert", help="an s3prl mockingjay/tera/audio_albert states-N.ckpt as our weights-only file",
                       description="Encoder, reconstruction head and config of a checkpoint of s3prl's `run_pretrain.py "
                       "-u mockingjay|tera|audio_albert` (on kaldi fbank), written in the student format: it loads with "
                       "`distilbert_local` and serves as a teacher with prediction distillation.")
    p.add_argument("states", help="the s3prl states-N.ckpt")
    p.add_argument("-o", "--output", required=True, help="the file to write (teacher.ckpt)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="unpickle the whole file (older released checkpoints need it); runs code the file names, so "
                        "only for files you trust. Without it the file is read weights-only.")
    p.add_argument("--audio-config", help="yaml with s3prl's `audio:` settings (kaldi/delta/cmvn), for a checkpoint "
                   "that records none (s3prl passes such released files an on-the-fly config)")
    p.set_defaults(func=_convert)

    p = sub.add_parser("corpus", help="the built-in synthesized corpus with exact phone labels (flite, MBROLA, festival)")
    p.add_argument("out", help="output folder: LibriSpeech/ (audio, transcripts), cpc_phone/, len_for_bucket/, asr/")
    p.add_argument("--speakers", type=int, default=8, help="flite voices x pitch/rate variants (1..12)")
    p.add_argument("--mbrola-speakers", type=int, default=0,
                   help="extra espeak-ng + MBROLA speakers (0..9); `bash scripts/dev.sh mbrola` installs them")
    p.add_argument("--festival-speakers", type=int, default=0,
                   help="extra festival speakers (kal, rab, ked; 0..9), training voices unless one is a held-out "
                        "flite voice's person (kal)")
    p.add_argument("--test-voices", default="2",
                   help="voices held out for testing: a count drawn by the seed from the flite and MBROLA voices, "
                        "or names (awb,kal: the demo's); every speaker of such a voice (any pitch, rate or engine) "
                        "is a test speaker, the others train")
    p.add_argument("--test-only", action="store_true",
                   help="every speaker is a test speaker (a test set of its own, e.g. --mbrola-speakers 6 "
                        "--speakers 0 --test-vocabulary unseen, as the demo's unseen-synthesizer set)")
    p.add_argument("--utterances-per-speaker", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes")
    p.add_argument("--text", choices=["open", "grammar"], default="open",
                   help="open: sentences of about 18,400 frequent English words, the held-out speakers' from words "
                        "no training sentence has; grammar: the original 140-word grammar (earlier figures)")
    p.add_argument("--test-vocabulary", choices=["held_out", "unseen"], default="held_out",
                   help="the open text's vocabulary of the held-out speakers (unseen: the demo's unseen-synthesizer "
                        "test set)")
    p.add_argument("--first-speaker-id", type=int, default=100, help="speaker ids count up from here")
    p.set_defaults(func=_corpus)

    p = sub.add_parser("demo", help="the whole job on the built-in corpus: teacher, student, phone_linear, timing")
    p.add_argument("--workdir", default="demo", help="where everything goes (a finished step is reused)")
    p.add_argument("--quick", action="store_true", help="a tiny version for tests (a few minutes)")
    p.add_argument("--retrain-teacher", action="store_true",
                   help="train the teacher here (about 30 min on 2 cores) instead of using the shipped one")
    p.add_argument("--seeds", type=int,
                   help="phone_linear seeds per model (default: 3, with --quick 2); figures are mean ± std over them")
    p.add_argument("--precisions", nargs="*", choices=["bf16", "int8"], metavar="{bf16,int8}",
                   help="also the student at these precisions (none named: both): its heads on those features, and "
                        "heads trained on them")
    p.add_argument("--text", choices=["open", "grammar"],
                   help="what the corpus's speakers read (default open; grammar reproduces the earlier figures)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("prepare", help="s3prl's length CSVs (<set>.csv) for a LibriSpeech-layout folder")
    p.add_argument("root", help="LIBRISPEECH_ROOT, holding <set>/<speaker>/<chapter>/<utterance>.flac")
    p.add_argument("--out", required=True, help="folder for the CSVs (s3prl's len_for_bucket)")
    p.add_argument("--phones", help="also check this cpc_phone folder against the audio")
    p.set_defaults(func=_prepare)

    p = sub.add_parser("extract", help="the student's representations of every utterance in a folder")
    p.add_argument("--ckpt", required=True, help="student file (audio-distilbert export)")
    p.add_argument("--wav-dir", required=True, help="folder searched recursively for .flac/.wav")
    p.add_argument("--out", required=True, help="folder for one .pt per utterance (those already there are kept)")
    p.add_argument("--layer", type=int, help="keep only this hidden state (0 = input embedding; default: all)")
    p.add_argument("--precision", default="fp32",
                   help="fp32 | bf16 (where the CPU has it) | int8 (CPU): the encoder's precision; files stay float32")
    p.set_defaults(func=_extract)

    p = sub.add_parser("results", help="a phone task's log.log as JSON: best dev accuracy, test accuracy there")
    p.add_argument("expdir", help="the run_downstream.py experiment folder (-p)")
    p.add_argument("--json", help="also write the JSON here")
    p.set_defaults(func=_results)

    p = sub.add_parser("bench", help="size, FLOPs, speed and efficiency of teacher and student, in one run")
    p.add_argument("--teacher", required=True, help="teacher checkpoint: a student file or s3prl Mockingjay states")
    p.add_argument("--teacher-expert", help="s3prl hub entry for the teacher (default: detected)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="let s3prl unpickle a teacher file that holds more than weights (runs code the file names; "
                        "only for files you trust). Without it the file is read weights-only first, and refused")
    p.add_argument("--student", required=True, help="student file (audio-distilbert export)")
    p.add_argument("--seconds", type=float, default=30.0, help="longest input measured (of 1, 10, 30 s)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per point (median), after one warm-up")
    p.add_argument("--json", help="write the results here")
    p.set_defaults(func=_bench)
    return parser


def _run(argv: list[str]) -> None:
    if argv and argv[0] in PASSTHROUGH:
        from downstream_hooks import runners

        getattr(runners, f"run_{argv[0]}")(argv[1:])
        return
    args = build_parser().parse_args(argv)
    args.func(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        _run(argv)
    except UserError as error:  # the input is at fault; anything else is a bug of ours: its traceback shows
        if debug:
            raise
        print(f"audio-distilbert: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
