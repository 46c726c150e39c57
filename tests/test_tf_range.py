"""`tf.range` against TensorFlow 2.21's answers (tests/fixtures/tf_range.json, recorded by
tests/fixtures/record_tf_range.py): the count is ceil((limit - start) / delta) and
element i is start + i * delta, both computed in the dtype, so counts and values
match TF's to the last bit."""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest
import tapegrad as tf

FIXTURE = json.loads((pathlib.Path(__file__).parent / "fixtures" / "tf_range.json").read_text())
CASES = FIXTURE["cases"]


def _arg(a):
    return tf.constant(a[0], dtype=a[1]) if isinstance(a, list) else a


@pytest.mark.parametrize("case", CASES, ids=[f"{c['args']}-{c['dtype']}" for c in CASES])
def test_range_matches_tensorflow_bit_for_bit(case):
    r = tf.range(*[_arg(a) for a in case["args"]], dtype=case["dtype"])
    assert r.dtype == case["result_dtype"]
    assert r.shape == (case["count"],)
    values = r.numpy()
    expected = case["values"]
    if isinstance(expected, dict):
        for index, value in expected.items():
            assert values[int(index)] == value, f"element {index}"
    else:
        np.testing.assert_array_equal(values, np.array(expected, dtype=values.dtype))
    # the float64 sum of every element pins all of them, not only the sampled ones
    assert math.isclose(float(np.sum(values.astype(np.float64))), case["sum"], rel_tol=0, abs_tol=0)


def test_the_issue_examples():
    r = tf.range(-10, 10, 0.01)
    assert r.shape == (2000,) and r.dtype == tf.float32
    assert r.numpy()[-1] == np.float32(9.99)
    assert float(tf.range(-8.0, 8.0, 0.1)[80]) == 0.0


def test_explicit_float64_converts_the_python_arguments_exactly():
    r = tf.range(0.1, 1.0, 0.1, dtype=tf.float64).numpy()
    assert r[1] == 0.1 + 1 * 0.1
    # without dtype the float32 0.1 is widened, as TF does
    r = tf.range(np.float64(0.1), 1.0, 0.1).numpy()
    assert r[1] == 0.1 + float(np.float32(0.1))


@pytest.mark.parametrize(
    "args,kwargs,error,match",
    [
        ((0, 10, 0), {}, tf.errors.InvalidArgumentError, "Requires delta != 0"),
        ((10, 0, 1), {}, tf.errors.InvalidArgumentError, r"start <= limit when delta > 0: 10/0"),
        ((0, 10, -1), {}, tf.errors.InvalidArgumentError, r"start >= limit when delta < 0"),
        ((0.0, float("nan"), 1.0), {}, tf.errors.InvalidArgumentError, "start <= limit"),
        ((0.0, float("inf"), 1.0), {}, tf.errors.InvalidArgumentError, r"<= 9223372036854775807"),
        ((0.0, 1.0, 1e-20), {}, tf.errors.InvalidArgumentError, r"<= 9223372036854775807"),
        ((1, 5.0), {"dtype": tf.int32}, TypeError, "Cannot convert 5.0"),
        ((0, 5, 1), {"dtype": tf.bool}, TypeError, "Cannot convert 0"),
    ],
)
def test_range_errors_are_tensorflows(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        tf.range(*args, **kwargs)
