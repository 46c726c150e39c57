"""tapegrad against numpy, TensorFlow and PyTorch on the same autodiff workloads.

One TF-style implementation of every workload is written against TensorFlow's
public eager API and run unchanged on tapegrad and on TensorFlow (the module is
passed in as ``tf``); PyTorch gets its own autograd version and numpy a
hand-written forward + backward. Every (framework, workload) pair runs in a
fresh subprocess of this interpreter, so thread pools, allocator caches and
lazily loaded kernels of one job never leak into the next. Each worker checks
its first call's outputs against a float64 numpy reference, warms up,
calibrates an inner loop to at least ``--min-time`` per repetition, and reports
the median time per iteration over ``--reps`` repetitions.

    python benches/compare.py                                  # everything installed
    python benches/compare.py --frameworks tapegrad,numpy --quick
    python benches/compare.py --workloads W2,W3 --reps 11 --json out.json
    python benches/compare.py --chart none                     # no PNG
    python benches/compare.py --render out.json                # re-print a stored run

The script needs only numpy and the frameworks it compares (matplotlib for the
chart, optional). A framework that fails to import is reported as "not
installed" and skipped. Timings swing on shared machines: compare frameworks
within one run, not across runs.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

SCRIPT = os.path.abspath(__file__)
HERE = os.path.dirname(SCRIPT)
SEED = 1234
FRAMEWORKS = ("tapegrad", "numpy", "tf", "torch")
IMPORT_NAMES = {"tapegrad": "tapegrad", "numpy": "numpy", "tf": "tensorflow", "torch": "torch"}

# W2/W6 chain: a cycle of unary and binary elementwise ops that stays bounded
# over hundreds of steps in float32 (tanh/sin/cos pull values back into
# [-1, 1] before exp and squaring can blow them up), so float32 gradients stay
# within ~1e-6 of float64.
CHAIN_CYCLE = ("sin", "mul_c", "add_x", "tanh", "exp", "mul_c", "mul_self", "cos", "mul_x")
CHAIN_C = 0.5

# tol: largest accepted max|got - ref| / max|ref| against the float64 reference.
WORKLOADS: dict[str, dict[str, Any]] = {
    "W1a": dict(
        tol=1e-6, desc="tutorial (a): y = 2·xᵀx, x = reshape(Variable(range(4)), (4,1)), dy/dx"
    ),
    "W1b": dict(
        tol=1e-6, desc="tutorial (b): persistent tape, y = x², z = y², dz/dx and dy/dx at 3"
    ),
    "W1c": dict(tol=1e-6, desc="tutorial (c): Python while/if on tensor values, a ~ normal((1,1))"),
    "W2": dict(tol=1e-4, n_ops=200, desc="tape overhead: 200-op elementwise chain on shape (4,)"),
    "W3": dict(
        tol=1e-5, n=4 * 1024 * 1024, desc="sum(tanh(x)·sigmoid(x) + x·x), x 4M f32 Variable"
    ),
    "W4": dict(tol=1e-5, n=1024, desc="sum(A@B), A, B 1024×1024, d/dA and d/dB"),
    "W5": dict(tol=1e-4, desc="MLP SGD step: 256×784 → 256 relu → 10, sparse softmax CE"),
    "W6": dict(tol=1e-4, n_ops=100, n=1024 * 1024, desc="100-op elementwise chain on 1M f32"),
    "W7a": dict(tol=1e-5, n=100_000, desc="Hessian-vector product of sum(tanh(x)²), x 100k"),
    "W7b": dict(tol=1e-5, desc="2nd derivative of x³·sin(x) at x = 1.5 (nested tapes)"),
    "W8": dict(tol=1e-5, n=256, desc="jacobian of tanh(W@x), W 256×256, x (256,1)"),
}

Step = Callable[[], dict[str, Any]]


class NotInstalled(Exception):
    """The framework's package cannot be imported in this interpreter."""


def chain_ops(n_ops: int) -> list[str]:
    return [CHAIN_CYCLE[i % len(CHAIN_CYCLE)] for i in range(n_ops)]


