"""Read what s3prl's runners log: a downstream experiment's `log.log` (s3prl's phone tasks) into a result, the
best dev accuracy and the test accuracy at that step, the way s3prl reports phone classification; the hypotheses
and references that s3prl's asr task writes, as error rates; and the TensorBoard scalars of any run (curves)."""
from __future__ import annotations

import math
import re
import struct
from pathlib import Path

from upstream_distilbert.errors import InputError, MissingError

# e.g. "best|libri_phone/dev-|step:500|acc:0.547" (the "best|" mark is optional)
_LINE = re.compile(r"^(?:best\|)?(?P<task>\w+)/(?P<split>\w+)-\|step:(?P<step>\d+)\|acc:(?P<acc>\S+)$")


def read_scores(expdir: str | Path) -> dict[str, dict[int, float]]:
    """{split: {step: accuracy}} from `expdir/log.log` (NaN entries, s3prl's mark of an empty split, skipped)."""
    log = Path(expdir) / "log.log"
    if not log.is_file():
        raise MissingError(f"{log}: no such log; is {expdir} a run_downstream.py experiment folder?")
    scores: dict[str, dict[int, float]] = {}
    for line in log.read_text().splitlines():
        match = _LINE.match(line.strip())
        if match and not math.isnan(float(match["acc"])):
            scores.setdefault(match["split"], {})[int(match["step"])] = float(match["acc"])
    return scores


def read_results(expdir: str | Path) -> dict:
    """{best_dev_acc, best_dev_step, test_acc, last_step} from `expdir/log.log`, `last_step` the last step with a
    test evaluation (not a training log line: a run killed during its final evaluation has not reached it);
    errors name the file."""
    log = Path(expdir) / "log.log"
    scores = read_scores(expdir)
    dev, test = scores.get("dev", {}), scores.get("test", {})
    if not dev:
        raise InputError(f"{log}: no dev accuracy lines with a number (expected '<task>/dev-|step:N|acc:X')")
    best_step = max(dev, key=lambda step: (dev[step], -step))
    if best_step not in test:
        raise InputError(f"{log}: no test accuracy at step {best_step}, the best dev step (eval_dataloaders needs test)")
    return {"best_dev_acc": dev[best_step], "best_dev_step": best_step, "test_acc": test[best_step],
            "last_step": max(test)}


def _hypotheses(expdir: str | Path, stem: str, task: str) -> tuple[dict[str, str], dict[str, str]]:
    """(hypotheses, references) by utterance from `<stem>-hyp.ark` and `<stem>-ref.ark` (`<utterance> TOKENS`)."""
    def lines(kind: str) -> dict[str, str]:
        path = Path(expdir) / f"{stem}-{kind}.ark"
        if not path.is_file():
            raise MissingError(f"{path}: no such file; did s3prl's {task} evaluate into {expdir}?")
        return dict((line.split(" ", 1) + [""])[:2] for line in path.read_text().splitlines() if line.strip())

    hyp, ref = lines("hyp"), lines("ref")
    if not ref or hyp.keys() != ref.keys():
        raise InputError(f"{expdir}: {stem} hypotheses and references cover different utterances "
                         f"({len(hyp)} and {len(ref)})")
    return hyp, ref


def token_error_rate(hyp: dict[str, str], ref: dict[str, str]) -> float:
    """Edit distance over the space-separated tokens of the references, summed over utterances as SUPERB does."""
    import editdistance

    return sum(editdistance.eval(hyp[u].split(), ref[u].split()) for u in ref) / sum(len(r.split()) for r in ref.values())


def read_error_rates(expdir: str | Path, split: str) -> dict[str, float]:
    """{wer, cer} (fractions) of s3prl asr's `<split>-noLM-hyp.ark` against `<split>-noLM-ref.ark` in `expdir`
    (one `<utterance> WORDS` line each): word and character edit distances over the reference's words and
    characters (spaces included), summed over utterances as SUPERB does."""
    import editdistance

    hyp, ref = _hypotheses(expdir, f"{split}-noLM", "asr")
    chars = sum(editdistance.eval(" ".join(hyp[u].split()), " ".join(ref[u].split())) for u in ref)
    return {"wer": token_error_rate(hyp, ref), "cer": chars / sum(len(" ".join(r.split())) for r in ref.values())}


def read_phone_error_rate(expdir: str | Path, split: str) -> float:
    """The phone error rate (a fraction) of s3prl ctc's `<split>-hyp.ark` against `<split>-ref.ark` in `expdir`
    (`<utterance> PH1 PH2 ...`): phone edit distance over the reference's phones, summed over utterances."""
    return token_error_rate(*_hypotheses(expdir, split, "ctc"))


def read_scalars(expdir: str | Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} from every TensorBoard event file in `expdir` (what s3prl's runners log).

    Event files are TFRecords (length, its CRC, the serialized Event, its CRC); the Event message is
    tensorboardX's own protobuf class, which s3prl's runners write with.
    """
    from tensorboardX.proto.event_pb2 import Event

    files = sorted(Path(expdir).glob("events.out.tfevents.*"))
    if not files:
        raise MissingError(f"{expdir}: no TensorBoard event files (events.out.tfevents.*)")
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
