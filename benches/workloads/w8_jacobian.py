"""W8: the full jacobian of tanh(W@x), W 256×256, x (256, 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads import Inputs, Step, Workload, normal

N = 256


def inputs(rng: np.random.Generator) -> Inputs:
    # scale 1/16 = 1/sqrt(256) keeps W@x O(1), away from tanh saturation
    return {"W": normal(rng, N, N, scale=1 / 16), "x": normal(rng, N, 1)}


def tf_step(tf: Any, inp: Inputs) -> Step:
    W, x = tf.constant(inp["W"]), tf.constant(inp["x"])

    def w8() -> dict[str, Any]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.tanh(tf.matmul(W, x))
        return {"jac": tape.jacobian(y, x)}

    return w8


def torch_step(torch: Any, inp: Inputs) -> Step:
    W, x = torch.tensor(inp["W"]), torch.tensor(inp["x"])

    def forward(x_: Any) -> Any:
        return torch.tanh(torch.matmul(W, x_))

    def w8() -> dict[str, Any]:
        # default (vectorize=False): one backward pass per output element,
        # the same strategy as GradientTape.jacobian without pfor
        return {"jac": torch.autograd.functional.jacobian(forward, x)}

    return w8


def jacobian(W: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    t = np.tanh(W @ x)  # (n, 1): row i of the jacobian is (1 − tᵢ²)·Wᵢ
    return {"jac": (1 - t * t) * W}


WORKLOADS = [
    Workload(
        name="W8",
        desc=f"jacobian of tanh(W@x), W {N}×{N}, x ({N},1)",
        tol=1e-5,
        inputs=inputs,
        tf_step=tf_step,
        torch_step=torch_step,
        numpy_step=lambda inp: lambda: jacobian(inp["W"], inp["x"]),
        # TF and torch return it as (256, 1, 256, 1): the check reshapes
        reference=lambda inp, got: jacobian(
            inp["W"].astype(np.float64), inp["x"].astype(np.float64)
        ),
    )
]