def make_inputs(workload: str) -> dict[str, Any]:
    """Deterministic float32 inputs, identical for every framework."""
    rng = np.random.default_rng([SEED, zlib.crc32(workload.encode())])
    spec = WORKLOADS[workload]

    def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    if workload == "W1a":
        return {}
    if workload == "W1b":
        return {"x0": 3.0}
    if workload == "W1c":
        return {"seed": SEED}
    if workload in ("W2", "W6"):
        return {"x": normal(spec.get("n", 4)), "n_ops": spec["n_ops"]}
    if workload == "W3":
        return {"x": normal(spec["n"])}
    if workload == "W4":
        return {"A": normal(spec["n"], spec["n"]), "B": normal(spec["n"], spec["n"])}
    if workload == "W5":
        return {
            "X": normal(256, 784),
            "labels": rng.integers(0, 10, size=256).astype(np.int64),
            # He init for the relu layer, Glorot-like for the logits: keeps the
            # loss O(1) so the float32 gradients are well conditioned.
            "W1": normal(784, 256, scale=math.sqrt(2.0 / 784)),
            "b1": np.zeros(256, np.float32),
            "W2": normal(256, 10, scale=math.sqrt(1.0 / 256)),
            "b2": np.zeros(10, np.float32),
            "lr": 0.1,
        }
    if workload == "W7a":
        return {"x": normal(spec["n"]), "v": normal(spec["n"])}
    if workload == "W7b":
        return {"x0": 1.5}
    if workload == "W8":
        # scale 1/16 = 1/sqrt(256) keeps W@x O(1), away from tanh saturation
        return {"W": normal(spec["n"], spec["n"], scale=1 / 16), "x": normal(spec["n"], 1)}
    raise KeyError(workload)


# ------------------------------------------------ TF-style (tapegrad, tf) ---
def tf_style_step(tf: Any, workload: str, inp: dict[str, Any]) -> Step:
    """One step of ``workload`` written only against TensorFlow's public eager
    API; ``tf`` is either ``tensorflow`` or ``tapegrad``."""
    if workload == "W1a":

        def w1a() -> dict[str, Any]:
            x = tf.reshape(tf.Variable(range(4), dtype=tf.float32), (4, 1))
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = 2 * tf.matmul(tf.transpose(x), x)
            return {"dy_dx": tape.gradient(y, x)}

        return w1a

    if workload == "W1b":
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

    if workload == "W1c":
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

    if workload in ("W2", "W6"):
        x = tf.constant(inp["x"])
        apply = {
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

    if workload == "W3":
        xv = tf.Variable(inp["x"])

        def w3() -> dict[str, Any]:
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.tanh(xv) * tf.sigmoid(xv) + xv * xv)
            return {"loss": loss, "grad": tape.gradient(loss, xv)}

        return w3

    if workload == "W4":
        A, B = tf.Variable(inp["A"]), tf.Variable(inp["B"])

        def w4() -> dict[str, Any]:
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.matmul(A, B))
            dA, dB = tape.gradient(loss, [A, B])
            return {"dA": dA, "dB": dB}

        return w4

    if workload == "W5":
        X, labels = tf.constant(inp["X"]), tf.constant(inp["labels"])
        params = [tf.Variable(inp[k]) for k in ("W1", "b1", "W2", "b2")]
        lr = inp["lr"]

        def w5() -> dict[str, Any]:
            W1, b1, W2, b2 = params
            with tf.GradientTape() as tape:
                hidden = tf.nn.relu(tf.matmul(X, W1) + b1)
                logits = tf.matmul(hidden, W2) + b2
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=labels, logits=logits
                )
                loss = tf.reduce_mean(per_example)
            grads = tape.gradient(loss, params)
            for p, g in zip(params, grads, strict=True):
                p.assign_sub(lr * g)
            return {"loss": loss, **dict(zip(("gW1", "gb1", "gW2", "gb2"), grads, strict=True))}

        return w5

    if workload == "W7a":
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

    if workload == "W7b":
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

    if workload == "W8":
        W, x = tf.constant(inp["W"]), tf.constant(inp["x"])

        def w8() -> dict[str, Any]:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.tanh(tf.matmul(W, x))
            return {"jac": tape.jacobian(y, x)}

        return w8

    raise KeyError(workload)


