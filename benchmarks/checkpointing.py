"""Gradient checkpointing for long sequences: the peak memory and the time of one masked-acoustic-modelling
training step (forward, backward, optimizer step) at 1500 and 3000 frames, with and without recomputing attention
in the backward pass (`transformer.gradient_checkpointing`). Memory is the rise of the process's resident set during
the step, measured after a warm-up step (so the optimizer's state already exists on both sides), each in a fresh
process (`isolated_peak_memory_mib`)."""
from __future__ import annotations

from .timing import interleaved_medians, isolated_peak_memory_mib
from .training import distillation_step

FRAMES = (1500, 3000)


def checkpointing(ckpt: str, frames: tuple[int, ...] = FRAMES, batch: int = 1, repeats: int = 3) -> dict:
    """Per frame count: peak MiB and median seconds of the step of the model in `ckpt` without (`off`) and with
    (`on`) gradient checkpointing, and the ratios on / off."""
    doc: dict = {"batch": batch, "frames": {}}
    for length in frames:
        steps = {mode: distillation_step(None, ckpt, batch, length, gradient_checkpointing=mode == "on")
                 for mode in ("off", "on")}
        seconds = interleaved_medians(steps, repeats)
        del steps
        point = {mode: {"peak_memory_mib": isolated_peak_memory_mib(distillation_step, None, ckpt, batch, length,
                                                                     mode == "on"),
                        "seconds": seconds[mode]}
                 for mode in ("off", "on")}
        point["memory_ratio"] = point["on"]["peak_memory_mib"] / point["off"]["peak_memory_mib"]
        point["time_ratio"] = point["on"]["seconds"] / point["off"]["seconds"]
        doc["frames"][str(length)] = point
    return doc
