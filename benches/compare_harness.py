"""The measuring side of ``compare.py``: a fresh process per (framework,
workload) job, the float64 check of its first call, and the timing.

``run_job`` starts ``compare.py --worker FRAMEWORK WORKLOAD`` in a fresh
interpreter, so thread pools, allocator caches and lazily loaded kernels of
one job never leak into the next; the worker prints its result as one JSON
line. ``worker`` loads the framework, builds the workload's step, checks the
first call's outputs against the workload's float64 reference, warms up,
calibrates an inner loop to at least ``min_time`` per repetition, and reports
the median time per iteration over ``reps`` repetitions.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import math
import os
import resource
import subprocess
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
from workloads import SEED, Inputs, Result, Step, Workload, all_workloads

COMPARE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare.py")
FRAMEWORKS = ("tapegrad", "numpy", "tf", "torch")
IMPORT_NAMES = {"tapegrad": "tapegrad", "numpy": "numpy", "tf": "tensorflow", "torch": "torch"}
WORKLOADS = all_workloads()


class NotInstalled(Exception):
    """The framework's package cannot be imported in this interpreter."""


def make_inputs(workload: Workload) -> Inputs:
    """Deterministic inputs, identical for every framework."""
    return workload.inputs(np.random.default_rng([SEED, zlib.crc32(workload.name.encode())]))


def check(workload: Workload, inp: Inputs, got: dict[str, np.ndarray]) -> dict[str, Any]:
    """Worst normalised error max|got − ref| / max|ref| over the outputs."""
    worst, worst_key = 0.0, ""
    for key, ref in workload.reference(inp, got).items():
        ref = np.asarray(ref, np.float64)
        if key not in got:
            return {"correct": False, "max_err": math.inf, "worst": f"{key} missing"}
        value = np.asarray(got[key], np.float64)
        if value.size != ref.size:
            return {"correct": False, "max_err": math.inf, "worst": f"{key} shape {value.shape}"}
        # jacobians come back as (256, 1, 256, 1) from TF and torch
        value = value.reshape(ref.shape)
        scale = max(float(np.max(np.abs(ref))), 1e-30) if ref.size else 1.0
        err = float(np.max(np.abs(value - ref))) / scale if ref.size else 0.0
        if not np.all(np.isfinite(value)):
            err = math.inf
        if err >= worst:
            worst, worst_key = err, key
    tol = workload.tol
    return {"correct": worst <= tol, "max_err": worst, "worst": worst_key, "tol": tol}


# ------------------------------------------------------------- frameworks ---
MakeStep = Callable[[Workload, Inputs], Step]


def load_framework(name: str) -> tuple[MakeStep, dict[str, Any]]:
    """(make_step(workload, inputs), version/threading facts) for a framework."""
    try:
        module = importlib.import_module(IMPORT_NAMES[name])
    except ImportError as e:
        raise NotInstalled(f"{type(e).__name__}: {e}") from e
    info: dict[str, Any] = {"version": getattr(module, "__version__", "?")}
    if name == "tapegrad":
        info["RAYON_NUM_THREADS"] = os.environ.get("RAYON_NUM_THREADS", "unset")
        return (lambda w, inp: w.tf_step(module, inp)), info
    if name == "tf":
        try:
            info["intra_op_threads"] = module.config.threading.get_intra_op_parallelism_threads()
        except AttributeError:
            pass
        return (lambda w, inp: w.tf_step(module, inp)), info
    if name == "torch":
        info["threads"] = module.get_num_threads()
        return (lambda w, inp: w.torch_step(module, inp)), info
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # show_config's layout is not a stable API
        pass
    return (lambda w, inp: w.numpy_step(inp)), info


def to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch: leave the graph before converting
        value = value.detach()
    if hasattr(value, "numpy"):
        return np.array(value.numpy(), copy=True)
    return np.array(value, copy=True)


# ------------------------------------------------------------------ worker ---
def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _malloc_trim() -> None:
    # return glibc's free lists to the OS so the baseline RSS is the live data
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def first_call(step: Step) -> tuple[dict[str, Any], float, float | None]:
    """Run ``step`` once: outputs, seconds, peak RSS above the RSS just before (MiB)."""
    gc.collect()
    _malloc_trim()
    base = _status_kib("VmRSS")
    reset = _reset_peak_rss()
    start = time.perf_counter()
    out = step()
    seconds = time.perf_counter() - start
    if reset:
        peak = _status_kib("VmHWM")
    else:  # lifetime peak: an upper bound, still meaningful in a fresh process
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extra = None if base is None or peak is None else max(peak - base, 0) / 1024
    return out, seconds, extra


def worker(framework: str, workload_name: str, a: argparse.Namespace) -> Result:
    res: Result = {"framework": framework, "workload": workload_name, "status": "ok"}
    try:
        workload = WORKLOADS[workload_name]
        start = time.perf_counter()
        make_step, res["info"] = load_framework(framework)
        res["import_s"] = time.perf_counter() - start
        inp = make_inputs(workload)
        if workload.memory_warmup is not None:
            make_step(workload, workload.memory_warmup(inp))()
        step = make_step(workload, inp)
        out, res["first_s"], res["first_call_extra_mib"] = first_call(step)
        got = {k: to_numpy(v) for k, v in out.items()}
        del out

        warm_times: list[float] = []
        warm_start = time.perf_counter()
        while len(warm_times) < a.warmup_calls or (
            time.perf_counter() - warm_start < a.warmup_s and len(warm_times) < 10_000
        ):
            t0 = time.perf_counter()
            step()
            warm_times.append(time.perf_counter() - t0)
        estimate = sorted(warm_times)[len(warm_times) // 2]
        inner = max(1, math.ceil(a.min_time / max(estimate, 1e-9)))
        reps = a.reps
        if estimate * inner * reps > a.max_time:
            reps = max(3, int(a.max_time / (estimate * inner)))
        times = []
        for _ in range(reps):
            gc.collect()  # garbage of the previous rep is not charged to this one
            t0 = time.perf_counter()
            for _ in range(inner):
                step()
            times.append((time.perf_counter() - t0) / inner)
        ordered = sorted(times)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        res.update(times=times, inner=inner, reps=reps, median_s=median)
        res.update(check(workload, inp, got))
    except NotInstalled as e:
        res.update(status="not installed", error=str(e))
    except Exception as e:  # reported in the table, never a crash of the runner
        res.update(status="error", error=f"{type(e).__name__}: {e}")
        res["traceback"] = traceback.format_exc()[-3000:]
    return res


# ------------------------------------------------------------------ runner ---
def run_job(framework: str, workload: str, a: argparse.Namespace) -> Result:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up banner off stderr
    cmd = [
        sys.executable,
        COMPARE_SCRIPT,
        "--worker",
        framework,
        workload,
        "--reps",
        str(a.reps),
        "--min-time",
        str(a.min_time),
        "--max-time",
        str(a.max_time),
        "--warmup-calls",
        str(a.warmup_calls),
        "--warmup-s",
        str(a.warmup_s),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "workload": workload, "status": "timeout"}
    # the result is the last JSON line; libraries may print before it
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            result: Result = json.loads(line)
            return result
    return {
        "framework": framework,
        "workload": workload,
        "status": "error",
        "error": f"worker exited with {proc.returncode}: {proc.stderr.strip()[-500:]}",
    }