# ------------------------------------------------------------- PyTorch ------
def torch_step(torch: Any, workload: str, inp: dict[str, Any]) -> Step:
    """The same workloads with torch.autograd (CPU, eager)."""
    grad = torch.autograd.grad

    def leaf(a: np.ndarray) -> Any:
        return torch.tensor(a, requires_grad=True)

    if workload == "W1a":

        def w1a() -> dict[str, Any]:
            x = torch.reshape(torch.arange(4, dtype=torch.float32, requires_grad=True), (4, 1))
            y = 2 * torch.matmul(x.T, x)
            (dy_dx,) = grad(y, x)  # y has one element: the seed 1 is implicit
            return {"dy_dx": dy_dx}

        return w1a

    if workload == "W1b":
        x0 = inp["x0"]

        def w1b() -> dict[str, Any]:
            x = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
            y = x * x
            z = y * y
            (dz_dx,) = grad(z, x, retain_graph=True)  # y's graph is reused below
            (dy_dx,) = grad(y, x)
            return {"dz_dx": dz_dx, "dy_dx": dy_dx}

        return w1b

    if workload == "W1c":
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
            (d_grad,) = grad(f(a), a)
            return {"a": a, "d_grad": d_grad}

        return w1c

    if workload in ("W2", "W6"):
        x = leaf(inp["x"])
        apply = {
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
            (g,) = grad(torch.sum(y), x)
            return {"grad": g}

        return chain

    if workload == "W3":
        x = leaf(inp["x"])

        def w3() -> dict[str, Any]:
            loss = torch.sum(torch.tanh(x) * torch.sigmoid(x) + x * x)
            (g,) = grad(loss, x)
            return {"loss": loss, "grad": g}

        return w3

    if workload == "W4":
        A, B = leaf(inp["A"]), leaf(inp["B"])

        def w4() -> dict[str, Any]:
            dA, dB = grad(torch.sum(torch.matmul(A, B)), [A, B])
            return {"dA": dA, "dB": dB}

        return w4

    if workload == "W5":
        X, labels = torch.tensor(inp["X"]), torch.tensor(inp["labels"])
        params = [leaf(inp[k]) for k in ("W1", "b1", "W2", "b2")]
        lr = inp["lr"]

        def w5() -> dict[str, Any]:
            W1, b1, W2, b2 = params
            hidden = torch.relu(torch.matmul(X, W1) + b1)
            logits = torch.matmul(hidden, W2) + b2
            loss = torch.nn.functional.cross_entropy(logits, labels)  # mean over the batch
            grads = grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads, strict=True):
                    p.sub_(lr * g)
            return {"loss": loss, **dict(zip(("gW1", "gb1", "gW2", "gb2"), grads, strict=True))}

        return w5

    if workload == "W7a":
        x, v = leaf(inp["x"]), torch.tensor(inp["v"])

        def w7a() -> dict[str, Any]:
            (g,) = grad(torch.sum(torch.tanh(x) ** 2), x, create_graph=True)
            (hvp,) = grad(torch.sum(g * v), x)
            return {"hvp": hvp}

        return w7a

    if workload == "W7b":
        x0 = inp["x0"]

        def w7b() -> dict[str, Any]:
            x = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
            y = x * x * x * torch.sin(x)
            (dy,) = grad(y, x, create_graph=True)
            (d2y,) = grad(dy, x)
            return {"dy": dy, "d2y": d2y}

        return w7b

    if workload == "W8":
        W, x = torch.tensor(inp["W"]), torch.tensor(inp["x"])

        def forward(x_: Any) -> Any:
            return torch.tanh(torch.matmul(W, x_))

        def w8() -> dict[str, Any]:
            # default (vectorize=False): one backward pass per output element,
            # the same strategy as GradientTape.jacobian without pfor
            return {"jac": torch.autograd.functional.jacobian(forward, x)}

        return w8

    raise KeyError(workload)


