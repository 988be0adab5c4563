"""Run by test_s3prl_runners' downstream save test: `audio-distilbert ARGS` in which the torch.save of a file whose
name holds KILL_AT_SAVE writes half of its bytes and then ends the process at once, as a kill at that moment would."""
import io
import os
import sys

import torch

real_save = torch.save


def save(obj, f, *args, **kwargs):
    name = str(f) if isinstance(f, (str, os.PathLike)) else os.readlink(f"/proc/self/fd/{f.fileno()}")
    if os.environ["KILL_AT_SAVE"] in os.path.basename(name):
        data = io.BytesIO()
        real_save(obj, data, *args, **kwargs)
        file = open(f, "wb") if isinstance(f, (str, os.PathLike)) else f
        file.write(data.getvalue()[: len(data.getvalue()) // 2])
        file.flush()
        os._exit(137)
    return real_save(obj, f, *args, **kwargs)


torch.save = save

from distilbert_cli.main import main  # noqa: E402 - after the kill is in place

sys.exit(main(sys.argv[1:]))
