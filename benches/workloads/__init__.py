"""The workloads of ``benches/compare.py``: one module per workload (or per
family of workloads that share their code), found here by name.

A workload module defines ``WORKLOADS``, a list of :class:`Workload`, each
holding everything about one workload in one place:

- ``inputs(rng)``: deterministic float32 inputs, identical for every framework;
- ``tf_step(tf, inputs)``: one step written only against TensorFlow's public
  eager API, run unchanged on tapegrad and on TensorFlow (the module is passed
  in as ``tf``);
- ``torch_step(torch, inputs)``: the same step in ``torch.autograd``'s idiom;
- ``numpy_step(inputs)``: a hand-written float32 forward + backward, the cost
  of the arithmetic with no tape at all;
- ``reference(inputs, got)``: the float64 values every framework must
  reproduce (``got``, the framework's outputs, only supplies inputs that a
  framework draws from its own RNG);
- ``tol``, ``desc`` and, where the table shows more than the median time,
  ``rows``.

The four implementations repeat each other on purpose: each is written in its
own framework's idiom, as a user of that framework would write it.

Adding a workload means adding one module here (``wN_what.py``); the harness
and the report pick it up.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SEED = 1234

Inputs = dict[str, Any]
Step = Callable[[], dict[str, Any]]
Result = dict[str, Any]  # one job's measurements, as the harness reports them


def normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    """float32 samples of N(0, scale²)."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def median_seconds(result: Result) -> float | None:
    value: float | None = result.get("median_s")
    return value


@dataclass(frozen=True)
class Row:
    """One row of the report's table (and one bar group of its chart)."""

    label: str
    value_of: Callable[[Result], float | None] = median_seconds
    fmt: Callable[[float], str] | None = None  # None: a time, as the report formats times
    ratio: bool = True  # compare the frameworks in ratios (and in the chart)


@dataclass(frozen=True)
class Workload:
    name: str
    desc: str
    tol: float  # largest accepted max|got - ref| / max|ref| against the float64 reference
    inputs: Callable[[np.random.Generator], Inputs]
    tf_step: Callable[[Any, Inputs], Step]
    torch_step: Callable[[Any, Inputs], Step]
    numpy_step: Callable[[Inputs], Step]
    reference: Callable[[Inputs, dict[str, np.ndarray]], dict[str, Any]]
    rows: tuple[Row, ...] = ()  # empty: one row, the median time
    # inputs of one small call made before the first measured call, so that
    # the memory measured on it excludes kernel loading and one-time set-up
    memory_warmup: Callable[[Inputs], Inputs] | None = None

    def table_rows(self) -> tuple[Row, ...]:
        return self.rows or (Row(self.name),)


def _natural_key(name: str) -> list[Any]:
    """W2 < W10 and W1a < W1b: numbers compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def all_workloads() -> dict[str, Workload]:
    """Every workload of every module of this package, in natural name order."""
    found: dict[str, Workload] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for workload in module.WORKLOADS:
            if workload.name in found:
                raise ValueError(f"workload {workload.name} is defined twice ({module.__name__})")
            found[workload.name] = workload
    return {name: found[name] for name in sorted(found, key=_natural_key)}
