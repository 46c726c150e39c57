"""W3: sum(tanh(x)·sigmoid(x) + x·x) and its gradient, x a 4M-float32 Variable."""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads import Inputs, Step, Workload, normal

SIZE = 4 * 1024 * 1024


def inputs(rng: np.random.Generator) -> Inputs:
    return {"x": normal(rng, SIZE)}


def tf_step(tf: Any, inp: Inputs) -> Step:
    xv = tf.Variable(inp["x"])

    def w3() -> dict[str, Any]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.tanh(xv) * tf.sigmoid(xv) + xv * xv)
        return {"loss": loss, "grad": tape.gradient(loss, xv)}

    return w3


def torch_step(torch: Any, inp: Inputs) -> Step:
    x = torch.tensor(inp["x"], requires_grad=True)

    def w3() -> dict[str, Any]:
        loss = torch.sum(torch.tanh(x) * torch.sigmoid(x) + x * x)
        (g,) = torch.autograd.grad(loss, x)
        return {"loss": loss, "grad": g}

    return w3


def value_and_grad(x: np.ndarray) -> dict[str, Any]:
    t = np.tanh(x)
    s = 1 / (1 + np.exp(-x))
    loss = np.sum(t * s + x * x)
    # d/dx tanh = 1 − t², d/dx sigmoid = s(1 − s)
    return {"loss": loss, "grad": (1 - t * t) * s + t * (s * (1 - s)) + 2 * x}


WORKLOADS = [
    Workload(
        name="W3",
        desc="sum(tanh(x)·sigmoid(x) + x·x), x 4M f32 Variable",
        tol=1e-5,
        inputs=inputs,
        tf_step=tf_step,
        torch_step=torch_step,
        numpy_step=lambda inp: lambda: value_and_grad(inp["x"]),
        reference=lambda inp, got: value_and_grad(inp["x"].astype(np.float64)),
    )
]
