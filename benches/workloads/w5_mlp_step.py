"""W5: one SGD step of an MLP, batch 256, 784 → 256 relu → 10, sparse
softmax cross-entropy, parameters updated in place."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workloads import Inputs, Step, Workload, normal

PARAMS = ("W1", "b1", "W2", "b2")


def inputs(rng: np.random.Generator) -> Inputs:
    return {
        "X": normal(rng, 256, 784),
        "labels": rng.integers(0, 10, size=256).astype(np.int64),
        # He init for the relu layer, Glorot-like for the logits: keeps the
        # loss O(1) so the float32 gradients are well conditioned.
        "W1": normal(rng, 784, 256, scale=math.sqrt(2.0 / 784)),
        "b1": np.zeros(256, np.float32),
        "W2": normal(rng, 256, 10, scale=math.sqrt(1.0 / 256)),
        "b2": np.zeros(10, np.float32),
        "lr": 0.1,
    }


def tf_step(tf: Any, inp: Inputs) -> Step:
    X, labels = tf.constant(inp["X"]), tf.constant(inp["labels"])
    params = [tf.Variable(inp[k]) for k in PARAMS]
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


def torch_step(torch: Any, inp: Inputs) -> Step:
    X, labels = torch.tensor(inp["X"]), torch.tensor(inp["labels"])
    params = [torch.tensor(inp[k], requires_grad=True) for k in PARAMS]
    lr = inp["lr"]

    def w5() -> dict[str, Any]:
        W1, b1, W2, b2 = params
        hidden = torch.relu(torch.matmul(X, W1) + b1)
        logits = torch.matmul(hidden, W2) + b2
        loss = torch.nn.functional.cross_entropy(logits, labels)  # mean over the batch
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(lr * g)
        return {"loss": loss, **dict(zip(("gW1", "gb1", "gW2", "gb2"), grads, strict=True))}

    return w5


def loss_and_grads(
    params: dict[str, np.ndarray], X: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
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


def numpy_step(inp: Inputs) -> Step:
    params = {k: inp[k].copy() for k in PARAMS}
    lr = np.float32(inp["lr"])

    def w5() -> dict[str, Any]:
        out = loss_and_grads(params, inp["X"], inp["labels"])
        for k, p in params.items():
            p -= lr * out["g" + k]
        return out

    return w5


def reference(inp: Inputs, got: dict[str, np.ndarray]) -> dict[str, Any]:
    # the first step's gradients, at the initial parameters
    params = {k: inp[k].astype(np.float64) for k in PARAMS}
    return loss_and_grads(params, inp["X"].astype(np.float64), inp["labels"])


WORKLOADS = [
    Workload(
        name="W5",
        desc="MLP SGD step: 256×784 → 256 relu → 10, sparse softmax CE",
        tol=1e-4,
        inputs=inputs,
        tf_step=tf_step,
        torch_step=torch_step,
        numpy_step=numpy_step,
        reference=reference,
    )
]
