"""Measurement primitives: round-robin median wall times, peak memory of a call, a GEMM probe."""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def interleaved_medians(fns: dict[str, Callable[[], object]], rounds: int = 3) -> dict[str, float]:
    """Median seconds of each callable, timed round-robin (one warm-up round first), so that a machine whose
    speed drifts during the run slows every contender alike and their ratios stay fair."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(rounds + 1):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory_mib(fn: Callable[[], object], device: str = "cpu") -> float:
    """Memory a call adds at its peak: CUDA's allocator peak, or on CPU the rise of the process's resident-set
    high-water mark, after returning freed heap memory to the system (malloc_trim) and resetting the mark
    (/proc/self/clear_refs), so that memory the allocator kept from earlier calls is not counted as free."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    _release_freed_heap()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    base = _rss_kib("VmRSS:")
    fn()
    return max(_rss_kib("VmHWM:") - base, 0) / 1024


def isolated_peak_memory_mib(factory: Callable[..., Callable[[], object]], *args: object) -> float:
    """`peak_memory_mib` of the call that `factory(*args)` returns (after one warm-up call), in a fresh process
    whose glibc maps every block over 128 KiB on its own and unmaps it when freed (MALLOC_MMAP_THRESHOLD_), so
    that the resident set follows the live tensors. In a process that has run other calls, glibc's dynamic
    threshold keeps freed blocks resident, by amounts that depend on that history: a 6-layer training step at 800
    frames measured 0.57-0.72x with/without gradient checkpointing that way, 0.236-0.244x this way. `factory`
    must be importable by name (a module-level function), its arguments picklable."""
    saved = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)  # read by the child's C library when it starts
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(_warm_peak_memory_mib, (factory, *args))
    finally:
        if saved is None:
            del os.environ["MALLOC_MMAP_THRESHOLD_"]
        else:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = saved


def _warm_peak_memory_mib(factory: Callable[..., Callable[[], object]], *args: object) -> float:
    fn = factory(*args)
    fn()
    return peak_memory_mib(fn)


def _release_freed_heap() -> None:
    """glibc's malloc_trim, where the C library is glibc (elsewhere freed memory may still count as resident)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def gemm_probe(size: int = 1024) -> tuple[Callable[[], object], float]:
    """A square fp32 matrix product and its FLOPs: time it beside the models to get the machine's GEMM rate."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return (lambda: a @ b), 2.0 * size**3


# Operator names by what they compute, for `time_shares` (torch's dynamic int8 linear included).
_LINEAR = ("aten::addmm", "aten::mm", "aten::bmm", "aten::linear", "aten::matmul", "quantized::linear_dynamic")
_ATTENTION = ("scaled_dot_product", "aten::_softmax")


def time_shares(fn: Callable[[], object]) -> dict[str, float]:
    """Shares of one call's CPU time (torch.profiler, self time) spent in linear layers, attention and the rest
    (activations, normalisation, residual adds, features): what a faster matrix product can speed up, and what not."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        fn()
    totals = {"linear": 0.0, "attention": 0.0, "other": 0.0}
    for event in profile.key_averages():
        kind = ("linear" if event.key.startswith(_LINEAR) else
                "attention" if any(a in event.key for a in _ATTENTION) else "other")
        totals[kind] += event.self_cpu_time_total
    whole = sum(totals.values())
    return {kind: t / whole for kind, t in totals.items()}
