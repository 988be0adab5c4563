"""Scaling with input length: time and peak memory of the student upstream from 1 s to 60 s, run whole and in
chunks, showing that chunking bounds attention memory where whole inputs grow it quadratically."""
from __future__ import annotations


import torch

from .models import Measured
from .speed import _waves
from .timing import interleaved_medians, peak_memory_mib

LENGTHS = (1.0, 5.0, 10.0, 20.0, 30.0, 60.0)


def scaling(student: Measured, chunks: tuple[int, ...] = (0, 1000), lengths: tuple[float, ...] = LENGTHS,
            repeats: int = 3) -> dict:
    """Per length, each chunking timed round-robin (then its peak memory measured alone)."""
    upstream = student.upstream
    original = upstream.chunk_length
    names = {chunk: "whole" if chunk == 0 else f"chunk_{chunk}" for chunk in chunks}
    curves = {name: [] for name in names.values()}

    def run_with(chunk: int, waves: list[torch.Tensor]) -> object:
        upstream.chunk_length = chunk
        return upstream(waves)

    try:
        with torch.inference_mode():
            for seconds in lengths:
                waves = _waves(seconds, 1)
                times = interleaved_medians({names[c]: (lambda c=c: run_with(c, waves)) for c in chunks}, repeats)
                for chunk, name in names.items():
                    curves[name].append({
                        "seconds": seconds,
                        "seconds_per_audio_second": times[name] / seconds,
                        "peak_memory_mib": peak_memory_mib(lambda: run_with(chunk, waves)),
                    })
    finally:
        upstream.chunk_length = original
    return curves