# ------------------------------------------- numpy: hand-written backward ---
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


def w1a_numpy(dtype: type = np.float32) -> dict[str, Any]:
    x: np.ndarray = np.arange(4, dtype=dtype).reshape(4, 1)
    y = 2 * (x.T @ x)
    seed = np.ones_like(y)
    # y = 2·xᵀx: the gradient flows into both matmul operands
    return {"dy_dx": 2 * (x @ seed + x @ seed.T)}


def w1b_numpy(x0: float, dtype: type = np.float32) -> dict[str, Any]:
    x = dtype(x0)
    y = x * x
    return {"dz_dx": 2 * y * 2 * x, "dy_dx": 2 * x}


def w1c_numpy(a: np.ndarray) -> np.ndarray:
    """f(a) is a·m for a constant m picked by the control flow: df/da = m."""
    b = a * 2
    factor = 2.0
    while np.linalg.norm(b) < 1000:
        b = b * 2
        factor *= 2
    if np.sum(b) <= 0:
        factor *= 100
    return np.full_like(a, factor)


def w3_numpy(x: np.ndarray) -> dict[str, Any]:
    t = np.tanh(x)
    s = 1 / (1 + np.exp(-x))
    loss = np.sum(t * s + x * x)
    # d/dx tanh = 1 − t², d/dx sigmoid = s(1 − s)
    return {"loss": loss, "grad": (1 - t * t) * s + t * (s * (1 - s)) + 2 * x}


def w4_numpy(A: np.ndarray, B: np.ndarray) -> dict[str, Any]:
    seed = np.ones_like(A @ B)
    return {"dA": seed @ B.T, "dB": A.T @ seed}


