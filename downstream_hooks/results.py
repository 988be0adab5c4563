"""Read what s3prl's runners log: a downstream experiment's `log.log` (s3prl's phone tasks) into a result, the
best dev accuracy and the test accuracy at that step, the way s3prl reports phone classification; and the
TensorBoard scalars of any run (training curves)."""
from __future__ import annotations

import math
import re
import struct
from pathlib import Path

# e.g. "best|libri_phone/dev-|step:500|acc:0.547" (the "best|" mark is optional)
_LINE = re.compile(r"^(?:best\|)?(?P<task>\w+)/(?P<split>\w+)-\|step:(?P<step>\d+)\|acc:(?P<acc>\S+)$")


def read_scores(expdir: str | Path) -> dict[str, dict[int, float]]:
    """{split: {step: accuracy}} from `expdir/log.log` (NaN entries, s3prl's mark of an empty split, skipped)."""
    log = Path(expdir) / "log.log"
    if not log.is_file():
        raise FileNotFoundError(f"{log}: no such log; is {expdir} a run_downstream.py experiment folder?")
    scores: dict[str, dict[int, float]] = {}
    for line in log.read_text().splitlines():
        match = _LINE.match(line.strip())
        if match and not math.isnan(float(match["acc"])):
            scores.setdefault(match["split"], {})[int(match["step"])] = float(match["acc"])
    return scores


def read_results(expdir: str | Path) -> dict:
    """{best_dev_acc, best_dev_step, test_acc, last_step} from `expdir/log.log`; errors name the file."""
    log = Path(expdir) / "log.log"
    scores = read_scores(expdir)
    dev, test = scores.get("dev", {}), scores.get("test", {})
    if not dev:
        raise ValueError(f"{log}: no dev accuracy lines with a number (expected '<task>/dev-|step:N|acc:X')")
    best_step = max(dev, key=lambda step: (dev[step], -step))
    if best_step not in test:
        raise ValueError(f"{log}: no test accuracy at step {best_step}, the best dev step (eval_dataloaders needs test)")
    return {"best_dev_acc": dev[best_step], "best_dev_step": best_step, "test_acc": test[best_step],
            "last_step": max(max(s) for s in scores.values())}


def read_scalars(expdir: str | Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} from every TensorBoard event file in `expdir` (what s3prl's runners log).

    Event files are TFRecords (length, its CRC, the serialized Event, its CRC); the Event message is
    tensorboardX's own protobuf class, which s3prl's runners write with.
    """
    from tensorboardX.proto.event_pb2 import Event

    files = sorted(Path(expdir).glob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"{expdir}: no TensorBoard event files (events.out.tfevents.*)")
    scalars: dict[str, dict[int, float]] = {}
    for path in files:
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):
            (size,) = struct.unpack_from("<Q", data, offset)
            if offset + 12 + size + 4 > len(data):
                break  # a record still being written by a live run
            event = Event.FromString(data[offset + 12 : offset + 12 + size])
            offset += 12 + size + 4
            for value in event.summary.value:
                if value.WhichOneof("value") == "simple_value":
                    scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars
