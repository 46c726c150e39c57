"""W2 and W6: a chain of elementwise ops and the gradient of its sum. W2, on
shape (4,), measures the tape's per-op overhead; W6, on 1M float32, measures
throughput and the peak memory of the first call.

The chain is a cycle of unary and binary ops that stays bounded over hundreds
of steps in float32 (tanh/sin/cos pull values back into [-1, 1] before exp and
squaring can blow them up), so float32 gradients stay within ~1e-6 of float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workloads import Inputs, Result, Row, Step, Workload, normal

CHAIN_CYCLE = ("sin", "mul_c", "add_x", "tanh", "exp", "mul_c", "mul_self", "cos", "mul_x")
CHAIN_C = 0.5
W2_OPS, W2_SIZE = 200, 4
W6_OPS, W6_SIZE = 100, 1024 * 1024


def chain_ops(n_ops: int) -> list[str]:
    return [CHAIN_CYCLE[i % len(CHAIN_CYCLE)] for i in range(n_ops)]


def chain_inputs(n_ops: int, size: int) -> Callable[[np.random.Generator], Inputs]:
    def inputs(rng: np.random.Generator) -> Inputs:
        return {"x": normal(rng, size), "n_ops": n_ops}

    return inputs


def chain_tf(tf: Any, inp: Inputs) -> Step:
    x = tf.constant(inp["x"])
    apply: dict[str, Any] = {
        "sin": lambda y: tf.sin(y),
        "cos": lambda y: tf.cos(y),
        "tanh": lambda y: tf.tanh(y),
        "exp": lambda y: tf.exp(y),
        "mul_c": lambda y: y * CHAIN_C,
        "mul_self": lambda y: y * y,
        "add_x": lambda y: y + x,
        "mul_x": lambda y: y * x,
    }
    ops = [apply[name] for name in chain_ops(inp["n_ops"])]

    def chain() -> dict[str, Any]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x
            for op in ops:
                y = op(y)
            loss = tf.reduce_sum(y)
        return {"grad": tape.gradient(loss, x)}

    return chain


def chain_torch(torch: Any, inp: Inputs) -> Step:
    x = torch.tensor(inp["x"], requires_grad=True)
    apply: dict[str, Any] = {
        "sin": lambda y: torch.sin(y),
        "cos": lambda y: torch.cos(y),
        "tanh": lambda y: torch.tanh(y),
        "exp": lambda y: torch.exp(y),
        "mul_c": lambda y: y * CHAIN_C,
        "mul_self": lambda y: y * y,
        "add_x": lambda y: y + x,
        "mul_x": lambda y: y * x,
    }
    ops = [apply[name] for name in chain_ops(inp["n_ops"])]

    def chain() -> dict[str, Any]:
        y = x
        for op in ops:
            y = op(y)
        (g,) = torch.autograd.grad(torch.sum(y), x)
        return {"grad": g}

    return chain


def chain_value_and_grad(x: np.ndarray, n_ops: int) -> tuple[Any, np.ndarray]:
    """sum(chain(x)) and its gradient, backward written by hand.

    The forward keeps only what each local derivative needs: the input of
    sin, cos, y·y and y·x, the output of tanh (1 − t²) and exp (eᵗ).
    """
    c = x.dtype.type(CHAIN_C)
    ops = chain_ops(n_ops)
    saved: list[np.ndarray] = []  # mul_c and add_x need nothing: no entry
    y = x
    for op in ops:
        if op in ("sin", "cos", "mul_self", "mul_x"):
            saved.append(y)
        if op == "sin":
            y = np.sin(y)
        elif op == "cos":
            y = np.cos(y)
        elif op == "tanh":
            y = np.tanh(y)
        elif op == "exp":
            y = np.exp(y)
        elif op == "mul_c":
            y = y * c
        elif op == "mul_self":
            y = y * y
        elif op == "add_x":
            y = y + x
        elif op == "mul_x":
            y = y * x
        if op in ("tanh", "exp"):
            saved.append(y)
    loss = y.sum()
    del y
    g = np.ones_like(x)  # d loss / d y_k, walked back from the last op
    gx = np.zeros_like(x)  # contributions of the direct uses of x (add_x, mul_x)
    for op in reversed(ops):
        if op == "mul_c":
            g *= c
            continue
        if op == "add_x":
            gx += g
            continue
        s = saved.pop()
        if op == "sin":
            g *= np.cos(s)
        elif op == "cos":
            g *= -np.sin(s)
        elif op == "tanh":
            g *= 1 - s * s
        elif op == "exp":
            g *= s
        elif op == "mul_self":
            g *= 2 * s
        elif op == "mul_x":  # y·x: ∂/∂y = x, ∂/∂x = y
            gx += g * s
            g *= x
    gx += g  # the chain starts at y₀ = x
    return loss, gx


def chain_numpy(inp: Inputs) -> Step:
    return lambda: {"grad": chain_value_and_grad(inp["x"], inp["n_ops"])[1]}


def chain_reference(inp: Inputs, got: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"grad": chain_value_and_grad(inp["x"].astype(np.float64), inp["n_ops"])[1]}


def _peak_extra_rss(result: Result) -> float | None:
    value: float | None = result.get("first_call_extra_mib")
    return value


WORKLOADS = [
    Workload(
        name="W2",
        desc=f"tape overhead: {W2_OPS}-op elementwise chain on shape ({W2_SIZE},)",
        tol=1e-4,
        inputs=chain_inputs(W2_OPS, W2_SIZE),
        tf_step=chain_tf,
        torch_step=chain_torch,
        numpy_step=chain_numpy,
        reference=chain_reference,
        rows=(Row("W2 (per op)", fmt=lambda s: f"{s / W2_OPS * 1e6:.2f} µs/op"),),
    ),
    Workload(
        name="W6",
        desc=f"{W6_OPS}-op elementwise chain on 1M f32",
        tol=1e-4,
        inputs=chain_inputs(W6_OPS, W6_SIZE),
        tf_step=chain_tf,
        torch_step=chain_torch,
        numpy_step=chain_numpy,
        reference=chain_reference,
        rows=(
            Row("W6"),
            Row("W6 peak extra RSS", value_of=_peak_extra_rss, fmt=lambda m: f"{m:.0f} MiB"),
        ),
        # the chain once on 16 elements: the memory measured on the first full
        # call excludes kernel loading and one-time pool set-up
        memory_warmup=lambda inp: dict(inp, x=inp["x"][:16]),
    ),
]
