"""W7a and W7b: second derivatives through nested tapes. W7a, a
Hessian-vector product of sum(tanh(x)²) on 100k elements; W7b, the second
derivative of x³·sin(x) at a scalar."""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads import Inputs, Step, Workload, normal

HVP_SIZE = 100_000


# ---------------------------------------------------------------- W7a
def w7a_inputs(rng: np.random.Generator) -> Inputs:
    return {"x": normal(rng, HVP_SIZE), "v": normal(rng, HVP_SIZE)}


def w7a_tf(tf: Any, inp: Inputs) -> Step:
    x, v = tf.constant(inp["x"]), tf.constant(inp["v"])

    def w7a() -> dict[str, Any]:
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(tf.tanh(x) ** 2)
            g = inner.gradient(y, x)
            g_dot_v = tf.reduce_sum(g * v)
        return {"hvp": outer.gradient(g_dot_v, x)}

    return w7a


def w7a_torch(torch: Any, inp: Inputs) -> Step:
    x, v = torch.tensor(inp["x"], requires_grad=True), torch.tensor(inp["v"])
    grad = torch.autograd.grad

    def w7a() -> dict[str, Any]:
        (g,) = grad(torch.sum(torch.tanh(x) ** 2), x, create_graph=True)
        (hvp,) = grad(torch.sum(g * v), x)
        return {"hvp": hvp}

    return w7a


def w7a_numpy(x: np.ndarray, v: np.ndarray) -> dict[str, Any]:
    # f = Σ t², t = tanh x: f' = 2t(1 − t²), f'' = 2(1 − t²)(1 − 3t²), Hessian diagonal
    t = np.tanh(x)
    return {"hvp": 2 * (1 - t * t) * (1 - 3 * t * t) * v}


# ---------------------------------------------------------------- W7b
def w7b_inputs(rng: np.random.Generator) -> Inputs:
    return {"x0": 1.5}


def w7b_tf(tf: Any, inp: Inputs) -> Step:
    x0 = inp["x0"]

    def w7b() -> dict[str, Any]:
        x = tf.constant(x0)
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = x * x * x * tf.sin(x)
            dy = inner.gradient(y, x)
        return {"dy": dy, "d2y": outer.gradient(dy, x)}

    return w7b


def w7b_torch(torch: Any, inp: Inputs) -> Step:
    x0 = inp["x0"]
    grad = torch.autograd.grad

    def w7b() -> dict[str, Any]:
        x = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
        y = x * x * x * torch.sin(x)
        (dy,) = grad(y, x, create_graph=True)
        (d2y,) = grad(dy, x)
        return {"dy": dy, "d2y": d2y}

    return w7b


def w7b_numpy(x0: float, dtype: type = np.float32) -> dict[str, Any]:
    x = dtype(x0)
    s, c = np.sin(x), np.cos(x)
    return {
        "dy": 3 * x * x * s + x * x * x * c,
        "d2y": 6 * x * s + 6 * x * x * c - x * x * x * s,
    }


WORKLOADS = [
    Workload(
        name="W7a",
        desc="Hessian-vector product of sum(tanh(x)²), x 100k",
        tol=1e-5,
        inputs=w7a_inputs,
        tf_step=w7a_tf,
        torch_step=w7a_torch,
        numpy_step=lambda inp: lambda: w7a_numpy(inp["x"], inp["v"]),
        reference=lambda inp, got: w7a_numpy(
            inp["x"].astype(np.float64), inp["v"].astype(np.float64)
        ),
    ),
    Workload(
        name="W7b",
        desc="2nd derivative of x³·sin(x) at x = 1.5 (nested tapes)",
        tol=1e-5,
        inputs=w7b_inputs,
        tf_step=w7b_tf,
        torch_step=w7b_torch,
        numpy_step=lambda inp: lambda: w7b_numpy(inp["x0"]),
        reference=lambda inp, got: w7b_numpy(inp["x0"], np.float64),
    ),
]
