"""Scenarios of ``tf.function`` retracing and of the control-flow ops, written
against a TF-like module ``tf``: ``fixtures/record_tf_function.py`` runs them
with TensorFlow into ``fixtures/tf_function.json``, ``test_function.py`` runs
them with tapegrad and compares. Each returns JSON-able answers: tracing
counts after each call, values as lists, errors as their type name."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import numpy as np

Point = collections.namedtuple("Point", "x y")


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return _plain(call())
    except Exception as error:  # noqa: BLE001 - the error type is the answer
        return "error:" + type(error).__name__


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [type(value).__name__] + [_plain(v) for v in value]
    array = np.asarray(value)
    return {"dtype": array.dtype.name, "value": array.tolist()}


def _counts(function: Any, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
    out = []
    for args, kwargs in calls:
        try:
            function(*args, **kwargs)
            out.append(function.experimental_get_tracing_count())
        except Exception as error:  # noqa: BLE001
            out.append("error:" + type(error).__name__)
    return out


def _a(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def retracing(tf: Any) -> dict[str, Any]:
    c = tf.constant

    def fresh() -> Any:
        @tf.function
        def g(*args: Any, **kwargs: Any) -> Any:
            return c(0)

        return g

    out: dict[str, Any] = {}
    out["tensors"] = _counts(
        fresh(),
        [_a(c(1.0)), _a(c(2.0)), _a(c([1.0])), _a(c(1)), _a(c(1.0, tf.float64)), _a(c([[1.0]]))],
    )
    out["python_scalars"] = _counts(
        fresh(),
        [_a(1), _a(1), _a(2), _a(1.0), _a(True), _a("a"), _a("a"), _a("b"), _a(None), _a(None)],
    )
    out["structures"] = _counts(
        fresh(),
        [
            _a([1, 2]),
            _a([1, 2]),
            _a((1, 2)),
            _a([c(1.0), c(2.0)]),
            _a([c(3.0), c(4.0)]),
            _a({"a": c(1.0)}),
            _a({"a": c(2.0)}),
            _a({"b": c(2.0)}),
            _a({"a": c(1.0), "b": 1}),
            _a({"b": 1, "a": c(5.0)}),
        ],
    )
    out["namedtuples"] = _counts(
        fresh(),
        [_a(Point(c(1.0), 2)), _a(Point(c(3.0), 2)), _a((c(1.0), 2)), _a(Point(c(1.0), 3))],
    )
    out["numpy"] = _counts(
        fresh(),
        [
            _a(np.float32(1.0)),
            _a(np.float32(2.0)),
            _a(np.array([1.0, 2.0])),
            _a(np.array([3.0, 4.0])),
            _a(np.array([1.0, 2.0], np.float32)),
            _a(np.array(1.0)),
            _a(c(1.0)),
        ],
    )
    v1, v2, v3, v4 = (
        tf.Variable(1.0),
        tf.Variable(2.0),
        tf.Variable([1.0]),
        tf.Variable(1.0, dtype=tf.float64),
    )
    out["variables"] = _counts(fresh(), [_a(v1), _a(v1), _a(v2), _a(v3), _a(v4), _a(c(1.0))])

    @tf.function
    def with_defaults(x: Any, y: Any = 1, *, z: Any = 2) -> Any:
        return x

    out["keywords_and_defaults"] = _counts(
        with_defaults,
        [
            _a(c(1.0)),
            _a(c(1.0), 1),
            _a(c(1.0), y=1),
            _a(x=c(1.0)),
            _a(c(1.0), z=2),
            _a(c(1.0), z=3),
            _a(c(1.0), 2),
            _a(c(1.0), 2, 3),
            _a(),
        ],
    )

    @tf.function(reduce_retracing=True)
    def relaxed(x: Any) -> Any:
        return x

    out["reduce_retracing"] = _counts(
        relaxed,
        [
            _a(c([1.0])),
            _a(c([1.0, 2.0])),
            _a(c([1.0, 2.0, 3.0])),
            _a(c([[1.0]])),
            _a(c([[1.0, 2.0]])),
            _a(c(1.0)),
            _a(c(1)),
            _a(c([1, 2])),
            _a(1),
            _a(2),
        ],
    )

    class Holder:
        pass

    h1, h2 = Holder(), Holder()
    out["objects"] = _counts(fresh(), [_a(h1), _a(h1), _a(h2), _a(h1)])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def signed(x: Any) -> Any:
        return x * 2.0

    out["input_signature"] = _counts(
        signed,
        [
            _a(c([1.0])),
            _a(c([1.0, 2.0])),
            _a(np.array([1.0, 2.0], np.float32)),
            _a([1.0, 2.0]),
            _a([1, 2]),
            _a(x=c([1.0])),
            _a(c(1.0)),
            _a(c([1], tf.int32)),
            _a(c([[1.0]])),
            _a(c([1.0]), c([2.0])),
            _a(),
        ],
    )
    out["input_signature_value"] = _outcome(lambda: signed([1, 2]))

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable(2.0)

        @tf.function
        def call(self, x: Any) -> Any:
            return x * self.v

    m1, m2 = Model(), Model()
    m1.call(c(1.0))
    m1.call(c(2.0))
    m2.call(c(1.0))
    out["methods"] = [
        m1.call.experimental_get_tracing_count(),
        m2.call.experimental_get_tracing_count(),
        m1.call is m1.call,
        m1.call is m2.call,
        Model.call.experimental_get_tracing_count(),
        _plain(Model.call(m1, c(3.0))),
        Model.call.experimental_get_tracing_count(),
    ]

    @tf.function
    def outputs(x: Any) -> Any:
        return {"t": x, "n": 3, "f": 2.5, "none": None, "nested": (x + 1, [True])}

    out["outputs"] = _outcome(lambda: outputs(c(1.0)))
    out["outputs_again"] = _outcome(lambda: outputs(c(2.0)))

    @tf.function
    def concrete(x: Any, y: Any = 2, *, z: Any = None) -> Any:
        return {"a": x * y, "b": [x, x + 1]}

    cf = concrete.get_concrete_function(c([1.0, 2.0]))
    sig_args, sig_kwargs = cf.structured_input_signature
    out["concrete_signature"] = [repr(s) for s in sig_args] + [repr(sig_kwargs)]
    out["concrete_call"] = _outcome(lambda: cf(c([3.0, 4.0])))
    out["concrete_wrong_dtype"] = _outcome(lambda: cf(c([3, 4])))
    out["concrete_count"] = concrete.experimental_get_tracing_count()
    cf2 = concrete.get_concrete_function(tf.TensorSpec([None], tf.float32))
    out["concrete_spec_signature"] = repr(cf2.structured_input_signature[0][0])
    out["concrete_spec_count"] = concrete.experimental_get_tracing_count()
    out["concrete_spec_call"] = _outcome(lambda: cf2(c([1.0, 2.0, 3.0])))
    # a call that fits the TensorSpec trace uses it: no new trace
    concrete(c([5.0, 6.0, 7.0]))
    out["concrete_spec_reused"] = concrete.experimental_get_tracing_count()
    out["concrete_no_args"] = _outcome(lambda: concrete.get_concrete_function())
    return out


def side_effects(tf: Any) -> dict[str, Any]:
    log: list[str] = []

    @tf.function
    def f(x: Any) -> Any:
        log.append("python")
        return x + 1

    for value in (1.0, 2.0, 3.0):
        f(tf.constant(value))
    f(tf.constant([1.0]))
    outcome = {"python_appends": len(log), "count": f.experimental_get_tracing_count()}

    tf.config.run_functions_eagerly(True)
    try:
        eager_log: list[int] = []

        @tf.function
        def g(x: Any) -> Any:
            eager_log.append(1)
            return x

        g(tf.constant(1.0))
        g(tf.constant(2.0))
        outcome["eager_appends"] = len(eager_log)
        outcome["eager_count"] = g.experimental_get_tracing_count()
        outcome["eager_flag"] = tf.config.functions_run_eagerly()
    finally:
        tf.config.run_functions_eagerly(False)
    g(tf.constant(3.0))
    outcome["after_eager_appends"] = len(eager_log)
    outcome["after_eager_count"] = g.experimental_get_tracing_count()
    return outcome


def variables(tf: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}

    class Lazy:
        def __init__(self) -> None:
            self.v = None
            self.log: list[int] = []

        @tf.function
        def __call__(self, x: Any) -> Any:
            self.log.append(1)
            if self.v is None:
                self.v = tf.Variable(2.0)
            self.v.assign_add(1.0)
            return self.v * x

    lazy = Lazy()
    out["lazy"] = [_outcome(lambda: lazy(tf.constant(1.0))) for _ in range(3)]
    out["lazy_new_shape"] = _outcome(lambda: lazy(tf.constant([1.0])))
    out["lazy_traces"] = len(lazy.log)
    out["lazy_count"] = lazy.__call__.experimental_get_tracing_count()

    class Late:
        def __init__(self) -> None:
            self.made: list[Any] = []

        @tf.function
        def __call__(self, x: Any) -> Any:
            if len(x.shape) == 1:
                self.made.append(tf.Variable(2.0))
            return x

    late = Late()
    out["late"] = [
        _outcome(lambda: late(tf.constant(1.0))),
        _outcome(lambda: late(tf.constant([1.0]))),
    ]

    counter = tf.Variable(0)

    @tf.function
    def bump() -> Any:
        counter.assign_add(1)
        return counter.read_value() * 10

    out["reads_current_value"] = [_outcome(bump) for _ in range(3)]
    counter.assign(100)
    out["sees_outside_assign"] = _outcome(bump)
    return out


def control_flow(tf: Any) -> dict[str, Any]:
    c = tf.constant
    cases: dict[str, Callable[[], Any]] = {
        "cond_python": lambda: tf.cond(True, lambda: 1, lambda: 2),
        "cond_tensor": lambda: tf.cond(c(False), lambda: c(1.0), lambda: c(2.0)),
        "cond_structure": lambda: tf.cond(
            c(True), lambda: (c(1.0), [c(2)]), lambda: (c(3.0), [c(4)])
        ),
        "cond_nonscalar": lambda: tf.cond(c([True, False]), lambda: 1, lambda: 2),
        "cond_int_pred": lambda: tf.cond(c(1), lambda: 1, lambda: 2),
        "cond_not_callable": lambda: tf.cond(True, 1, lambda: 2),
        "cond_missing": lambda: tf.cond(True, lambda: 1),
        "cond_none": lambda: tf.cond(True, lambda: None, lambda: None),
        "case": lambda: tf.case(
            [(c(False), lambda: c(1)), (c(True), lambda: c(2))], default=lambda: c(3)
        ),
        "case_default": lambda: tf.case([(c(False), lambda: c(1))], default=lambda: c(3)),
        "case_none_true": lambda: tf.case([(c(False), lambda: c(1)), (c(False), lambda: c(2))]),
        "case_exclusive_eager": lambda: tf.case(
            [(c(True), lambda: c(1)), (c(True), lambda: c(2))], exclusive=True
        ),
        "case_bad_pair": lambda: tf.case([c(True)]),
        "switch": lambda: tf.switch_case(c(1), [lambda: c(10), lambda: c(11)]),
        "switch_out_of_range": lambda: tf.switch_case(c(5), [lambda: c(10), lambda: c(11)]),
        "switch_negative": lambda: tf.switch_case(c(-1), [lambda: c(10), lambda: c(11)]),
        "switch_default": lambda: tf.switch_case(c(5), [lambda: c(10)], default=lambda: c(99)),
        "switch_dict": lambda: tf.switch_case(c(1), {1: lambda: c(10), 0: lambda: c(0)}),
        "switch_dict_gap": lambda: tf.switch_case(c(3), {3: lambda: c(30), 1: lambda: c(10)}),
        "switch_python_index": lambda: tf.switch_case(1, [lambda: c(10), lambda: c(11)]),
        "switch_float_index": lambda: tf.switch_case(c(1.0), [lambda: c(10), lambda: c(11)]),
        "switch_empty": lambda: tf.switch_case(c(0), []),
        "while": lambda: tf.while_loop(
            lambda i, s: i < 5, lambda i, s: (i + 1, s + i), [c(0), c(0)]
        ),
        "while_one_list": lambda: tf.while_loop(lambda i: i < 5, lambda i: [i + 1], [c(0)]),
        "while_one_tuple": lambda: tf.while_loop(lambda i: i < 5, lambda i: (i + 1,), (c(0),)),
        "while_maximum_iterations": lambda: tf.while_loop(
            lambda i: i < 5, lambda i: (i + 1,), [c(0)], maximum_iterations=3
        ),
        "while_maximum_iterations_tensor": lambda: tf.while_loop(
            lambda i: i < 5, lambda i: (i + 1,), [c(0)], maximum_iterations=c(2)
        ),
        "while_structure_mismatch": lambda: tf.while_loop(
            lambda i, s: i < 5, lambda i, s: (i + 1,), [c(0), c(0)]
        ),
        "while_body_returns_tensor": lambda: tf.while_loop(
            lambda i: i < 5, lambda i: i + 1, [c(0)]
        ),
        "while_namedtuple": lambda: tf.while_loop(
            lambda p: p.x < 3, lambda p: [Point(p.x + 1, p.y * 2)], [Point(c(0), c(1.0))]
        ),
        "while_nested": lambda: tf.while_loop(
            lambda i, d: i < 3,
            lambda i, d: (i + 1, {"a": d["a"] * 2, "b": [d["b"][0] + 1]}),
            [c(0), {"a": c(1.0), "b": [c(0)]}],
        ),
        "while_shape_change": lambda: tf.while_loop(
            lambda x: tf.size(x) < 3,
            lambda x: [tf.concat([x, [1]], 0)],
            [c([0])],
            shape_invariants=[tf.TensorShape([None])],
        ),
        "while_not_callable": lambda: tf.while_loop(1, lambda i: i, [c(0)]),
        "while_nonscalar_cond": lambda: tf.while_loop(
            lambda i: i < 5, lambda i: (i + 1,), [c([0, 1])]
        ),
        "while_scalar_loop_vars": lambda: tf.while_loop(lambda i: i < 5, lambda i: i + 1, c(3)),
        "while_empty": lambda: tf.while_loop(lambda: True, lambda: (), []),
        "map_fn": lambda: tf.map_fn(lambda x: x * 2, c([[1.0, 2.0], [3.0, 4.0]])),
        "map_fn_reduce": lambda: tf.map_fn(lambda row: tf.reduce_sum(row), c([[1, 2], [3, 4]])),
        "map_fn_tuple_needs_signature": lambda: tf.map_fn(
            lambda x: x[0] + x[1], (c([1, 2]), c([10, 20]))
        ),
        "map_fn_tuple_signature": lambda: tf.map_fn(
            lambda x: x[0] + x[1], (c([1, 2]), c([10, 20])), fn_output_signature=tf.int32
        ),
        "map_fn_tuple_out": lambda: tf.map_fn(lambda x: (x, x * 2), c([1, 2])),
        "map_fn_tuple_out_signature": lambda: tf.map_fn(
            lambda x: (x, tf.cast(x, tf.float32)),
            c([1, 2]),
            fn_output_signature=(tf.int32, tf.TensorSpec([], tf.float32)),
        ),
        "map_fn_dtype_change": lambda: tf.map_fn(lambda x: tf.cast(x, tf.float32), c([1, 2])),
        "map_fn_signature": lambda: tf.map_fn(
            lambda x: tf.cast(x, tf.float32), c([1, 2]), fn_output_signature=tf.float32
        ),
        "map_fn_dtype_kwarg": lambda: tf.map_fn(
            lambda x: tf.cast(x, tf.float32), c([1, 2]), dtype=tf.float32
        ),
        "map_fn_empty": lambda: tf.map_fn(lambda x: x * 2, tf.zeros([0, 3])),
        "map_fn_scalar": lambda: tf.map_fn(lambda x: x * 2, c(1.0)),
        "map_fn_length_mismatch": lambda: tf.map_fn(lambda x: x[0], (c([1, 2]), c([1, 2, 3]))),
        "map_fn_shape_varies": lambda: tf.map_fn(lambda x: tf.range(x), c([1, 2])),
        "map_fn_numpy": lambda: tf.map_fn(lambda x: x * 2, np.array([1.0, 2.0])),
        "map_fn_python_result": lambda: tf.map_fn(lambda x: 1.0, c([1.0, 2.0])),
        "map_fn_dict": lambda: tf.map_fn(
            lambda d: {"a": d["a"] * 2, "b": d["b"] + 1}, {"a": c([1.0, 2.0]), "b": c([1, 2])}
        ),
        "scan": lambda: tf.scan(lambda a, x: a + x, c([1, 2, 3, 4])),
        "scan_initializer": lambda: tf.scan(
            lambda a, x: a + x, c([1.0, 2.0, 3.0]), initializer=c(10.0)
        ),
        "scan_reverse": lambda: tf.scan(lambda a, x: a + x, c([1, 2, 3, 4]), reverse=True),
        "scan_reverse_initializer": lambda: tf.scan(
            lambda a, x: a * 2 + x, c([1, 2, 3]), initializer=c(1), reverse=True
        ),
        "scan_structure": lambda: tf.scan(
            lambda a, x: (a[0] + x, a[1] * x), c([1.0, 2.0, 3.0]), initializer=(c(0.0), c(1.0))
        ),
        "scan_elems_tuple": lambda: tf.scan(
            lambda a, x: a + x[0] * x[1], (c([1.0, 2.0]), c([3.0, 4.0])), initializer=c(0.0)
        ),
        "scan_bad_structure": lambda: tf.scan(
            lambda a, x: a[0], c([1.0, 2.0, 3.0]), initializer=(c(0.0), c(1.0))
        ),
        "scan_empty": lambda: tf.scan(lambda a, x: a + x, tf.zeros([0])),
        "scan_matrix_state": lambda: tf.scan(
            lambda a, x: tf.matmul(a, x), c([[[1.0, 1.0], [0.0, 1.0]]] * 3)
        ),
        "foldl": lambda: tf.foldl(lambda a, x: a + x, c([1, 2, 3])),
        "foldl_initializer": lambda: tf.foldl(
            lambda a, x: a * 10 + x, c([1, 2, 3]), initializer=c(0)
        ),
        "foldr": lambda: tf.foldr(lambda a, x: a * 10 + x, c([1, 2, 3]), initializer=c(0)),
        "foldr_no_initializer": lambda: tf.foldr(lambda a, x: a * 10 + x, c([1, 2, 3])),
        "foldl_empty": lambda: tf.foldl(lambda a, x: a + x, tf.zeros([0])),
        "foldl_tuple_elems": lambda: tf.foldl(
            lambda a, x: a + x[0] * x[1], (c([1.0, 2.0]), c([3.0, 4.0])), initializer=c(0.0)
        ),
        "foldl_structure_acc": lambda: tf.foldl(
            lambda a, x: (a[0] + x, a[1] * x), c([1.0, 2.0, 3.0]), initializer=(c(0.0), c(1.0))
        ),
        "vectorized_map": lambda: tf.vectorized_map(lambda x: x * 2, c([[1.0, 2.0], [3.0, 4.0]])),
        "vectorized_map_tuple": lambda: tf.vectorized_map(
            lambda x: (x[0] + x[1], x[0]), (c([1, 2]), c([10, 20]))
        ),
        "vectorized_map_matmul": lambda: tf.vectorized_map(
            lambda x: tf.matmul(x, x), tf.ones([2, 2, 2])
        ),
        "vectorized_map_empty": lambda: tf.vectorized_map(lambda x: x * 2, tf.zeros([0, 3])),
        "vectorized_map_constant": lambda: tf.vectorized_map(lambda x: c(1.0), c([1.0, 2.0])),
    }
    return {name: _outcome(case) for name, case in cases.items()}


SCENARIOS = {
    "retracing": retracing,
    "side_effects": side_effects,
    "variables": variables,
    "control_flow": control_flow,
}