def w5_numpy(params: dict[str, np.ndarray], X: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    n = X.shape[0]
    rows = np.arange(n)
    z1 = X @ params["W1"] + params["b1"]
    hidden = np.maximum(z1, 0)
    logits = hidden @ params["W2"] + params["b2"]
    shifted = logits - logits.max(axis=1, keepdims=True)  # exp cannot overflow
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    loss = -np.mean(shifted[rows, labels] - np.log(total[:, 0]))
    # d mean(CE) / d logits = (softmax − onehot) / n
    dlogits = e / total
    dlogits[rows, labels] -= 1
    dlogits /= n
    dz1 = (dlogits @ params["W2"].T) * (z1 > 0)
    return {
        "loss": loss,
        "gW1": X.T @ dz1,
        "gb1": dz1.sum(axis=0),
        "gW2": hidden.T @ dlogits,
        "gb2": dlogits.sum(axis=0),
    }


def w7a_numpy(x: np.ndarray, v: np.ndarray) -> dict[str, Any]:
    # f = Σ t², t = tanh x: f' = 2t(1 − t²), f'' = 2(1 − t²)(1 − 3t²), Hessian diagonal
    t = np.tanh(x)
    return {"hvp": 2 * (1 - t * t) * (1 - 3 * t * t) * v}


def w7b_numpy(x0: float, dtype: type = np.float32) -> dict[str, Any]:
    x = dtype(x0)
    s, c = np.sin(x), np.cos(x)
    return {
        "dy": 3 * x * x * s + x * x * x * c,
        "d2y": 6 * x * s + 6 * x * x * c - x * x * x * s,
    }


def w8_numpy(W: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    t = np.tanh(W @ x)  # (n, 1): row i of the jacobian is (1 − tᵢ²)·Wᵢ
    return {"jac": (1 - t * t) * W}


def numpy_step(workload: str, inp: dict[str, Any]) -> Step:
    """Hand-written float32 forward + backward: what the work costs with no tape."""
    if workload == "W1a":
        return lambda: w1a_numpy()
    if workload == "W1b":
        return lambda: w1b_numpy(inp["x0"])
    if workload == "W1c":
        rng = np.random.default_rng(inp["seed"])

        def w1c() -> dict[str, Any]:
            a = rng.standard_normal((1, 1)).astype(np.float32)
            return {"a": a, "d_grad": w1c_numpy(a)}

        return w1c
    if workload in ("W2", "W6"):
        return lambda: {"grad": chain_value_and_grad(inp["x"], inp["n_ops"])[1]}
    if workload == "W3":
        return lambda: w3_numpy(inp["x"])
    if workload == "W4":
        return lambda: w4_numpy(inp["A"], inp["B"])
    if workload == "W5":
        params = {k: inp[k].copy() for k in ("W1", "b1", "W2", "b2")}
        lr = np.float32(inp["lr"])

        def w5() -> dict[str, Any]:
            out = w5_numpy(params, inp["X"], inp["labels"])
            for k, p in params.items():
                p -= lr * out["g" + k]
            return out

        return w5
    if workload == "W7a":
        return lambda: w7a_numpy(inp["x"], inp["v"])
    if workload == "W7b":
        return lambda: w7b_numpy(inp["x0"])
    if workload == "W8":
        return lambda: w8_numpy(inp["W"], inp["x"])
    raise KeyError(workload)


def reference(workload: str, inp: dict[str, Any], got: dict[str, np.ndarray]) -> dict[str, Any]:
    """float64 values every framework must reproduce. ``got`` only supplies
    W1c's input, which each framework draws from its own RNG."""
    f64 = np.float64

    def up(k: str) -> np.ndarray:
        return inp[k].astype(f64)

    if workload == "W1a":
        return w1a_numpy(f64)
    if workload == "W1b":
        return w1b_numpy(inp["x0"], f64)
    if workload == "W1c":
        return {"d_grad": w1c_numpy(np.asarray(got["a"], f64).reshape(1, 1))}
    if workload in ("W2", "W6"):
        return {"grad": chain_value_and_grad(up("x"), inp["n_ops"])[1]}
    if workload == "W3":
        return w3_numpy(up("x"))
    if workload == "W4":
        return w4_numpy(up("A"), up("B"))
    if workload == "W5":
        params = {k: up(k) for k in ("W1", "b1", "W2", "b2")}
        return w5_numpy(params, up("X"), inp["labels"])
    if workload == "W7a":
        return w7a_numpy(up("x"), up("v"))
    if workload == "W7b":
        return w7b_numpy(inp["x0"], f64)
    if workload == "W8":
        return w8_numpy(up("W"), up("x"))
    raise KeyError(workload)


def check(workload: str, inp: dict[str, Any], got: dict[str, np.ndarray]) -> dict[str, Any]:
    """Worst normalised error max|got − ref| / max|ref| over the outputs."""
    worst, worst_key = 0.0, ""
    for key, ref in reference(workload, inp, got).items():
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
    tol = WORKLOADS[workload]["tol"]
    return {"correct": worst <= tol, "max_err": worst, "worst": worst_key, "tol": tol}


# ------------------------------------------------------------- frameworks ---
def load_framework(name: str) -> tuple[Callable[[str, dict[str, Any]], Step], dict[str, Any]]:
    """(make_step(workload, inputs), version/threading facts) for a framework."""
    try:
        module = importlib.import_module(IMPORT_NAMES[name])
    except ImportError as e:
        raise NotInstalled(f"{type(e).__name__}: {e}") from e
    info: dict[str, Any] = {"version": getattr(module, "__version__", "?")}
    if name == "tapegrad":
        info["RAYON_NUM_THREADS"] = os.environ.get("RAYON_NUM_THREADS", "unset")
        return (lambda w, inp: tf_style_step(module, w, inp)), info
    if name == "tf":
        try:
            info["intra_op_threads"] = module.config.threading.get_intra_op_parallelism_threads()
        except AttributeError:
            pass
        return (lambda w, inp: tf_style_step(module, w, inp)), info
    if name == "torch":
        info["threads"] = module.get_num_threads()
        return (lambda w, inp: torch_step(module, w, inp)), info
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # show_config's layout is not a stable API
        pass
    return numpy_step, info


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


def worker(framework: str, workload: str, a: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"framework": framework, "workload": workload, "status": "ok"}
    try:
        start = time.perf_counter()
        make_step, res["info"] = load_framework(framework)
        res["import_s"] = time.perf_counter() - start
        inp = make_inputs(workload)
        if workload == "W6":
            # run the chain once on 16 elements so that the memory measured
            # below excludes kernel loading and one-time pool set-up
            make_step(workload, dict(inp, x=inp["x"][:16]))()
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
def run_job(framework: str, workload: str, a: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up banner off stderr
    cmd = [
        sys.executable,
        SCRIPT,
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
            return json.loads(line)
    return {
        "framework": framework,
        "workload": workload,
        "status": "error",
        "error": f"worker exited with {proc.returncode}: {proc.stderr.strip()[-500:]}",
    }


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(q: float) -> str:
    return f"{q:.2f}" if q >= 0.1 else f"{q:.3f}"


# Each table row: (label, workload, value from a result, formatter, compare in ratios?)
Row = tuple[str, str, Callable[[dict[str, Any]], float | None], Callable[[float], str], bool]


def _median(r: dict[str, Any]) -> float | None:
    return r.get("median_s")


def table_rows() -> list[Row]:
    n2 = WORKLOADS["W2"]["n_ops"]
    n4 = WORKLOADS["W4"]["n"]
    rows: list[Row] = []
    for w in WORKLOADS:
        if w == "W2":
            rows.append(("W2 (per op)", w, _median, lambda s: f"{s / n2 * 1e6:.2f} µs/op", True))
        else:
            rows.append((w, w, _median, fmt_time, True))
        if w == "W4":
            # forward A@B plus the two backward matmuls: 3 × 2n³ flops;
            # its ratio is the W4 time ratio inverted, so it is not repeated
            rows.append(
                (
                    "W4 GFLOP/s",
                    w,
                    lambda r: 6 * n4**3 / r["median_s"] / 1e9 if r.get("median_s") else None,
                    lambda g: f"{g:.0f} GFLOP/s",
                    False,
                )
            )
        if w == "W6":
            rows.append(
                (
                    "W6 peak extra RSS",
                    w,
                    lambda r: r.get("first_call_extra_mib"),
                    lambda m: f"{m:.0f} MiB",
                    True,
                )
            )
    return rows


def render(results: list[dict[str, Any]], frameworks: list[str], workloads: list[str]) -> str:
    index = {(r["framework"], r["workload"]): r for r in results}
    others = [f for f in frameworks if f != "tapegrad"] if "tapegrad" in frameworks else []
    header = ["workload", *frameworks, *(f"tapegrad ÷ {f}" for f in others)]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    failures = []
    for label, w, value_of, fmt, ratio in table_rows():
        if w not in workloads:
            continue
        cells, values = [], {}
        for f in frameworks:
            r = index.get((f, w), {})
            if r.get("status") != "ok":
                cells.append({"timeout": "T/O"}.get(r.get("status", ""), "ERR") if r else "")
                continue
            v = value_of(r)
            values[f] = v
            mark = " ✗" if r.get("correct") is False else ""
            cells.append("" if v is None else fmt(v) + mark)
        for f in others:
            a, b = values.get("tapegrad"), values.get(f)
            cells.append(fmt_ratio(a / b) if ratio and a and b else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for r in results:
        if r.get("status") in ("error", "timeout"):
            failures.append(f"- {r['framework']} {r['workload']}: {r.get('error', r['status'])}")
        elif r.get("correct") is False:
            failures.append(
                f"- {r['framework']} {r['workload']}: ✗ max normalised error "
                f"{r['max_err']:.2e} in {r['worst']} (tolerance {r['tol']:.0e})"
            )
    notes = [
        "",
        "Median time per iteration (forward + gradient). `tapegrad ÷ X` is tapegrad's "
        "median over X's: below 1, tapegrad is faster. W6 peak extra RSS: VmHWM during "
        "the first full call (after a 16-element warm-up, peak reset via "
        "/proc/self/clear_refs) minus VmRSS just before it. ✗: outputs differ from the "
        "float64 numpy reference by more than the workload's tolerance.",
    ]
    if failures:
        notes += ["", "Failures:", *failures]
    legend = ["", "Workloads:", *(f"- {w}: {WORKLOADS[w]['desc']}" for w in workloads)]
    return "\n".join(lines + notes + legend)


def machine_lines(results: list[dict[str, Any]], frameworks: list[str], missing: dict) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS
        usable = os.cpu_count()
    lines = [
        f"- machine: {cpu}, {os.cpu_count()} cores ({usable} usable by this process), "
        f"{platform.system()} {platform.release()}",
        f"- python {platform.python_version()}; RAYON_NUM_THREADS="
        f"{os.environ.get('RAYON_NUM_THREADS', 'unset (rayon uses one thread per core)')}",
    ]
    if hasattr(os, "getloadavg"):  # other processes' load skews every timing below
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        lines.append(f"- load average at the end of the run (1, 5, 15 min): {load}")
    for f in frameworks:
        if f in missing:
            lines.append(f"- {f}: not installed ({missing[f]})")
            continue
        info = next((r["info"] for r in results if r["framework"] == f and r.get("info")), None)
        if info:
            lines.append(f"- {f}: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    return lines


def write_chart(results: list[dict[str, Any]], frameworks: list[str], path: str) -> str:
    """Bar groups of each framework's time relative to tapegrad; returns a note."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: chart skipped (pip install matplotlib)"
    if "tapegrad" not in frameworks:
        return "chart skipped: it is relative to tapegrad, which was not run"
    index = {(r["framework"], r["workload"]): r for r in results}
    others = [f for f in frameworks if f != "tapegrad"]
    groups: list[tuple[str, dict[str, float]]] = []
    for label, w, value_of, _, ratio in table_rows():
        base = index.get(("tapegrad", w), {})
        b = value_of(base) if base.get("status") == "ok" else None
        if not ratio or not b:
            continue
        rel = {}
        for f in others:
            r = index.get((f, w), {})
            v = value_of(r) if r.get("status") == "ok" else None
            if v:
                rel[f] = v / b
        if rel:
            groups.append((label.replace(" (per op)", ""), rel))
    if not groups:
        return "chart skipped: no framework other than tapegrad has results"
    bar_h = 0.8 / len(others)
    fig, ax = plt.subplots(figsize=(8, 1.2 + len(groups) * (0.2 + 0.25 * len(others))))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, f in enumerate(others):
        ys = [g + (k - (len(others) - 1) / 2) * bar_h for g, (_, rel) in enumerate(groups)]
        xs = [rel.get(f, math.nan) for _, rel in groups]
        # bars grow from 1 (tapegrad) to the ratio: right = slower, left = faster
        widths = [x - 1 for x in xs]
        color = colors[(k + 1) % len(colors)]
        ax.barh(ys, widths, height=bar_h, left=1, label=f, color=color)
        for y, x in zip(ys, xs, strict=True):
            if not math.isnan(x):
                ax.annotate(
                    f"{x:.0f}×" if x >= 10 else f"{x:.2f}×" if x >= 0.1 else f"{x:.3f}×",
                    (x, y),
                    xytext=(3 if x >= 1 else -3, 0),
                    textcoords="offset points",
                    ha="left" if x >= 1 else "right",
                    va="center",
                    fontsize=7,
                )
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1, label="tapegrad = 1")
    ax.set_yticks(range(len(groups)), [label for label, _ in groups])
    ax.invert_yaxis()  # W1a on top, in table order
    measured = "time (W6 RSS: memory)" if any("RSS" in g for g, _ in groups) else "time"
    ax.set_xlabel(f"{measured} relative to tapegrad, log scale; > 1: tapegrad is better")
    # above the axes, where it cannot hide a bar or the axis label
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(others) + 1,
        fontsize=8,
        frameon=False,
    )
    ax.set_title("tapegrad vs other frameworks (same machine, same run)", fontsize=10, pad=22)
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return f"chart written to {path}"


def parse_list(text: str, known: list[str] | tuple[str, ...], what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in known]
    if unknown or not names:
        raise SystemExit(f"unknown {what} {unknown or text!r}; known: {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--reps", type=int, help="timed repetitions (default 7; 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer reps, short inner loops")
    p.add_argument("--json", help="write every measurement to this JSON file")
    p.add_argument("--markdown", help="write the report (table and notes) to this file")
    p.add_argument(
        "--chart",
        default=os.path.join(HERE, "compare.png"),
        help="PNG path for the chart (default: compare.png next to this script; 'none': no chart)",
    )
    p.add_argument(
        "--render", metavar="JSON", help="re-print the report and chart of a stored --json run"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per job")
    p.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"), help=argparse.SUPPRESS)
    p.add_argument("--min-time", type=float, help=argparse.SUPPRESS)
    p.add_argument("--max-time", type=float, help=argparse.SUPPRESS)
    p.add_argument("--warmup-calls", type=int, help=argparse.SUPPRESS)
    p.add_argument("--warmup-s", type=float, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    quick = {"reps": 3, "min_time": 0.02, "max_time": 3.0, "warmup_calls": 1, "warmup_s": 0.02}
    full = {"reps": 7, "min_time": 0.1, "max_time": 15.0, "warmup_calls": 2, "warmup_s": 0.25}
    for key, value in (quick if a.quick else full).items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    if a.reps < 1:
        raise SystemExit("--reps must be at least 1")

    if a.worker:
        framework, workload = a.worker
        print(json.dumps(worker(framework, workload, a), default=str), flush=True)
        return
    if a.render:
        with open(a.render, encoding="utf-8") as fh:
            stored = json.load(fh)
        publish(stored["meta"], stored["results"], a)
        return

    frameworks = parse_list(a.frameworks, FRAMEWORKS, "framework")
    workloads = parse_list(a.workloads, list(WORKLOADS), "workload")
    missing = {
        f: "no module named " + IMPORT_NAMES[f]
        for f in frameworks
        if importlib.util.find_spec(IMPORT_NAMES[f]) is None
    }
    results: list[dict[str, Any]] = []
    started = time.time()
    jobs = [(f, w) for w in workloads for f in frameworks]  # a workload's jobs run back to back
    for n, (f, w) in enumerate(jobs, 1):
        if f in missing:
            continue
        r = run_job(f, w, a)
        if r.get("status") == "not installed":
            missing[f] = r.get("error", "import failed")
            continue
        results.append(r)
        if r.get("status") == "ok":
            shown = fmt_time(r["median_s"]) + (" ✗" if r.get("correct") is False else "")
        else:
            shown = f"{r['status']}: {r.get('error', '')[:120]}"
        elapsed = time.time() - started
        print(f"[{n:2d}/{len(jobs)} {elapsed:5.0f}s] {f:8s} {w:4s} {shown}", file=sys.stderr)

    ran = [f for f in frameworks if f not in missing]
    mode = "quick" if a.quick else "full"
    meta = {
        "title": f"tapegrad vs {', '.join(f for f in ran if f != 'tapegrad') or 'nothing'} "
        f"({time.strftime('%Y-%m-%d %H:%M')}, {mode} run: median of {a.reps} reps, "
        f"each ≥ {a.min_time} s)",
        "machine": machine_lines(results, frameworks, missing),
        "frameworks": ran,
        "workloads": workloads,
        "missing": missing,
        "args": vars(a),
    }
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=1, default=str)
    publish(meta, results, a)


def publish(meta: dict[str, Any], results: list[dict[str, Any]], a: argparse.Namespace) -> None:
    """Print the report, write --markdown and the chart."""
    report = "\n".join(
        [
            f"## {meta['title']}",
            "",
            *meta["machine"],
            "",
            render(results, meta["frameworks"], meta["workloads"]),
        ]
    )
    print(report)
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as fh:
            fh.write(report + "\n")
    if a.chart.lower() != "none":
        print("\n" + write_chart(results, meta["frameworks"], a.chart))


if __name__ == "__main__":
    main()
