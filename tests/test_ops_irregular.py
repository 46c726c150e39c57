"""Irregular ops (reductions with axes, shape and indexing ops, nn, linalg),
each against numpy, with first- and second-order gradients checked against
float64 central differences, and jacobians (which push a whole batch of
cotangents through every VJP at once: the leading-dimension convention)
checked against finite-difference jacobians."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, const, numeric_jacobian, projected_grad

# ---------------------------------------------------------------- helpers


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis) if axis is not None else r.reshape(())


def _cumsum(x, axis, exclusive=False, reverse=False):
    if reverse:
        x = np.flip(x, axis)
    c = np.cumsum(x, axis=axis)
    if exclusive:
        c = c - x
    return np.flip(c, axis) if reverse else c


def _cumprod(x, axis, exclusive=False, reverse=False):
    if reverse:
        x = np.flip(x, axis)
    c = np.cumprod(x, axis=axis)
    if exclusive:
        c = c / x
    return np.flip(c, axis) if reverse else c


def _windows(x, k, s, pad, fill=0.0):
    """NHWC windows [n, oh, ow, kh, kw, c] with TF's SAME/VALID padding."""
    n, h, w, c = x.shape
    pads = []
    for size, kk, ss in ((h, k[0], s[0]), (w, k[1], s[1])):
        if pad == "VALID":
            pads.append((0, 0))
        else:
            out = -(-size // ss)
            total = max((out - 1) * ss + kk - size, 0)
            pads.append((total // 2, total - total // 2))
    xp = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)], constant_values=fill)
    oh = (xp.shape[1] - k[0]) // s[0] + 1
    ow = (xp.shape[2] - k[1]) // s[1] + 1
    out = np.empty((n, oh, ow, k[0], k[1], c))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = xp[:, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
    return out


def _conv2d(x, f, s, pad):
    win = _windows(x, f.shape[:2], s, pad)
    return np.einsum("nijabc,abco->nijo", win, f)


def _avg_pool(x, k, s, pad):
    counts = _windows(np.ones_like(x), k, s, pad).sum((3, 4))
    return _windows(x, k, s, pad).sum((3, 4)) / counts


def _band(x: np.ndarray, lower: int, upper: int) -> np.ndarray:
    """numpy's band: (i, j) kept within `lower` below and `upper` above the diagonal."""
    i, j = np.indices(x.shape[-2:])
    keep = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
    return np.where(keep, x, 0)


def _spd(x):
    """A symmetric positive-definite matrix from any square x."""
    return x @ x.T + 3 * np.eye(x.shape[0])


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


LABELS = np.array([2, 0, 1])
IDX = np.array([2, 0, 2, 1])
MASK = np.array([True, False, True])
W = np.linspace(-1.0, 1.0, 12).reshape(3, 4)


@dataclass
class Case:
    name: str
    f: Callable[..., tf.Tensor]
    ref: Callable[..., np.ndarray]
    shapes: list[tuple[int, ...]]
    sample: str = "real"  # "real", "magnitude" (|x| in [0.5, 2]), "positive", "distinct"
    second: bool = True  # check second order (false where the op is piecewise linear)
    extra: dict = field(default_factory=dict)


CASES = [
    # -- reductions
    Case(
        "reduce_max_axis1",
        lambda x: tf.reduce_max(x, axis=1),
        lambda x: x.max(1),
        [(3, 4)],
        second=False,
    ),
    Case(
        "reduce_max_all", lambda x: tf.reduce_max(x), lambda x: x.max(), [(2, 3, 2)], second=False
    ),
    Case(
        "reduce_max_keep",
        lambda x: tf.reduce_max(x, axis=[0, 2], keepdims=True),
        lambda x: x.max((0, 2), keepdims=True),
        [(2, 3, 2)],
        second=False,
    ),
    Case(
        "reduce_min_neg",
        lambda x: tf.reduce_min(x, axis=-1),
        lambda x: x.min(-1),
        [(3, 4)],
        second=False,
    ),
    Case(
        "reduce_prod_axis0",
        lambda x: tf.reduce_prod(x, axis=0),
        lambda x: x.prod(0),
        [(3, 4)],
        "magnitude",
    ),
    Case("reduce_prod_all", lambda x: tf.reduce_prod(x), lambda x: x.prod(), [(2, 3)], "magnitude"),
    Case(
        "reduce_prod_keep",
        lambda x: tf.reduce_prod(x, axis=[0, 2], keepdims=True),
        lambda x: x.prod((0, 2), keepdims=True),
        [(2, 3, 2)],
        "magnitude",
    ),
    Case(
        "logsumexp_axis1",
        lambda x: tf.reduce_logsumexp(x, axis=1),
        lambda x: _logsumexp(x, 1),
        [(3, 4)],
    ),
    Case("logsumexp_all", lambda x: tf.reduce_logsumexp(x), lambda x: _logsumexp(x), [(3, 4)]),
    Case(
        "variance_axis0", lambda x: tf.math.reduce_variance(x, axis=0), lambda x: x.var(0), [(3, 4)]
    ),
    Case(
        "std_keep",
        lambda x: tf.math.reduce_std(x, axis=1, keepdims=True),
        lambda x: x.std(1, keepdims=True),
        [(3, 4)],
    ),
    Case("cumsum", lambda x: tf.cumsum(x, axis=1), lambda x: _cumsum(x, 1), [(3, 4)]),
    Case(
        "cumsum_excl_rev",
        lambda x: tf.cumsum(x, axis=0, exclusive=True, reverse=True),
        lambda x: _cumsum(x, 0, True, True),
        [(3, 4)],
    ),
    Case(
        "cumprod",
        lambda x: tf.math.cumprod(x, axis=1),
        lambda x: _cumprod(x, 1),
        [(3, 4)],
        "magnitude",
    ),
    Case(
        "cumprod_excl_rev",
        lambda x: tf.math.cumprod(x, axis=0, exclusive=True, reverse=True),
        lambda x: _cumprod(x, 0, True, True),
        [(3, 4)],
        "magnitude",
    ),
    Case(
        "euclidean_norm",
        lambda x: tf.math.reduce_euclidean_norm(x, axis=0),
        lambda x: np.sqrt((x**2).sum(0)),
        [(3, 4)],
    ),
    Case("sort", lambda x: tf.sort(x), lambda x: np.sort(x, -1), [(3, 4)], "distinct", False),
    Case(
        "sort_desc_axis0",
        lambda x: tf.sort(x, axis=0, direction="DESCENDING"),
        lambda x: -np.sort(-x, 0),
        [(3, 4)],
        "distinct",
        False,
    ),
    Case(
        "top_k",
        lambda x: tf.math.top_k(x, k=2)[0],
        lambda x: -np.sort(-x, -1)[:, :2],
        [(3, 4)],
        "distinct",
        False,
    ),
    Case(
        "norm_2_axis1", lambda x: tf.norm(x, axis=1), lambda x: np.linalg.norm(x, axis=1), [(3, 4)]
    ),
    Case(
        "norm_1",
        lambda x: tf.norm(x, ord=1, axis=0),
        lambda x: np.abs(x).sum(0),
        [(3, 4)],
        "magnitude",
        False,
    ),
    Case(
        "norm_inf",
        lambda x: tf.norm(x, ord=np.inf, axis=1),
        lambda x: np.abs(x).max(1),
        [(3, 4)],
        "distinct",
        False,
    ),
    Case(
        "norm_3",
        lambda x: tf.norm(x, ord=3),
        lambda x: (np.abs(x) ** 3).sum() ** (1 / 3),
        [(5,)],
        "magnitude",
    ),
    Case(
        "norm_matrix_1",
        lambda x: tf.norm(x, ord=1, axis=[0, 1]),
        lambda x: np.linalg.norm(x, 1),
        [(3, 4)],
        "distinct",
        False,
    ),
    Case(
        "norm_matrix_inf",
        lambda x: tf.norm(x, ord=np.inf, axis=[-2, -1]),
        lambda x: np.stack([np.linalg.norm(m, np.inf) for m in x]),
        [(2, 3, 4)],
        "distinct",
        False,
    ),
    Case(
        "norm_fro",
        lambda x: tf.norm(x, ord="fro", axis=[0, 1]),
        lambda x: np.linalg.norm(x),
        [(3, 4)],
    ),
    # -- nn
    Case("softmax", lambda x: tf.nn.softmax(x), _softmax, [(3, 4)]),
    Case("softmax_axis0", lambda x: tf.nn.softmax(x, axis=0), lambda x: _softmax(x, 0), [(3, 4)]),
    Case("log_softmax", lambda x: tf.nn.log_softmax(x), _log_softmax, [(3, 4)]),
    Case(
        "sparse_ce",
        lambda x: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=LABELS, logits=x),
        lambda x: -_log_softmax(x)[np.arange(3), LABELS],
        [(3, 4)],
    ),
    Case(
        "softmax_ce",
        lambda y, x: tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x),
        lambda y, x: -(y * _log_softmax(x)).sum(-1),
        [(3, 4), (3, 4)],
    ),
    Case(
        "sigmoid_ce",
        lambda z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
        lambda z, x: np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))),
        [(3, 4), (3, 4)],
        "magnitude",
    ),
    Case("l2_loss", lambda x: tf.nn.l2_loss(x), lambda x: (x**2).sum() / 2, [(3, 4)]),
    Case(
        "leaky_relu",
        lambda x: tf.nn.leaky_relu(x, alpha=0.3),
        lambda x: np.where(x > 0, x, 0.3 * x),
        [(3, 4)],
        "magnitude",
        False,
    ),
    Case("gelu_tanh", lambda x: tf.nn.gelu(x, approximate=True), _gelu_tanh, [(3, 4)]),
    Case("bias_add", lambda x, b: tf.nn.bias_add(x, b), lambda x, b: x + b, [(2, 3, 4), (4,)]),
    Case(
        "bias_add_nchw",
        lambda x, b: tf.nn.bias_add(x, b, data_format="NCHW"),
        lambda x, b: x + b[:, None],
        [(2, 3, 4), (3,)],
    ),
    # TF takes the variance around stop_gradient(mean): exact first
    # derivatives, but not second ones, so only first order is compared
    Case(
        "moments",
        lambda x: tf.stack(tf.nn.moments(x, axes=[0])),
        lambda x: np.stack([x.mean(0), x.var(0)]),
        [(3, 4)],
        second=False,
    ),
    Case(
        "clip_by_value",
        lambda x: tf.clip_by_value(x, -1.0, 1.0),
        lambda x: np.clip(x, -1, 1),
        [(3, 4)],
        "magnitude",
        False,
    ),
    # -- shape
    Case("expand_dims", lambda x: tf.expand_dims(x, 1), lambda x: x[:, None], [(3, 4)]),
    Case("expand_dims_neg", lambda x: tf.expand_dims(x, -1), lambda x: x[..., None], [(3, 4)]),
    Case("squeeze", lambda x: tf.squeeze(x), lambda x: x.squeeze(), [(1, 3, 1, 2)]),
    Case("squeeze_axis", lambda x: tf.squeeze(x, axis=[2]), lambda x: x.squeeze(2), [(1, 3, 1, 2)]),
    Case(
        "concat",
        lambda a, b: tf.concat([a, b], axis=1),
        lambda a, b: np.concatenate([a, b], 1),
        [(3, 2), (3, 4)],
    ),
    Case(
        "concat_neg",
        lambda a, b: tf.concat([a, b], -2),
        lambda a, b: np.concatenate([a, b], -2),
        [(2, 3), (1, 3)],
    ),
    Case(
        "stack",
        lambda a, b: tf.stack([a, b], axis=1),
        lambda a, b: np.stack([a, b], 1),
        [(3, 2), (3, 2)],
    ),
    Case(
        "unstack",
        lambda x: tf.stack(tf.unstack(x, axis=1)[::-1]),
        lambda x: np.stack(list(x.T)[::-1]),
        [(3, 4)],
    ),
    Case(
        "split",
        lambda x: tf.concat(tf.split(x, [1, -1], axis=1)[::-1], axis=1),
        lambda x: np.concatenate([x[:, 1:], x[:, :1]], 1),
        [(3, 4)],
    ),
    Case(
        "split_even",
        lambda x: tf.concat(tf.split(x, 2)[::-1], 0),
        lambda x: np.concatenate([x[2:], x[:2]]),
        [(4, 3)],
    ),
    Case("tile", lambda x: tf.tile(x, [2, 1, 3]), lambda x: np.tile(x, [2, 1, 3]), [(2, 1, 2)]),
    Case(
        "pad",
        lambda x: tf.pad(x, [[1, 0], [2, 1]], constant_values=0.5),
        lambda x: np.pad(x, [[1, 0], [2, 1]], constant_values=0.5),
        [(3, 4)],
    ),
    Case("reverse", lambda x: tf.reverse(x, [0, -1]), lambda x: x[::-1, ::-1], [(3, 4)]),
    Case("getitem_int", lambda x: x[1], lambda x: x[1], [(3, 4)]),
    Case("getitem_step", lambda x: x[:, ::-2], lambda x: x[:, ::-2], [(3, 5)]),
    Case("getitem_mixed", lambda x: x[..., None, 1:3], lambda x: x[..., None, 1:3], [(2, 3, 4)]),
    Case("getitem_neg", lambda x: x[-1, 3:0:-2], lambda x: x[-1, 3:0:-2], [(3, 5)]),
    Case(
        "getitem_tensor",
        lambda x: x[:, tf.constant([2, 0, 2])],
        lambda x: x[:, [2, 0, 2]],
        [(3, 4)],
    ),
    Case("getitem_scalar_tensor", lambda x: x[tf.constant(2)], lambda x: x[2], [(3, 4)]),
    Case("gather_axis1", lambda x: tf.gather(x, IDX, axis=1), lambda x: x[:, IDX], [(3, 4)]),
    Case(
        "gather_batch",
        lambda x: tf.gather(x, np.array([[0, 3], [1, 1], [2, 0]]), axis=1, batch_dims=1),
        lambda x: np.take_along_axis(x, np.array([[0, 3], [1, 1], [2, 0]]), 1),
        [(3, 4)],
    ),
    Case(
        "gather_batch_3d",
        lambda x: tf.gather(x, np.array([[1, 0, 1], [0, 0, 1]]), axis=2, batch_dims=1),
        lambda x: np.stack([x[0][:, [1, 0, 1]], x[1][:, [0, 0, 1]]]),
        [(2, 3, 2)],
    ),
    Case(
        "gather_nd",
        lambda x: tf.gather_nd(x, np.array([[0, 1], [2, 3], [0, 1]])),
        lambda x: x[[0, 2, 0], [1, 3, 1]],
        [(3, 4)],
    ),
    Case(
        "gather_nd_rows",
        # through identity: on x itself the gradient is TF's IndexedSlices
        # (tests/test_indexed_slices.py)
        lambda x: tf.gather_nd(tf.identity(x), np.array([[2], [0]])),
        lambda x: x[[2, 0]],
        [(3, 4)],
    ),
    Case(
        "gather_nd_batch",
        lambda x: tf.gather_nd(x, np.array([[[1, 3], [0, 0]], [[2, 1], [2, 1]]]), batch_dims=1),
        lambda x: np.stack([x[0][[1, 0], [3, 0]], x[1][[2, 2], [1, 1]]]),
        [(2, 3, 4)],
    ),
    Case("boolean_mask", lambda x: tf.boolean_mask(x, MASK), lambda x: x[MASK], [(3, 4)]),
    Case(
        "boolean_mask_axis1",
        lambda x: tf.boolean_mask(x, np.array([True, False, True, True]), axis=1),
        lambda x: x[:, [0, 2, 3]],
        [(3, 4)],
    ),
    # -- convolution and pooling (NHWC)
    Case(
        "conv2d_valid",
        lambda x, f: tf.nn.conv2d(x, f, strides=1, padding="VALID"),
        lambda x, f: _conv2d(x, f, (1, 1), "VALID"),
        [(2, 4, 4, 2), (3, 2, 2, 3)],
    ),
    Case(
        "conv2d_same_strided",
        lambda x, f: tf.nn.conv2d(x, f, strides=[1, 2, 2, 1], padding="SAME"),
        lambda x, f: _conv2d(x, f, (2, 2), "SAME"),
        [(1, 5, 4, 2), (3, 3, 2, 2)],
    ),
    Case(
        "max_pool_valid",
        lambda x: tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID"),
        lambda x: _windows(x, (2, 2), (2, 2), "VALID").max((3, 4)),
        [(2, 4, 4, 3)],
        "distinct",
        False,
    ),
    Case(
        "max_pool_same",
        lambda x: tf.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME"),
        lambda x: _windows(x, (3, 3), (2, 2), "SAME", -np.inf).max((3, 4)),
        [(1, 5, 5, 2)],
        "distinct",
        False,
    ),
    Case(
        "avg_pool_same",
        lambda x: tf.nn.avg_pool2d(x, ksize=[2, 3], strides=[1, 2], padding="SAME"),
        lambda x: _avg_pool(x, (2, 3), (1, 2), "SAME"),
        [(2, 3, 5, 2)],
    ),
    # -- linalg
    Case(
        "inv",
        lambda x: tf.linalg.inv(x + 3 * np.eye(3)),
        lambda x: np.linalg.inv(x + 3 * np.eye(3)),
        [(2, 3, 3)],
    ),
    Case("det", lambda x: tf.linalg.det(x), np.linalg.det, [(2, 3, 3)]),
    Case(
        "solve",
        lambda a, b: tf.linalg.solve(a + 3 * np.eye(3), b),
        lambda a, b: np.linalg.solve(a + 3 * np.eye(3), b),
        [(2, 3, 3), (2, 3, 2)],
    ),
    Case(
        "cholesky",
        lambda x: tf.linalg.cholesky(tf.matmul(x, x, transpose_b=True) + 3 * np.eye(3)),
        lambda x: np.linalg.cholesky(_spd(x)),
        [(3, 3)],
    ),
    Case(
        "diag_part",
        lambda x: tf.linalg.diag_part(x),
        lambda x: np.diagonal(x, 0, -2, -1),
        [(2, 3, 4)],
    ),
    Case(
        "band_part", lambda x: tf.linalg.band_part(x, 1, 0), lambda x: _band(x, 1, 0), [(2, 3, 4)]
    ),
    Case(
        "band_part_upper",
        lambda x: tf.linalg.band_part(x, -1, 2),
        lambda x: _band(x, -1, 2),
        [(3, 4)],
    ),
    Case(
        "diag_part_above",
        lambda x: tf.linalg.diag_part(x, k=2),
        lambda x: np.diagonal(x, 2, -2, -1),
        [(2, 3, 4)],
    ),
    Case(
        "diag_part_below",
        lambda x: tf.linalg.diag_part(x, k=-1),
        lambda x: np.diagonal(x, -1, -2, -1),
        [(2, 3, 4)],
    ),
    Case("trace", lambda x: tf.linalg.trace(x), lambda x: np.trace(x, 0, -2, -1), [(2, 3, 3)]),
    Case(
        "diag", lambda x: tf.linalg.diag(x), lambda x: np.stack([np.diag(v) for v in x]), [(2, 3)]
    ),
    Case("matvec", lambda a, b: tf.linalg.matvec(a, b), lambda a, b: a @ b, [(3, 4), (4,)]),
    Case(
        "tensordot_1",
        lambda a, b: tf.tensordot(a, b, 1),
        lambda a, b: np.tensordot(a, b, 1),
        [(2, 3), (3, 4)],
    ),
    Case(
        "tensordot_pairs",
        lambda a, b: tf.tensordot(a, b, [[0, 2], [1, 0]]),
        lambda a, b: np.tensordot(a, b, [[0, 2], [1, 0]]),
        [(2, 3, 4), (4, 2, 5)],
    ),
    Case(
        "einsum_mm", lambda a, b: tf.einsum("ij,jk->ik", a, b), lambda a, b: a @ b, [(2, 3), (3, 4)]
    ),
    Case(
        "einsum_bmm",
        lambda a, b: tf.einsum("bij,bjk->bik", a, b),
        lambda a, b: a @ b,
        [(2, 2, 3), (2, 3, 4)],
    ),
    Case("einsum_diag", lambda x: tf.einsum("ii->i", x), lambda x: np.diag(x), [(3, 3)]),
    Case("einsum_trace", lambda x: tf.einsum("ii", x), lambda x: np.trace(x), [(3, 3)]),
    Case("einsum_t", lambda x: tf.einsum("ij->ji", x), lambda x: x.T, [(3, 4)]),
    Case(
        "einsum_dot",
        lambda a, b: tf.einsum("ij,ij->", a, b),
        lambda a, b: (a * b).sum(),
        [(3, 4), (3, 4)],
    ),
    Case("einsum_outer", lambda a, b: tf.einsum("i,j->ij", a, b), np.outer, [(3,), (4,)]),
    Case(
        "einsum_three",
        lambda a, b, c: tf.einsum("ij,jk,kl->il", a, b, c),
        lambda a, b, c: a @ b @ c,
        [(2, 3), (3, 4), (4, 2)],
    ),
    Case(
        "einsum_implicit_sum",
        lambda a, b: tf.einsum("bij,jk", a, b),
        lambda a, b: np.einsum("bij,jk", a, b),
        [(2, 3, 4), (4, 5)],
    ),
    # -- x-weighted log and division (y kept positive: y² + 0.5), broadcasting
    Case(
        "xlogy",
        lambda x, y: tf.math.xlogy(x, y * y + 0.5),
        lambda x, y: x * np.log(y * y + 0.5),
        [(3, 1), (4,)],
    ),
    Case(
        "xdivy",
        lambda x, y: tf.math.xdivy(x, y * y + 0.5),
        lambda x, y: x / (y * y + 0.5),
        [(3, 1), (4,)],
    ),
]


