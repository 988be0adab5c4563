"""The `audio-distilbert` command: one subcommand per job, each with --help."""
from __future__ import annotations

import argparse
import sys

from . import registration


def _s3prl(args: argparse.Namespace) -> int:
    action = {"install": registration.install, "uninstall": registration.uninstall, "status": registration.status}
    print(action[args.action]().describe())
    return 0


def _downstream(argv: list[str]) -> int:
    from .runners import run_downstream

    run_downstream(argv)
    return 0


def _pretrain(argv: list[str]) -> int:
    from .runners import run_pretrain

    run_pretrain(argv)
    return 0


def _export(args: argparse.Namespace) -> int:
    from distilbert_pretrain.export import export_student

    path = export_student(args.states, args.output)
    print(f"wrote {path}")
    return 0


# Subcommands that hand every flag to an s3prl runner; argparse cannot pass through flags that start with "-".
PASSTHROUGH = {"downstream": _downstream, "pretrain": _pretrain}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audio-distilbert", description="Audio DistilBERT: distil speech transformers inside s3prl."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "s3prl",
        help="register the plugin in the installed s3prl (for its literal run_*.py commands), undo it, or show it",
        description="install: make `python run_downstream.py -u distilbert_local` (run from the s3prl package "
        "folder) and `s3prl.hub.distilbert_local` work; uninstall: restore s3prl's files exactly; status: show.",
    )
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.set_defaults(func=_s3prl)

    sub.add_parser(
        "downstream", help="s3prl's run_downstream.py with the same flags, from any directory (--help shows them)"
    )
    sub.add_parser(
        "pretrain", help="s3prl's run_pretrain.py with the same flags, from any directory (--help shows them)"
    )
    p = sub.add_parser("export", help="write the student of a distilbert states-N.ckpt as a student file")
    p.add_argument("states", help="a states-N.ckpt of `run_pretrain.py -u distilbert`")
    p.add_argument("-o", "--output", required=True, help="the student file to write (student.ckpt)")
    p.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PASSTHROUGH:
        return PASSTHROUGH[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
