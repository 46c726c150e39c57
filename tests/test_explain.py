"""``GradientTape.explain``, ``strict=True`` and the once-only warnings: every
cause of a ``None`` gradient is named, with the op and the line where the
path breaks."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import tapegrad as tf
from tapegrad._ufunc import NumpyConversionWarning

HERE = __file__


def line_of(marker: str) -> int:
    """The line of this file that contains ``marker`` (where an op was called)."""
    with open(HERE, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if marker in line and "line_of" not in line:
                return number
    raise AssertionError(marker)


def at(marker: str) -> str:
    return f"{HERE}:{line_of(marker)}"


def test_connected_source():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tf.reduce_sum(x * x)
    assert "depends on the source" in tape.explain(y, x)
    assert tape.gradient(y, x) is not None


def test_never_watched():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        y = x * x
    report = tape.explain(y, x)
    assert "the source was never watched" in report
    assert "tape.watch(x)" in report


def test_non_trainable_variable():
    v = tf.Variable(1.0, trainable=False, name="frozen")
    with tf.GradientTape() as tape:
        y = v * 3.0
    assert "Variable 'frozen:0' has trainable=False" in tape.explain(y, v)


def test_variable_with_watch_accessed_variables_false():
    v = tf.Variable(1.0, name="v")
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        y = v * 3.0
    assert "watch_accessed_variables=False" in tape.explain(y, v)


def test_variable_never_read_under_the_tape():
    v = tf.Variable(1.0, name="late")
    y = v * 3.0
    with tf.GradientTape() as tape:
        pass
    assert "'late:0' was never read while the tape recorded" in tape.explain(y, v)


@pytest.mark.parametrize("source", [tf.constant([1, 2]), tf.constant([True, False])])
def test_integer_or_bool_source(source):
    with tf.GradientTape() as tape:
        tape.watch(source)
        y = tf.reduce_sum(tf.cast(source, tf.float32))
    report = tape.explain(y, source)
    assert f"the source is {source.dtype.name}" in report
    assert "float32 and float64 only" in report


def test_target_left_through_numpy():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = (x * x).numpy()  # escape: numpy
    report = tape.explain(y, x)
    assert "the target is a ndarray float32[2], not a tensor of this tape" in report
    assert f"left the tape through numpy() at {at('# escape: numpy')}" in report


def test_target_left_through_float():
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = float(x * x)  # escape: float
    report = tape.explain(y, x)
    assert "the target is a float" in report
    assert f"left the tape through float() at {at('# escape: float')}" in report


def test_path_through_a_numpy_function():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        with pytest.warns(NumpyConversionWarning):
            y = tf.constant(np.mean(x)) * 2.0  # escape: asarray
    report = tape.explain(y, x)
    assert "the target is not on the tape: it was computed from a value that left" in report
    how = "through a numpy array (np.asarray or a numpy function)"
    assert f"{how} at {at('# escape: asarray')}" in report


def test_stop_gradient_names_the_op_and_line():
    x = tf.constant([1.0, 2.0])
    z = tf.constant([3.0, 4.0])
    with tf.GradientTape() as tape:
        tape.watch([x, z])
        stopped = tf.stop_gradient(x * x)  # escape: stop_gradient
        y = stopped * z  # the break
    report = tape.explain(y, x)
    assert "no recorded path leads from the source to the target" in report
    assert (
        f"Mul at {at('# the break')} uses input #0 that the tape did not record: it came out "
        f"of stop_gradient at {at('# escape: stop_gradient')}"
    ) in report


def test_stop_recording():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        with tape.stop_recording():
            y = x * x
    assert "it was computed inside tape.stop_recording()" in tape.explain(y, x)


def test_a_break_at_a_value_made_while_paused_names_its_line():
    x = tf.constant([1.0, 2.0])
    z = tf.constant([3.0, 4.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, z])
        with tape.stop_recording():
            paused = x * x
        y = tf.reduce_sum(paused * z)  # the paused break
    assert f"Mul at {at('# the paused break')} uses input #0" in tape.explain(y, x)


def test_call_sites_are_kept_only_where_a_path_may_break():
    """A frame is read per recorded op (a cost) only where ``explain`` could
    name the op: an input neither watched nor made while the tape recorded."""
    x = tf.constant([1.0, 2.0])
    before = tf.constant([3.0, 4.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a = x * x  # watched inputs only
        b = a * before  # made before the tape started
        c = b * tf.constant(2.0)  # made while recording
        d = c * tf.stop_gradient(a)  # an escape's output
    sites = tape._tape.call_sites()
    assert [site is not None for site in sites] == [False, True, False, True]
    assert d is not None


def test_outside_the_with_block():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
    y = x * x
    assert "it was computed after the tape's `with` block ended" in tape.explain(y, x)


def test_target_computed_before_the_tape_started():
    x = tf.constant(2.0)
    y = x * x
    with tf.GradientTape() as tape:
        tape.watch(x)
    assert "it was computed before the tape started" in tape.explain(y, x)


def test_another_thread():
    x = tf.constant(2.0)
    out = {}
    with tf.GradientTape() as tape:
        tape.watch(x)
        worker = threading.Thread(target=lambda: out.setdefault("y", x * x))
        worker.start()
        worker.join()
    assert "in another thread (tapes are thread-local)" in tape.explain(out["y"], x)


def test_argmax():
    x = tf.constant([1.0, 3.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.cast(tf.argmax(x), tf.float32)  # escape: argmax
    report = tape.explain(y, x)
    assert f"left the tape through argmax (no gradient) at {at('# escape: argmax')}" in report


def test_cast_to_int():
    x = tf.constant([1.5, 2.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.cast(tf.cast(x, tf.int32), tf.float32)  # escape: cast
    report = tape.explain(y, x)
    assert f"through cast to an integer or bool dtype at {at('# escape: cast')}" in report


@pytest.mark.parametrize("op", [tf.round, tf.floor, lambda t: tf.cast(t > 1.0, tf.float32)])
def test_ops_without_gradient(op):
    x = tf.constant([1.5, 2.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = op(x)
    report = tape.explain(y, x)
    assert "by an op with no gradient (round, floor, sign, a comparison)" in report


def test_integer_target_from_a_comparison():
    x = tf.constant([1.5, 2.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x > 2.0
    assert "it is bool: made by an op with no gradient" in tape.explain(y, x)


def test_released_record_says_how_to_keep_it():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.round(x)
    assert tape.gradient(y, x) is None
    report = tape.explain(y, x)
    assert "freed its record in gradient()" in report
    assert "persistent=True" in report and "strict=True" in report


def test_explain_records_nothing():
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        before = tape.summary()
        tape.explain(y, x)
        assert tape.summary() == before


# --- strict mode --------------------------------------------------------------


def test_strict_raises_with_the_explanation():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(strict=True) as tape:
        tape.watch(x)
        y = tf.constant(x.numpy()) * 2.0  # escape: strict
    with pytest.raises(ValueError) as e:
        tape.gradient(y, x)
    assert str(e.value).startswith("GradientTape(strict=True): tape.gradient(target, source)")
    assert f"numpy() at {at('# escape: strict')}" in str(e.value)


def test_strict_with_several_sources_and_zero():
    x, unused = tf.constant(1.0), tf.constant(2.0)
    with tf.GradientTape(strict=True, persistent=True) as tape:
        tape.watch([x, unused])
        y = x * 3.0
    assert float(tape.gradient(y, x)) == 3.0
    zero = tape.gradient(y, [x, unused], unconnected_gradients="zero")
    assert float(zero[1]) == 0.0
    with pytest.raises(ValueError, match="no recorded path leads from the source"):
        tape.gradient(y, [x, unused])


# --- warnings -----------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(sys.modules["tapegrad._tape"], "_WARNED", set())


def test_integer_variable_source_warns_once(tapegrad_log, fresh_warnings):
    n = tf.Variable([1, 2])
    for _ in range(2):
        with tf.GradientTape() as tape:
            y = tf.cast(n, tf.float32)
        assert tape.gradient(y, n) is None
    messages = [r.getMessage() for r in tapegrad_log.records]
    assert len([m for m in messages if "is int32" in m]) == 1
    assert "Create it with dtype=tf.float32" in messages[0]


def test_foreign_target_warns_once(tapegrad_log, fresh_warnings):
    x = tf.constant(2.0)
    for _ in range(2):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = (x * x).numpy()
        assert tape.gradient(y, x) is None
    messages = [r.getMessage() for r in tapegrad_log.records]
    assert len(messages) == 1
    # a 0-d tensor's .numpy() is a numpy scalar, as in TF
    assert "the target is a float32, not a tensor this tape recorded" in messages[0]
    assert "tape.explain(target, source)" in messages[0]


# --- error messages that say what to do -------------------------------------------


def test_mixed_float_dtypes_name_both_and_suggest_cast():
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        tf.constant(1.0) + tf.constant(1.0, dtype=tf.float64)
    message = str(e.value)
    assert "the inputs are float32 and float64" in message
    assert "tf.cast(x, tf.float32)" in message


def test_watch_of_a_list_says_to_convert():
    with tf.GradientTape() as tape:
        with pytest.raises(ValueError) as e:
            tape.watch([1.0, 2.0])
    assert "ExtensionType" not in str(e.value)
    assert "not a tf.Tensor or tf.Variable; convert it first" in str(e.value)


def test_a_ragged_list_says_to_pad_the_rows():
    with pytest.raises(ValueError, match="non-rectangular.*pad the rows") as e:
        tf.constant([[1.0], [1.0, 2.0]])
    assert "inhomogeneous" not in str(e.value)  # numpy's own wording


def test_help_shows_docstrings_not_source_comments():
    import pydoc

    for name in ("__enter__", "__exit__", "explain"):
        doc = pydoc.getdoc(getattr(tf.GradientTape, name))
        assert doc and not doc.startswith("#"), name


def test_registry_op_and_class_docstrings_have_no_markdown_fences():
    # help(tf.exp) shows the docstring as text: an example is an indented
    # >>> block, not a Markdown ```text fence
    docs = {name: op.__doc__ for name, op in tf._core.ops.items()}
    docs |= {"Tensor": tf.Tensor.__doc__, "Variable": tf.Variable.__doc__}
    fenced = sorted(name for name, doc in docs.items() if "```" in (doc or ""))
    assert fenced == []
    assert "    >>> import tapegrad as tf" in tf.exp.__doc__
