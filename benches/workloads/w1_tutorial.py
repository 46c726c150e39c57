"""W1a-W1c: the three programs of the GradientTape tutorial (a matmul
gradient, a persistent tape, Python control flow on tensor values)."""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads import SEED, Inputs, Step, Workload


# ---------------------------------------------------------------- W1a
def w1a_inputs(rng: np.random.Generator) -> Inputs:
    return {}


def w1a_tf(tf: Any, inp: Inputs) -> Step:
    def w1a() -> dict[str, Any]:
        x = tf.reshape(tf.Variable(range(4), dtype=tf.float32), (4, 1))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = 2 * tf.matmul(tf.transpose(x), x)
        return {"dy_dx": tape.gradient(y, x)}

    return w1a


def w1a_torch(torch: Any, inp: Inputs) -> Step:
    def w1a() -> dict[str, Any]:
        x = torch.reshape(torch.arange(4, dtype=torch.float32, requires_grad=True), (4, 1))
        y = 2 * torch.matmul(x.T, x)
        (dy_dx,) = torch.autograd.grad(y, x)  # y has one element: the seed 1 is implicit
        return {"dy_dx": dy_dx}

    return w1a


def w1a_numpy(dtype: type = np.float32) -> dict[str, Any]:
    x: np.ndarray = np.arange(4, dtype=dtype).reshape(4, 1)
    y = 2 * (x.T @ x)
    seed = np.ones_like(y)
    # y = 2·xᵀx: the gradient flows into both matmul operands
    return {"dy_dx": 2 * (x @ seed + x @ seed.T)}


# ---------------------------------------------------------------- W1b
def w1b_inputs(rng: np.random.Generator) -> Inputs:
    return {"x0": 3.0}


def w1b_tf(tf: Any, inp: Inputs) -> Step:
    x0 = inp["x0"]

    def w1b() -> dict[str, Any]:
        x = tf.constant(x0)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
            z = y * y
        dz_dx = tape.gradient(z, x)
        dy_dx = tape.gradient(y, x)
        del tape  # a persistent tape holds its intermediates until dropped
        return {"dz_dx": dz_dx, "dy_dx": dy_dx}

    return w1b


def w1b_torch(torch: Any, inp: Inputs) -> Step:
    x0 = inp["x0"]
    grad = torch.autograd.grad

    def w1b() -> dict[str, Any]:
        x = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
        y = x * x
        z = y * y
        (dz_dx,) = grad(z, x, retain_graph=True)  # y's graph is reused below
        (dy_dx,) = grad(y, x)
        return {"dz_dx": dz_dx, "dy_dx": dy_dx}

    return w1b


def w1b_numpy(x0: float, dtype: type = np.float32) -> dict[str, Any]:
    x = dtype(x0)
    y = x * x
    return {"dz_dx": 2 * y * 2 * x, "dy_dx": 2 * x}


# ---------------------------------------------------------------- W1c
def w1c_inputs(rng: np.random.Generator) -> Inputs:
    # each framework draws ``a`` from its own RNG, seeded with this
    return {"seed": SEED}


def w1c_tf(tf: Any, inp: Inputs) -> Step:
    tf.random.set_seed(inp["seed"])

    def f(a: Any) -> Any:
        b = a * 2
        while tf.norm(b) < 1000:
            b = b * 2
        if tf.reduce_sum(b) > 0:
            c = b
        else:
            c = 100 * b
        return c

    def w1c() -> dict[str, Any]:
        a = tf.Variable(tf.random.normal(shape=(1, 1)))
        with tf.GradientTape() as tape:
            d = f(a)
        return {"a": a, "d_grad": tape.gradient(d, a)}

    return w1c


def w1c_torch(torch: Any, inp: Inputs) -> Step:
    torch.manual_seed(inp["seed"])

    def f(a: Any) -> Any:
        b = a * 2
        while torch.linalg.vector_norm(b) < 1000:
            b = b * 2
        if torch.sum(b) > 0:
            c = b
        else:
            c = 100 * b
        return c

    def w1c() -> dict[str, Any]:
        a = torch.randn((1, 1), requires_grad=True)
        (d_grad,) = torch.autograd.grad(f(a), a)
        return {"a": a, "d_grad": d_grad}

    return w1c


def w1c_gradient(a: np.ndarray) -> np.ndarray:
    """f(a) is a·m for a constant m picked by the control flow: df/da = m."""
    b = a * 2
    factor = 2.0
    while np.linalg.norm(b) < 1000:
        b = b * 2
        factor *= 2
    if np.sum(b) <= 0:
        factor *= 100
    return np.full_like(a, factor)


def w1c_numpy(inp: Inputs) -> Step:
    rng = np.random.default_rng(inp["seed"])

    def w1c() -> dict[str, Any]:
        a = rng.standard_normal((1, 1)).astype(np.float32)
        return {"a": a, "d_grad": w1c_gradient(a)}

    return w1c


WORKLOADS = [
    Workload(
        name="W1a",
        desc="tutorial (a): y = 2·xᵀx, x = reshape(Variable(range(4)), (4,1)), dy/dx",
        tol=1e-6,
        inputs=w1a_inputs,
        tf_step=w1a_tf,
        torch_step=w1a_torch,
        numpy_step=lambda inp: lambda: w1a_numpy(),
        reference=lambda inp, got: w1a_numpy(np.float64),
    ),
    Workload(
        name="W1b",
        desc="tutorial (b): persistent tape, y = x², z = y², dz/dx and dy/dx at 3",
        tol=1e-6,
        inputs=w1b_inputs,
        tf_step=w1b_tf,
        torch_step=w1b_torch,
        numpy_step=lambda inp: lambda: w1b_numpy(inp["x0"]),
        reference=lambda inp, got: w1b_numpy(inp["x0"], np.float64),
    ),
    Workload(
        name="W1c",
        desc="tutorial (c): Python while/if on tensor values, a ~ normal((1,1))",
        tol=1e-6,
        inputs=w1c_inputs,
        tf_step=w1c_tf,
        torch_step=w1c_torch,
        numpy_step=w1c_numpy,
        # the input ``a`` is the one the framework drew
        reference=lambda inp, got: {
            "d_grad": w1c_gradient(np.asarray(got["a"], np.float64).reshape(1, 1))
        },
    ),
]
