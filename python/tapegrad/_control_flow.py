"""Control flow as ops: ``tf.cond``, ``tf.case``, ``tf.switch_case``,
``tf.while_loop``, ``tf.map_fn``, ``tf.scan``, ``tf.foldl``, ``tf.foldr`` and
``tf.vectorized_map``.

Each runs its Python callables eagerly and composes the ops they record
(``unstack`` the elements, ``stack`` the results), so every one is usable
eagerly, differentiable through ``GradientTape`` to any order, and captured
by a ``tf.function`` trace like any other op. A decision on a tensor value
(the predicate, the loop condition, the branch index) is a Python ``bool``/
``int`` of that tensor, which a trace guards: a replay whose decision differs
re-runs the Python function (see ``_function``). Values and error types are
TF's (checked against TF 2.21).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _core, _nest, errors
from ._core import Tensor, Variable
from .data import TensorSpec
from .dtypes import DType, as_dtype

__all__ = [
    "case",
    "cond",
    "foldl",
    "foldr",
    "map_fn",
    "scan",
    "switch_case",
    "vectorized_map",
    "while_loop",
]

_MISSING: Any = object()


def _truth(value: Any) -> bool:
    """A predicate's Python truth: a scalar tensor's value (numpy's error for
    a tensor of several elements, as TF)."""
    if isinstance(value, (Tensor, Variable)):
        return bool(value.numpy())
    return bool(value)


def cond(
    pred: Any,
    true_fn: Callable[[], Any] | None = None,
    false_fn: Callable[[], Any] | None = None,
    name: str | None = None,
) -> Any:
    """``true_fn()`` if ``pred`` else ``false_fn()`` (``tf.cond``); only the
    chosen branch runs, and its result is returned unchanged.

    >>> import tapegrad as tf
    >>> x = tf.constant(2.0)
    >>> print(tf.cond(x > 1.0, lambda: x * 10.0, lambda: x))
    tapegrad.Tensor(20.0, shape=(), dtype=float32)
    """
    if true_fn is None:
        raise TypeError("cond(): 'true_fn' argument required")
    if false_fn is None:
        raise TypeError("cond(): 'false_fn' argument required")
    if not callable(true_fn):
        raise TypeError("'true_fn' must be callable.")
    if not callable(false_fn):
        raise TypeError("'false_fn' must be callable.")
    return true_fn() if _truth(pred) else false_fn()


def case(
    pred_fn_pairs: Sequence[tuple[Any, Callable[[], Any]]] | Mapping[Any, Callable[[], Any]],
    default: Callable[[], Any] | None = None,
    exclusive: bool = False,
    strict: bool = False,
    name: str = "case",
) -> Any:
    """The function of the first pair whose predicate is true, else
    ``default()`` (``tf.case``). As TF in eager mode, ``exclusive`` is not
    checked: the first true predicate wins.

    >>> import tapegrad as tf
    >>> x = tf.constant(3)
    >>> print(tf.case([(x < 0, lambda: tf.constant(-1)), (x > 2, lambda: tf.constant(1))],
    ...               default=lambda: tf.constant(0)))
    tapegrad.Tensor(1, shape=(), dtype=int32)
    """
    pairs = (
        list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, Mapping) else list(pred_fn_pairs)
    )
    if not pairs and default is None:
        raise ValueError("case: pred_fn_pairs is empty and no default is given; pass at least one")
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"Each entry in 'pred_fn_pairs' must be a 2-tuple. Received {pair}.")
        if not callable(pair[1]):
            raise TypeError(f"case: fn for predicate {pair[0]!r} must be callable.")
    if default is not None and not callable(default):
        raise TypeError("case: 'default' must be callable.")
    truths = [_truth(pred) for pred, _ in pairs]
    for truth, (_, fn) in zip(truths, pairs, strict=True):
        if truth:
            return fn()
    if default is None:
        listed = ", ".join(str(t) for t in truths)
        raise errors.InvalidArgumentError(
            f"case: none of the conditions evaluated as True ({listed}) and no default is given"
        )
    return default()


def switch_case(
    branch_index: Any,
    branch_fns: Sequence[Callable[[], Any]]
    | Mapping[int, Callable[[], Any]]
    | Sequence[tuple[int, Callable[[], Any]]],
    default: Callable[[], Any] | None = None,
    name: str = "switch_case",
) -> Any:
    """``branch_fns[branch_index]()`` (``tf.switch_case``); an index out of
    range runs ``default``, or the last branch when there is none (TF's rule).

    >>> import tapegrad as tf
    >>> branches = [lambda: tf.constant(10), lambda: tf.constant(11)]
    >>> print(tf.switch_case(tf.constant(1), branches))
    tapegrad.Tensor(11, shape=(), dtype=int32)
    >>> print(tf.switch_case(tf.constant(7), branches, default=lambda: tf.constant(-1)))
    tapegrad.Tensor(-1, shape=(), dtype=int32)
    """
    if not isinstance(branch_index, (Tensor, Variable)):
        raise TypeError(f"'branch_index' must be a Tensor, got {type(branch_index)}")
    if not branch_index.dtype.is_integer:
        raise TypeError(f"'branch_index' must be an integer Tensor, got {branch_index.dtype}")
    if isinstance(branch_fns, Mapping):
        items = sorted(branch_fns.items())
    else:
        items = [
            item if isinstance(item, tuple) else (position, item)
            for position, item in enumerate(branch_fns)
        ]
        items.sort(key=lambda pair: pair[0])
    if not items:
        raise ValueError("Must provide at least one item in 'branch_fns'")
    keys = [k for k, _ in items]
    if keys != list(range(len(keys))):
        found = "{" + ",".join(str(k) for k in keys) + "}"
        raise ValueError(
            "branch indices (keys) must form contiguous range of "
            f"[0 to {len(keys)}) but found {found}"
        )
    fns = [fn for _, fn in items]
    for position, fn in enumerate(fns):
        if not callable(fn):
            raise TypeError(f"switch_case: branch_fns[{position}] must be callable.")
    index = int(branch_index.numpy())
    if 0 <= index < len(fns):
        return fns[index]()
    return default() if default is not None else fns[-1]()


def while_loop(
    cond: Callable[..., Any],
    body: Callable[..., Any],
    loop_vars: Any,
    shape_invariants: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    maximum_iterations: Any = None,
    name: str | None = None,
) -> Any:
    """Repeat ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``
    (``tf.while_loop``), at most ``maximum_iterations`` times.

    ``loop_vars`` is a list or tuple (its items are the arguments of ``cond``
    and ``body``); ``body`` returns a list or tuple of the same structure.
    ``shape_invariants``, ``parallel_iterations`` and ``swap_memory`` are
    accepted: each iteration runs eagerly, so shapes may change freely.

    >>> import tapegrad as tf
    >>> i, total = tf.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i),
    ...                          (tf.constant(0), tf.constant(0)))
    >>> print(total)
    tapegrad.Tensor(10, shape=(), dtype=int32)
    """
    if not callable(cond):
        raise TypeError("'cond' must be callable.")
    if not callable(body):
        raise TypeError("'body' must be callable.")
    if isinstance(loop_vars, (Tensor, Variable)) or not isinstance(loop_vars, (list, tuple)):
        # TF iterates loop_vars; a lone tensor is its elements, anything else an error
        if isinstance(loop_vars, (Tensor, Variable)) and loop_vars.shape.rank == 0:
            raise TypeError(
                "while_loop: loop_vars must be a list or tuple (got a scalar tensor); "
                "wrap it: loop_vars=[x]"
            )
        try:
            loop_vars = list(loop_vars)
        except TypeError:
            raise TypeError(
                f"while_loop: loop_vars must be a list or tuple, got {type(loop_vars).__name__}"
            ) from None
    if not loop_vars:
        raise ValueError("'loop_vars' must be provided.")
    limit = None
    if maximum_iterations is not None:
        limit = int(
            maximum_iterations.numpy()
            if isinstance(maximum_iterations, (Tensor, Variable))
            else maximum_iterations
        )
        if limit < 0:
            raise errors.InvalidArgumentError(
                f"while_loop: maximum_iterations must be non-negative, got {limit}"
            )
    structure = list(loop_vars)
    current: Any = loop_vars
    iterations = 0
    while (limit is None or iterations < limit) and _truth(cond(*current)):
        result = body(*current)
        if not isinstance(result, (list, tuple)):
            scalar = not isinstance(result, (Tensor, Variable)) or result.shape.rank == 0
            raise (TypeError if scalar else ValueError)(
                f"while_loop: body must return a list or tuple matching loop_vars (got "
                f"{type(result).__name__}); e.g. return (x,) for one loop variable"
            )
        if limit is not None and type(result) is not type(loop_vars):
            # TF's quirk, kept: with maximum_iterations the container types must match too
            raise TypeError(
                f"while_loop: body returned a {type(result).__name__} but loop_vars is a "
                f"{type(loop_vars).__name__}; with maximum_iterations they must be the same type"
            )
        _nest_public_assert(structure, list(result), "while_loop: body's result and loop_vars")
        current = result
        iterations += 1
    return current


def _nest_public_assert(first: Any, second: Any, what: str) -> None:
    from .nest import assert_same_structure

    try:
        assert_same_structure(first, second)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{what} do not have the same nested structure: {error}") from None


# ---------------------------------------------------------------------------
# Maps and folds: unstack the elements, run fn, stack.


def _leaves_of_elems(elems: Any, op: str) -> tuple[Any, list[Tensor | Variable], int]:
    """The elements' structure, its leaves as tensors (numpy converted) and
    their common leading length (TF's errors for scalars and mismatches)."""
    flat = [
        _core.convert_to_tensor(leaf) if not isinstance(leaf, (Tensor, Variable)) else leaf
        for leaf in _nest.flatten(elems)
    ]
    if not flat:
        raise ValueError(f"{op}: elems must contain at least one tensor")
    for leaf in flat:
        if leaf.shape.rank == 0:
            raise ValueError("Elements in elems must be 1+ dimensional Tensors, not scalars")
    lengths = {int(leaf.shape[0]) for leaf in flat}
    if len(lengths) > 1:
        first, second = sorted(lengths)[:2]
        raise ValueError(f"Dimensions {first} and {second} are not compatible")
    return elems, flat, lengths.pop()


def _slices(structure: Any, flat: list[Tensor | Variable], count: int) -> list[Any]:
    """Element i of every leaf, in ``structure``'s shape, for each i."""
    columns = [_core.unstack(leaf, num=count, axis=0) if count else [] for leaf in flat]
    packed = []
    for i in range(count):
        leaves = [column[i] for column in columns]
        packed.append(
            _nest.pack_sequence_as(structure, leaves) if _nest.is_nested(structure) else leaves[0]
        )
    return packed


def _stack_results(results: list[Any], structure: Any, dtypes: list[DType | None], op: str) -> Any:
    """Stack per-element results leaf by leaf: every leaf converted to its
    declared dtype (or its own), shapes checked equal as TF does."""
    flat_results = []
    for result in results:
        _nest_public_assert(structure, result, f"{op}: fn's output and fn_output_signature")
        flat_results.append(_nest.flatten(result))
    stacked = []
    for position, dtype in enumerate(dtypes):
        column = []
        for flat in flat_results:
            value = flat[position]
            if isinstance(value, (Tensor, Variable)):
                if dtype is not None and value.dtype != dtype:
                    raise errors.InvalidArgumentError(
                        f"{op}: fn returned a {value.dtype.name} tensor where the output signature "
                        f"says {dtype.name}; pass fn_output_signature= the dtype fn returns"
                    )
            else:
                value = _core.convert_to_tensor(value, dtype=dtype)
            column.append(value)
        shapes = {tuple(v.shape) for v in column}
        if len(shapes) > 1:
            first = tuple(column[0].shape)
            other = next(tuple(v.shape) for v in column if tuple(v.shape) != first)
            raise ValueError(f"Incompatible shape for value ({other}), expected ({first})")
        stacked.append(_core.stack(column, axis=0))
    if _nest.is_nested(structure):
        return _nest.pack_sequence_as(structure, stacked)
    return stacked[0]


def _signature_dtypes(signature: Any) -> tuple[Any, list[DType | None]]:
    """``fn_output_signature``'s structure and the dtype of each leaf."""
    leaves = _nest.flatten(signature)
    dtypes: list[DType | None] = []
    for leaf in leaves:
        if isinstance(leaf, TensorSpec):
            dtypes.append(leaf.dtype)
        else:
            dtypes.append(as_dtype(leaf))
    return signature, dtypes


def map_fn(
    fn: Callable[[Any], Any],
    elems: Any,
    dtype: Any = None,
    parallel_iterations: int | None = None,
    back_prop: bool = True,
    swap_memory: bool = False,
    infer_shape: bool = True,
    name: str | None = None,
    fn_output_signature: Any = None,
) -> Any:
    """``fn`` applied to each slice of ``elems`` along axis 0, the results
    stacked (``tf.map_fn``). ``elems`` may be a nested structure of tensors
    with equal first dimensions; ``fn`` then gets the same structure of
    slices. The output has ``elems``' structure and dtypes unless
    ``fn_output_signature`` (dtypes or ``TensorSpec``s, nested) says otherwise.

    >>> import tapegrad as tf
    >>> print(tf.map_fn(lambda row: tf.reduce_sum(row), tf.constant([[1, 2], [3, 4]])))
    tapegrad.Tensor([3 7], shape=(2,), dtype=int32)
    >>> print(tf.map_fn(lambda t: t[0] * t[1], (tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0])),
    ...                 fn_output_signature=tf.float32))
    tapegrad.Tensor([3. 8.], shape=(2,), dtype=float32)
    """
    if not callable(fn):
        raise TypeError(f"map_fn: fn must be callable, got {fn!r}")
    signature = fn_output_signature if fn_output_signature is not None else dtype
    structure, flat, count = _leaves_of_elems(elems, "map_fn")
    if signature is None:
        out_structure: Any = structure
        dtypes: list[DType | None] = [leaf.dtype for leaf in flat]
    else:
        out_structure, dtypes = _signature_dtypes(signature)
    if count == 0:
        empty = [_core.zeros([0], dtype=d if d is not None else "float32") for d in dtypes]
        return (
            _nest.pack_sequence_as(out_structure, empty)
            if _nest.is_nested(out_structure)
            else empty[0]
        )
    results = [fn(item) for item in _slices(structure, flat, count)]
    return _stack_results(results, out_structure, dtypes, "map_fn")


def vectorized_map(
    fn: Callable[[Any], Any],
    elems: Any,
    fallback_to_while_loop: bool = True,
    warn: bool = True,
) -> Any:
    """``fn`` over the slices of ``elems`` along axis 0, the results stacked
    (``tf.vectorized_map``): ``map_fn`` whose output structure and dtypes are
    ``fn``'s own. tapegrad runs ``fn`` per slice (see docs/compat.md).

    >>> import tapegrad as tf
    >>> print(tf.vectorized_map(lambda x: (x, x * 2.0), tf.constant([1.0, 2.0]))[1])
    tapegrad.Tensor([2. 4.], shape=(2,), dtype=float32)
    """
    if not callable(fn):
        raise TypeError(f"vectorized_map: fn must be callable, got {fn!r}")
    structure, flat, count = _leaves_of_elems(elems, "vectorized_map")
    if count == 0:
        # fn's output shape from one zero slice (fn must be pure, as TF's pfor assumes)
        probe = fn(
            _nest.pack_sequence_as(
                structure, [_core.zeros(list(leaf.shape)[1:], dtype=leaf.dtype) for leaf in flat]
            )
            if _nest.is_nested(structure)
            else _core.zeros(list(flat[0].shape)[1:], dtype=flat[0].dtype)
        )
        empty = [
            _core.zeros(
                [0, *list(_core.convert_to_tensor(v).shape)], dtype=_core.convert_to_tensor(v).dtype
            )
            for v in _nest.flatten(probe)
        ]
        return _nest.pack_sequence_as(probe, empty) if _nest.is_nested(probe) else empty[0]
    results = [fn(item) for item in _slices(structure, flat, count)]
    first = results[0]
    dtypes: list[DType | None] = [
        v.dtype if isinstance(v, (Tensor, Variable)) else _core.convert_to_tensor(v).dtype
        for v in _nest.flatten(first)
    ]
    return _stack_results(results, first, dtypes, "vectorized_map")


def scan(
    fn: Callable[[Any, Any], Any],
    elems: Any,
    initializer: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    infer_shape: bool = True,
    reverse: bool = False,
    name: str | None = None,
) -> Any:
    """The running accumulation ``acc = fn(acc, elem)`` over the slices of
    ``elems``, every ``acc`` stacked (``tf.scan``); without ``initializer`` the
    first element starts it (and is the first output).

    >>> import tapegrad as tf
    >>> print(tf.scan(lambda acc, x: acc + x, tf.constant([1, 2, 3, 4])))
    tapegrad.Tensor([ 1  3  6 10], shape=(4,), dtype=int32)
    """
    if not callable(fn):
        raise TypeError(f"scan: fn must be callable, got {fn!r}")
    structure, flat, count = _leaves_of_elems(elems, "scan")
    items = _slices(structure, flat, count)
    order = list(range(count))[::-1] if reverse else list(range(count))
    outputs: list[Any] = [None] * count
    if initializer is None:
        if count == 0:
            raise errors.OutOfRangeError("scan: elems is empty and no initializer is given")
        accumulator = items[order[0]]
        outputs[order[0]] = accumulator
        order = order[1:]
    else:
        accumulator = initializer
    for i in order:
        new = fn(accumulator, items[i])
        _nest_public_assert(accumulator, new, "scan: fn's output and the accumulator")
        accumulator = new
        outputs[i] = new
    if count == 0:
        flat_init = [_core.convert_to_tensor(v) for v in _nest.flatten(initializer)]
        empty = [_core.zeros([0, *list(v.shape)], dtype=v.dtype) for v in flat_init]
        return (
            _nest.pack_sequence_as(initializer, empty) if _nest.is_nested(initializer) else empty[0]
        )
    first = outputs[0]
    dtypes: list[DType | None] = [
        v.dtype if isinstance(v, (Tensor, Variable)) else None for v in _nest.flatten(first)
    ]
    return _stack_results(outputs, first, dtypes, "scan")


def _fold(
    fn: Callable[[Any, Any], Any], elems: Any, initializer: Any, reverse: bool, op: str
) -> Any:
    if not callable(fn):
        raise TypeError(f"{op}: fn must be callable, got {fn!r}")
    structure, flat, count = _leaves_of_elems(elems, op)
    items = _slices(structure, flat, count)
    if reverse:
        items = items[::-1]
    if initializer is None:
        if not items:
            raise errors.OutOfRangeError(f"{op}: elems is empty and no initializer is given")
        accumulator, items = items[0], items[1:]
    else:
        accumulator = initializer
    for item in items:
        accumulator = fn(accumulator, item)
    return accumulator


def foldl(
    fn: Callable[[Any, Any], Any],
    elems: Any,
    initializer: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    name: str | None = None,
) -> Any:
    """``fn(...fn(fn(initializer, e0), e1)..., en)`` over the slices of
    ``elems`` (``tf.foldl``); without ``initializer``, ``e0`` starts it.

    >>> import tapegrad as tf
    >>> digits = tf.constant([1, 2, 3])
    >>> print(tf.foldl(lambda acc, x: acc * 10 + x, digits, initializer=tf.constant(0)))
    tapegrad.Tensor(123, shape=(), dtype=int32)
    """
    return _fold(fn, elems, initializer, False, "foldl")


def foldr(
    fn: Callable[[Any, Any], Any],
    elems: Any,
    initializer: Any = None,
    parallel_iterations: int = 10,
    back_prop: bool = True,
    swap_memory: bool = False,
    name: str | None = None,
) -> Any:
    """``foldl`` from the last slice to the first (``tf.foldr``).

    >>> import tapegrad as tf
    >>> digits = tf.constant([1, 2, 3])
    >>> print(tf.foldr(lambda acc, x: acc * 10 + x, digits, initializer=tf.constant(0)))
    tapegrad.Tensor(321, shape=(), dtype=int32)
    """
    return _fold(fn, elems, initializer, True, "foldr")