def _inputs(case: Case) -> list[np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    out = []
    for s in case.shapes:
        if case.sample == "magnitude":
            out.append(rng.uniform(0.5, 2.0, s) * rng.choice([-1.0, 1.0], s))
        elif case.sample == "distinct":  # distinct magnitudes, 0.2 apart: no ties
            n = int(np.prod(s))
            mags = 0.5 + 0.2 * rng.permutation(n)
            out.append((mags * rng.choice([-1.0, 1.0], n)).reshape(s))
        else:
            out.append(rng.uniform(-2.0, 2.0, s))
    return out


def _np_of(f):
    return lambda *arrays: f(*[const(a) for a in arrays]).numpy()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_forward_matches_numpy(case: Case) -> None:
    xs = _inputs(case)
    for dtype in ("float64", "float32"):
        args = [x.astype(dtype) for x in xs]
        got = case.f(*[const(a) for a in args])
        expected = np.asarray(case.ref(*args))
        assert got.dtype.name == dtype
        assert tuple(got.shape) == expected.shape
        tol = 1e-12 if dtype == "float64" else 1e-5
        np.testing.assert_allclose(got.numpy(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gradients(case: Case) -> None:
    xs = _inputs(case)
    check_vjp(case.f, xs)
    if case.second:
        check_vjp(projected_grad(case.f, xs), xs, unconnected="zero")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_jacobian_batches_cotangents(case: Case) -> None:
    """``jacobian`` sends every row of the identity through each VJP at
    once: a VJP that drops the leading batch dimensions fails here."""
    xs = _inputs(case)
    ts = [const(x) for x in xs]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(ts)
        y = case.f(*ts)
    jacs = tape.jacobian(y, ts)
    for i, j in enumerate(jacs):
        expected = numeric_jacobian(_np_of(case.f), xs, i)
        np.testing.assert_allclose(j.numpy(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.second], ids=[c.name for c in CASES if c.second]
)
def test_jacobian_of_gradient(case: Case) -> None:
    """The Hessian of ``sum(f · w)`` as the jacobian of a tape gradient:
    the VJPs of the VJP rules get batched cotangents too."""
    xs = _inputs(case)
    w = const(np.random.default_rng(3).standard_normal(np.shape(_np_of(case.f)(*xs))))

    def grad0(*ts):
        with tf.GradientTape() as inner:
            inner.watch(list(ts))
            s = tf.reduce_sum(case.f(*ts) * w)
        return inner.gradient(s, ts[0], unconnected_gradients="zero")

    ts = [const(x) for x in xs]
    with tf.GradientTape() as outer:
        outer.watch(ts)
        g = grad0(*ts)
    h = outer.jacobian(g, ts[0], unconnected_gradients="zero")
    expected = numeric_jacobian(_np_of(grad0), xs, 0)
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-5, atol=1e-6)


# TF 2.21's xlogy/xdivy (float64) at x = 0 (with y = 0, inf, 2), x = 1 with
# y = 0, and ordinary points, with the gradients of sum(f) and the second
# derivatives of xlogy, recorded from TensorFlow.
XY_X = [0.0, 0.0, 0.0, 1.0, 2.0, -1.5, 3.0]
XY_Y = [0.0, np.inf, 2.0, 0.0, 3.0, 0.5, -1.0]
TF_XLOGY = {
    "value": [0.0, 0.0, 0.0, -np.inf, 2.1972245773362196, 1.0397207708399179, np.nan],
    "dx": [0.0, 0.0, 0.0, -np.inf, 1.0986122886681098, -0.6931471805599453, np.nan],
    "dy": [0.0, 0.0, 0.0, np.inf, 0.6666666666666666, -3.0, -3.0],
    "dx_dy": [0.0, 0.0, 0.0, np.inf, 0.3333333333333333, 2.0, -1.0],
    "dy_dy": [0.0, 0.0, 0.0, -np.inf, -0.2222222222222222, 6.0, -3.0],
}
TF_XDIVY = {
    "value": [0.0, 0.0, 0.0, np.inf, 0.6666666666666666, -3.0, -3.0],
    "dx": [0.0, 0.0, 0.0, np.inf, 0.3333333333333333, 2.0, -1.0],
    "dy": [0.0, 0.0, 0.0, -np.inf, -0.2222222222222222, 6.0, -3.0],
}


@pytest.mark.parametrize("name, expected", [("xlogy", TF_XLOGY), ("xdivy", TF_XDIVY)])
def test_xlogy_xdivy_match_tensorflow_at_zero(name: str, expected: dict) -> None:
    f = getattr(tf.math, name)
    x, y = tf.constant(XY_X, tf.float64), tf.constant(XY_Y, tf.float64)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch([x, y])
        with tf.GradientTape() as inner:
            inner.watch([x, y])
            z = f(x, y)
        dx, dy = inner.gradient(z, [x, y])
    np.testing.assert_array_equal(z.numpy(), expected["value"])
    np.testing.assert_array_equal(dx.numpy(), expected["dx"])
    np.testing.assert_array_equal(dy.numpy(), expected["dy"])
    if name == "xlogy":
        np.testing.assert_array_equal(outer.gradient(dx, y).numpy(), expected["dx_dy"])
        np.testing.assert_array_equal(outer.gradient(dy, y).numpy(), expected["dy_dy"])


@pytest.mark.parametrize("f", [tf.math.xlogy, tf.math.xdivy], ids=["xlogy", "xdivy"])
def test_xlogy_xdivy_dtypes(f) -> None:
    # float32 too, and a Python scalar takes the tensor's dtype
    z = f(tf.constant([0.0, 2.0]), 4.0)
    assert z.dtype == tf.float32
    # integer tensors and mixed float dtypes are refused, as in TF
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        f(tf.constant([0, 1]), tf.constant([1, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="double tensor"):
        f(tf.constant([1.0]), tf.constant([1.0], tf.float64))


# TF 2.21's answers for tf.linalg.diag_part(tf.reshape(tf.range(12.0), [3, 4]), k=k)
DIAG_PART_TF = {0: [0.0, 5.0, 10.0], 1: [1.0, 6.0, 11.0], 3: [3.0], -1: [4.0, 9.0], -2: [8.0]}


@pytest.mark.parametrize("k", sorted(DIAG_PART_TF))
def test_diag_part_offsets_match_tensorflow(k: int) -> None:
    x = tf.reshape(tf.range(12.0), [3, 4])
    assert tf.linalg.diag_part(x, k=k).numpy().tolist() == DIAG_PART_TF[k]


@pytest.mark.parametrize("k", [4, -3])
def test_diag_part_offsets_out_of_bound_raise_as_tensorflow(k: int) -> None:
    # TF: InvalidArgumentError "... is out of bound: 4. It must be between -2 and 3"
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of bound"):
        tf.linalg.diag_part(tf.zeros([3, 4]), k=k)


def test_diag_part_of_empty_matrices_is_empty_for_any_offset() -> None:
    # TF 2.21: shape (0,) for [0, 0] k=0, [0, 3] k=1 and [2, 0] k=0
    for shape, k in [([0, 0], 0), ([0, 3], 1), ([2, 0], 0)]:
        assert tf.linalg.diag_part(tf.zeros(shape), k=k).shape == (0,)


# TF 2.21's answers for tf.linalg.band_part(tf.reshape(tf.range(1.0, 13.0), [3, 4]), lower, upper)
BAND_PART_TF = {
    (1, 0): [[1.0, 0.0, 0.0, 0.0], [5.0, 6.0, 0.0, 0.0], [0.0, 10.0, 11.0, 0.0]],
    (0, -1): [[1.0, 2.0, 3.0, 4.0], [0.0, 6.0, 7.0, 8.0], [0.0, 0.0, 11.0, 12.0]],
    (2, 1): [[1.0, 2.0, 0.0, 0.0], [5.0, 6.0, 7.0, 0.0], [9.0, 10.0, 11.0, 12.0]],
    (3, 4): [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]],
}


@pytest.mark.parametrize("bounds", sorted(BAND_PART_TF))
def test_band_part_matches_tensorflow(bounds: tuple[int, int]) -> None:
    x = tf.reshape(tf.range(1.0, 13.0), [3, 4])
    assert tf.linalg.band_part(x, *bounds).numpy().tolist() == BAND_PART_TF[bounds]


def test_band_part_gradient_and_dtypes_match_tensorflow() -> None:
    x = tf.reshape(tf.range(1.0, 13.0), [3, 4])
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.linalg.band_part(v, 1, 0) * x)
    assert tape.gradient(y, v).numpy().tolist() == BAND_PART_TF[(1, 0)]
    eye = tf.linalg.band_part(tf.constant([[True, True], [True, True]]), 0, 0)
    assert eye.dtype == tf.bool and eye.numpy().tolist() == [[True, False], [False, True]]


@pytest.mark.parametrize(
    "bounds, message",
    [((4, 0), r"number of rows \(3\) got: 4"), ((0, 5), r"number of columns \(4\) got: 5")],
)
def test_band_part_bounds_past_the_matrix_raise_as_tensorflow(bounds, message) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        tf.linalg.band_part(tf.zeros([3, 4]), *bounds)
