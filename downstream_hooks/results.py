"""Read a downstream experiment's `log.log` (s3prl's phone tasks) into a result: the best dev accuracy and the
test accuracy at that step, the way s3prl reports phone classification."""
from __future__ import annotations

import math
import re
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
