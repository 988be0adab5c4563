"""Run by test_distributed: `audio-distilbert ARGS` with a spy on our atomic writer, which prints every file it
writes with the torchrun rank that wrote it, so a test can see who saved what through which writer."""
import os
import sys

from upstream_distilbert import checkpoint

real_atomic_save = checkpoint.atomic_save


def spy(obj, path):
    print(f"ATOMIC_SAVE rank={os.environ.get('RANK', '-')} {path}", flush=True)
    return real_atomic_save(obj, path)


checkpoint.atomic_save = spy

from distilbert_cli.main import main  # noqa: E402 - after the spy is in place

sys.exit(main(sys.argv[1:]))
