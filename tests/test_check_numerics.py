"""tf.debugging.enable_check_numerics (messages as TF 2.21 prints them)."""

import pytest
import tapegrad as tf


@pytest.fixture
def checking():
    tf.debugging.enable_check_numerics()
    try:
        yield
    finally:
        tf.debugging.disable_check_numerics()


def test_the_first_op_with_nan_or_inf_raises_naming_it(checking):
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        tf.math.log(tf.constant([0.0, 1.0, -1.0]))
    text = str(err.value)
    assert (
        '!!! Detected Infinity or NaN in output 0 of eagerly-executing op "Log" '
        "(# of outputs: 1) !!!"
        in text
    )
    assert "dtype: <dtype: 'float32'>" in text and "shape: (3,)" in text
    assert "# of -Inf elements: 1" in text and "# of +NaN elements: 1" in text
    assert text.rstrip().endswith("Tensor had -Inf and NaN values")
    with pytest.raises(
        tf.errors.InvalidArgumentError, match='(?s)op "RealDiv".*Tensor had \\+Inf values'
    ):
        tf.constant([1.0, 2.0]) / 0.0
    # finite results, integer results and the backward pass are fine
    x = tf.constant([1.0, 4.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.sqrt(x))
    assert tape.gradient(y, x).numpy().tolist() == [0.5, 0.25]
    assert (tf.constant([1, 2]) // 1).numpy().tolist() == [1, 2]
    # an op's NaN under a tape raises too
    with tf.GradientTape() as tape:
        tape.watch(x)
        with pytest.raises(tf.errors.InvalidArgumentError, match='"Sqrt"'):
            tf.sqrt(-x)


def test_disabled_check_lets_nan_through():
    tf.debugging.disable_check_numerics()
    assert str(float(tf.math.log(tf.constant(-1.0)))) == "nan"
