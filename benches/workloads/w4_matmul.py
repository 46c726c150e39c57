"""W4: sum(A@B) and its gradients d/dA, d/dB, A and B 1024×1024 float32."""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads import Inputs, Result, Row, Step, Workload, normal

N = 1024


def inputs(rng: np.random.Generator) -> Inputs:
    return {"A": normal(rng, N, N), "B": normal(rng, N, N)}


def tf_step(tf: Any, inp: Inputs) -> Step:
    A, B = tf.Variable(inp["A"]), tf.Variable(inp["B"])

    def w4() -> dict[str, Any]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.matmul(A, B))
        dA, dB = tape.gradient(loss, [A, B])
        return {"dA": dA, "dB": dB}

    return w4


def torch_step(torch: Any, inp: Inputs) -> Step:
    A = torch.tensor(inp["A"], requires_grad=True)
    B = torch.tensor(inp["B"], requires_grad=True)

    def w4() -> dict[str, Any]:
        dA, dB = torch.autograd.grad(torch.sum(torch.matmul(A, B)), [A, B])
        return {"dA": dA, "dB": dB}

    return w4


def gradients(A: np.ndarray, B: np.ndarray) -> dict[str, Any]:
    seed = np.ones_like(A @ B)
    return {"dA": seed @ B.T, "dB": A.T @ seed}


def gflops(result: Result) -> float | None:
    # forward A@B plus the two backward matmuls: 3 × 2n³ flops
    median = result.get("median_s")
    return 6 * N**3 / median / 1e9 if median else None


WORKLOADS = [
    Workload(
        name="W4",
        desc=f"sum(A@B), A, B {N}×{N}, d/dA and d/dB",
        tol=1e-5,
        inputs=inputs,
        tf_step=tf_step,
        torch_step=torch_step,
        numpy_step=lambda inp: lambda: gradients(inp["A"], inp["B"]),
        reference=lambda inp, got: gradients(
            inp["A"].astype(np.float64), inp["B"].astype(np.float64)
        ),
        # the GFLOP/s ratio is the time ratio inverted: not repeated
        rows=(
            Row("W4"),
            Row("W4 GFLOP/s", value_of=gflops, fmt=lambda g: f"{g:.0f} GFLOP/s", ratio=False),
        ),
    )
]
