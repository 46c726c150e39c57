"""TF's everyday namespace beyond the ops (issue 15): the behaviours of shapes, dtypes,
scalars and seeds, and tf.config, tf.device, tf.print, tf.nest, tf.debugging, tf.test,
tf.random.Generator and the stateless ops, tf.py_function, tf.distribute, and the error
for a TF name tapegrad lacks. Expected values were checked against TF 2.21."""

from __future__ import annotations

import collections
import io
import math
import subprocess
import sys

import numpy as np
import pytest
import tapegrad as tf

# --- behaviours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        (tf.constant(3.0), np.float32(3.0)),
        (tf.constant(3.0, tf.float64), np.float64(3.0)),
        (tf.constant(3), np.int32(3)),
        (tf.constant(3, tf.int64), np.int64(3)),
        (tf.constant(True), np.True_),
    ],
)
def test_numpy_of_a_scalar_is_a_numpy_scalar(value, expected):
    out = value.numpy()
    assert type(out) is type(expected) and out == expected
    assert type(tf.Variable(value).numpy()) is type(expected)


def test_numpy_of_a_tensor_is_still_a_writable_array():
    out = tf.constant([1.0, 2.0]).numpy()
    assert isinstance(out, np.ndarray)
    out[0] = 5.0


@pytest.mark.parametrize(
    "shape,text", [([3, 2], "(3, 2)"), ([3], "(3,)"), ([], "()"), ([0, 4, 1], "(0, 4, 1)")]
)
def test_shape_prints_as_tf_does(shape, text):
    s = tf.zeros(shape).shape
    assert str(s) == text
    assert repr(s) == f"TensorShape({shape})"


def test_dtype_str_is_tfs():
    assert str(tf.float32) == "<dtype: 'float32'>"
    assert str(tf.int64) == "<dtype: 'int64'>"
    assert f"{tf.bool}" == "<dtype: 'bool'>"


def test_top_k_returns_a_named_result():
    result = tf.math.top_k(tf.constant([1.0, 3.0, 2.0]), k=2)
    assert type(result).__name__ == "TopKV2" and result._fields == ("values", "indices")
    np.testing.assert_array_equal(result.values.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(result.indices.numpy(), [1, 2])
    values, indices = result
    assert values is result.values and indices is result.indices
    assert tf.nn.top_k is tf.math.top_k


def test_top_k_values_keep_their_gradient():
    x = tf.constant([1.0, 3.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.math.top_k(x, k=2).values * tf.constant([1.0, 10.0]))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 1.0, 10.0])


_SEEDED_PROGRAM = """
import tapegrad as tf
a = tf.random.normal([3], seed=1).numpy().tolist()
b = tf.random.normal([3], seed=1).numpy().tolist()
c = tf.random.uniform([2], seed=7).numpy().tolist()
print(repr((a, b, c)))
"""


def test_an_op_seed_without_a_global_seed_repeats_across_runs():
    # TF: no global seed + an op seed -> a fixed default global seed
    runs = [
        subprocess.run(
            [sys.executable, "-c", _SEEDED_PROGRAM], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    a, b, _ = eval(runs[0])  # noqa: S307 - our own program's printed lists
    assert a != b  # a repeated op seed still advances within a run, as in TF


def test_no_seed_at_all_differs_across_runs():
    program = "import tapegrad as tf; print(tf.random.normal([4]).numpy().tolist())"
    runs = [
        subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] != runs[1]


def test_tensor_device_is_the_cpu():
    cpu = "/job:localhost/replica:0/task:0/device:CPU:0"
    assert tf.constant(1.0).device == cpu
    assert tf.Variable(1.0).device == cpu


# --- top-level predicates -----------------------------------------------------------------


def test_small_top_level_names():
    assert tf.newaxis is None
    assert tf.constant([1, 2])[:, tf.newaxis].shape == (2, 1)
    assert tf.is_tensor(tf.constant(1.0)) and tf.is_tensor(tf.Variable(1.0))
    assert not tf.is_tensor(np.ones(2)) and not tf.is_tensor(1.0)
    assert tf.executing_eagerly() is True


def test_add_n():
    out = tf.add_n([tf.constant([1.0, 2.0]), [3.0, 4.0], tf.constant([5.0, 6.0])])
    np.testing.assert_array_equal(out.numpy(), [9.0, 12.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"add_n.*shape \[2\]"):
        tf.add_n([tf.constant([1.0, 2.0]), tf.constant([1.0])])
    with pytest.raises(ValueError, match="non-empty"):
        tf.add_n([])


# --- the error for a name tapegrad lacks --------------------------------------------------


@pytest.mark.parametrize(
    "namespace,tf_name",
    [
        (tf, "tf"),
        (tf.nn, "tf.nn"),
        (tf.math, "tf.math"),
        (tf.linalg, "tf.linalg"),
        (tf.random, "tf.random"),
        (tf.config, "tf.config"),
        (tf.config.threading, "tf.config.threading"),
        (tf.config.experimental, "tf.config.experimental"),
        (tf.nest, "tf.nest"),
        (tf.debugging, "tf.debugging"),
        (tf.image, "tf.image"),
        (tf.distribute, "tf.distribute"),
        (tf.test, "tf.test"),
        (tf.dtypes, "tf.dtypes"),
        (tf.errors, "tf.errors"),
        (tf.autodiff, "tf.autodiff"),
        (tf.experimental, "tf.experimental"),
    ],
)
def test_a_missing_name_says_tapegrad_lacks_it(namespace, tf_name):
    message = f"tapegrad does not implement {tf_name}.not_a_tf_name; see docs/compat.md"
    with pytest.raises(AttributeError) as info:
        namespace.not_a_tf_name  # noqa: B018 - the lookup is the test
    assert str(info.value) == message
    assert not hasattr(namespace, "not_a_tf_name")
    # protocol lookups stay ordinary
    assert not hasattr(namespace, "__not_a_dunder__")


def test_a_missing_name_has_no_did_you_mean():
    program = "import tapegrad as tf\ntf.reduce_summ"
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert "does not implement tf.reduce_summ; see docs/compat.md" in out.stderr
    assert "Did you mean" not in out.stderr


# --- tf.config and tf.device --------------------------------------------------------------


def test_device_lists_are_tfs_on_a_cpu_machine():
    cpu = tf.config.list_physical_devices()
    assert repr(cpu) == "[PhysicalDevice(name='/physical_device:CPU:0', device_type='CPU')]"
    assert tf.config.list_physical_devices("CPU") == cpu
    assert tf.config.list_physical_devices("GPU") == []
    assert tf.config.list_physical_devices("cpu") == []  # case-sensitive, as TF
    logical = tf.config.list_logical_devices()
    assert repr(logical) == "[LogicalDevice(name='/device:CPU:0', device_type='CPU')]"
    assert tf.config.list_logical_devices("GPU") == []
    assert tf.config.get_visible_devices() == cpu
    assert tf.config.experimental.list_physical_devices("CPU") == cpu
    assert tf.config.experimental.list_logical_devices() == logical


def test_threading_settings_round_trip(monkeypatch):
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    assert tf.config.threading.get_intra_op_parallelism_threads() == 0
    tf.config.threading.set_intra_op_parallelism_threads(3)
    assert tf.config.threading.get_intra_op_parallelism_threads() == 3
    tf.config.threading.set_intra_op_parallelism_threads(0)
    assert tf.config.threading.get_intra_op_parallelism_threads() == 0
    tf.config.threading.set_inter_op_parallelism_threads(2)
    assert tf.config.threading.get_inter_op_parallelism_threads() == 2
    tf.config.threading.set_inter_op_parallelism_threads(0)
    with pytest.raises(ValueError, match="int >= 0"):
        tf.config.threading.set_intra_op_parallelism_threads(-1)


def test_intra_op_threads_set_at_start_size_the_kernel_pool():
    program = (
        "import tapegrad as tf\n"
        "tf.config.threading.set_intra_op_parallelism_threads(1)\n"
        "import os, threading\n"
        "x = tf.ones([1 << 20]) * 2.0\n"
        "print(len(os.listdir('/proc/self/task')))\n"
    )
    one = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    many = subprocess.run(
        [sys.executable, "-c", program.replace("(1)", "(4)")], capture_output=True, text=True
    )
    assert int(many.stdout) > int(one.stdout)


def test_op_determinism_is_recorded():
    tf.config.experimental.enable_op_determinism()
    assert tf.config.experimental.is_op_determinism_enabled()
    tf.config.experimental.disable_op_determinism()
    assert not tf.config.experimental.is_op_determinism_enabled()


@pytest.mark.parametrize(
    "name",
    [
        "/GPU:0",
        "GPU:0",
        "/gpu:7",
        "/device:CPU:0",
        "cpu:0",
        "cpu",
        "/cpu:*",
        "",
        None,
        "/job:localhost/replica:0/task:0/device:CPU:0",
        "/device:XLA_CPU:0",
        "/TPU:0",
    ],
)
def test_device_accepts_tfs_names_and_runs_on_the_cpu(name):
    with tf.device(name):
        y = tf.constant([1.0]) + 1.0
    assert y.device == "/job:localhost/replica:0/task:0/device:CPU:0"


@pytest.mark.parametrize(
    "name,error,match",
    [
        (
            "foo",
            ValueError,
            r"Unknown attribute 'foo' is encountered while parsing the device "
            r"spec: 'foo'\.",
        ),
        ("/device:GPU", ValueError, "Unknown attribute 'device'"),
        ("CPU:0:1", ValueError, "Unknown attribute 'CPU'"),
        ("/replica:x", ValueError, "invalid literal for int"),
        ("/device:CPU:0/device:GPU:0", ValueError, "Multiple device types are not allowed"),
        ("/job:worker", tf.errors.InvalidArgumentError, "unknown device"),
        (3, ValueError, "Expecting a string device name"),
    ],
)
def test_device_rejects_malformed_names(name, error, match):
    with pytest.raises(error, match=match):
        tf.device(name)


# --- tf.print -----------------------------------------------------------------------------


def _printed(*args, **kwargs):
    stream = io.StringIO()
    tf.print(*args, output_stream=stream, **kwargs)
    return stream.getvalue()


@pytest.mark.parametrize(
    "value,text",
    [
        (tf.constant([1, 2, 3]), "[1 2 3]"),
        (tf.range(10), "[0 1 2 ... 7 8 9]"),
        (tf.constant([1.5, 2.25, 1e-7, 3e10]), "[1.5 2.25 1e-07 3e+10]"),
        (tf.constant([0.1, 1 / 3]), "[0.1 0.333333343]"),
        (tf.constant([0.1, 1 / 3], tf.float64), "[0.1 0.33333333333333331]"),
        (tf.constant(3.0), "3"),
        (tf.constant(7, tf.int64), "7"),
        (tf.constant([True, False]), "[1 0]"),
        (tf.Variable([1.0, 2.0]), "[1 2]"),
        (tf.zeros([0]), "[]"),
        (tf.constant([1e-10, 1.0]), "[1e-10 1]"),
        (tf.constant([math.nan, math.inf, -math.inf]), "[nan inf -inf]"),
        (tf.constant([[1.0, 2.0], [3.0, 4.0]]), "[[1 2]\n [3 4]]"),
        (tf.reshape(tf.range(8), [2, 2, 2]), "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]"),
        (
            tf.reshape(tf.range(24), [4, 6]),
            "[[0 1 2 3 4 5]\n [6 7 8 9 10 11]\n [12 13 14 15 16 17]\n [18 19 20 21 22 23]]",
        ),
        (
            tf.reshape(tf.range(100), [10, 10]),
            "[[0 1 2 ... 7 8 9]\n [10 11 12 ... 17 18 19]\n [20 21 22 ... 27 28 29]\n ...\n"
            " [70 71 72 ... 77 78 79]\n [80 81 82 ... 87 88 89]\n [90 91 92 ... 97 98 99]]",
        ),
    ],
)
def test_print_formats_tensors_as_tf(value, text):
    assert _printed(value) == text + "\n"


def test_print_summarize_sep_end_and_python_values():
    assert _printed(tf.range(10), summarize=-1) == "[0 1 2 3 4 5 6 7 8 9]\n"
    assert _printed(tf.range(10), summarize=None) == "[0 1 2 3 4 5 6 7 8 9]\n"
    assert _printed(tf.range(10), summarize=2) == "[0 1 ... 8 9]\n"
    assert _printed(tf.range(10), summarize=0) == "[ ...]\n"
    square = tf.reshape(tf.range(100), [10, 10])
    assert _printed(square, summarize=0) == "[\n ...]\n"
    assert _printed(square, summarize=1) == "[[0 ... 9]\n ...\n [90 ... 99]]\n"
    cube = tf.reshape(tf.range(27), [3, 3, 3])
    assert _printed(cube, summarize=1) == (
        "[[[0 ... 2]\n  ...\n  [6 ... 8]]\n\n ...\n\n [[18 ... 20]\n  ...\n  [24 ... 26]]]\n"
    )
    assert _printed("a", "b", sep="|", end="<END>\n") == "a|b<END>\n"
    text = _printed(
        "loss:", tf.constant(0.5), "step", 3, [1, tf.constant(2)], {"a": tf.constant([1.0])}
    )
    assert text == "loss: 0.5 step 3 [1, 2] {'a': [1]}\n"
    assert _printed(1.5, None, True) == "1.5 None True\n"
    assert _printed(np.array([1.5, 2.0])) == "array([1.5, 2. ])\n"


def test_print_streams(capsys, tmp_path):
    tf.print("to stderr")
    tf.print("to stdout", output_stream=sys.stdout)
    captured = capsys.readouterr()
    assert captured.err == "to stderr\n" and captured.out == "to stdout\n"
    path = tmp_path / "log.txt"
    tf.print("one", output_stream=f"file://{path}")
    tf.print("two", output_stream=f"file://{path}")
    assert path.read_text() == "one\ntwo\n"
    with pytest.raises(ValueError, match="Unsupported output stream"):
        tf.print("x", output_stream=3)


# --- tf.nest ------------------------------------------------------------------------------

Point = collections.namedtuple("Point", "x y")


def test_nest_orders_dict_values_by_sorted_key():
    structure = {"b": [1, (2, 3)], "a": Point(4, {"d": 5, "c": 6}), "e": None}
    assert tf.nest.flatten(structure) == [4, 6, 5, 1, 2, 3, None]
    packed = tf.nest.pack_sequence_as(structure, list(range(7)))
    assert packed == {"b": [3, (4, 5)], "a": Point(x=0, y={"d": 2, "c": 1}), "e": 6}
    assert list(packed) == ["b", "a", "e"]  # the dict keeps its own key order
    assert tf.nest.flatten(None) == [None] and tf.nest.flatten(5) == [5]
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    assert tf.nest.flatten(od) == [2, 1]
    assert tf.nest.map_structure(lambda v: v * 2, od) == collections.OrderedDict(
        [("b", 2), ("a", 4)]
    )


def test_nest_is_nested_and_leaves():
    assert tf.nest.is_nested([]) and tf.nest.is_nested({}) and tf.nest.is_nested(Point(1, 2))
    assert not tf.nest.is_nested("ab") and not tf.nest.is_nested(tf.constant([1]))
    t = tf.constant([1, 2])
    assert tf.nest.flatten(t)[0] is t


def test_nest_map_structure():
    assert tf.nest.map_structure(lambda v: v * 10, {"b": [1, 2], "a": 3}) == {
        "b": [10, 20],
        "a": 30,
    }
    assert tf.nest.map_structure(lambda a, b: a + b, [1, 2], [3, 4]) == [4, 6]
    assert tf.nest.map_structure(lambda a, b: a + b, [1, 2], (3, 4), check_types=False) == [4, 6]
    assert tf.nest.map_structure(lambda a: a, []) == []
    with pytest.raises(ValueError, match="Must provide at least one structure"):
        tf.nest.map_structure(lambda a: a)
    with pytest.raises(ValueError, match="don't have the same nested structure"):
        tf.nest.map_structure(lambda a, b: a + b, [1, 2], [3, [4]])


def test_nest_assert_same_structure():
    tf.nest.assert_same_structure([1, [2, 3]], [4, [5, 6]])
    tf.nest.assert_same_structure([1, 2], (3, 4), check_types=False)
    with pytest.raises(ValueError) as info:
        tf.nest.assert_same_structure([1, [2, 3]], [4, 5])
    text = str(info.value)
    assert text.startswith("The two structures don't have the same nested structure.")
    assert 'Substructure "type=list str=[2, 3]" is a sequence, while substructure ' in text
    assert "Entire first structure:\n[., [., .]]" in text
    with pytest.raises(TypeError, match="don't have the same sequence type"):
        tf.nest.assert_same_structure([1, 2], (3, 4))
    with pytest.raises(ValueError, match="don't have the same set of keys"):
        tf.nest.assert_same_structure({"a": 1}, {"b": 1})


def test_nest_pack_sequence_as_counts():
    assert tf.nest.pack_sequence_as(5, [7]) == 7
    with pytest.raises(ValueError, match="Structure had 2 atoms, but flat_sequence had 1 items"):
        tf.nest.pack_sequence_as([1, [2]], [1])
    with pytest.raises(TypeError):
        tf.nest.flatten({"b": 1, 2: 3})


# --- tf.debugging -------------------------------------------------------------------------


def test_assert_equal():
    assert tf.debugging.assert_equal(tf.constant([1, 2]), tf.constant([1, 2])) is None
    assert tf.debugging.assert_equal(1, 1) is None
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.debugging.assert_equal(tf.constant([1, 2]), tf.constant([1, 3]), message="custom")
    lines = str(info.value).splitlines()
    assert lines[:8] == [
        "custom",
        "Condition x == y did not hold.",
        "Indices of first 1 different values:",
        "[[1]]",
        "Corresponding x values:",
        "[2]",
        "Corresponding y values:",
        "[3]",
    ]
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.debugging.assert_equal(tf.constant([1, 2]), tf.constant([1, 2, 3]))


def test_assert_equal_report_matches_tf():
    # TF 2.21's full texts: three entries by default, indices only for equal shapes
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.debugging.assert_equal(tf.range(10), tf.range(10) * 2)
    assert str(info.value) == (
        "Condition x == y did not hold.\nIndices of first 3 different values:\n[[1]\n [2]\n [3]]\n"
        "Corresponding x values:\n[1 2 3]\nCorresponding y values:\n[2 4 6]\n"
        "First 3 elements of x:\n[0 1 2]\nFirst 3 elements of y:\n[0 2 4]"
    )
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.debugging.assert_equal(tf.range(10), tf.range(10) * 2, summarize=5)
    assert "Indices of first 5 different values:" in str(info.value)
    assert str(info.value).endswith("First 5 elements of y:\n[0 2 4 6 8]")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.debugging.assert_equal(tf.reshape(tf.range(4), [2, 2]), 0)
    assert str(info.value) == (
        "Condition x == y did not hold.\nFirst 3 elements of x:\n[0 1 2]\n"
        "First 1 elements of y:\n[0]"
    )


def test_assert_less_and_greater():
    tf.debugging.assert_less(tf.constant([1, 2]), 3)
    tf.debugging.assert_greater(tf.constant([4, 5]), 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Condition x < y did not hold"):
        tf.debugging.assert_less(tf.constant([1, 2]), tf.constant([3, 1]))


def test_assert_near_uses_ten_epsilons_by_default():
    tf.debugging.assert_near(tf.constant([1.0, 2.0]), tf.constant([1.0, 2.0000001]))
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.debugging.assert_near(tf.constant([1.0, 2.0]), tf.constant([1.0, 2.1]))
    lines = str(info.value).splitlines()
    assert lines[0] == "x and y not equal to tolerance rtol = 1.1920929e-06, atol = 1.1920929e-06"
    assert lines[1:] == [
        "x (shape=(2,) dtype=float32) = ",
        "1.0, 2.0",
        "y (shape=(2,) dtype=float32) = ",
        "1.0, 2.0999999046325684",
    ]
    tf.debugging.assert_near(
        tf.constant([1.0, 2.0], tf.float64),
        tf.constant([1.0, 2.1], tf.float64),
        rtol=0.1,
        atol=0.0,
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.debugging.assert_near(
            tf.constant([1.0], tf.float64), tf.constant([1.0 + 1e-14], tf.float64)
        )


def test_assert_rank_and_shapes():
    tf.debugging.assert_rank(tf.zeros([2, 3]), 2)
    with pytest.raises(
        ValueError, match=r"^Tensor  must have rank 3\.  Received rank 2, shape \(2, 3\)$"
    ):
        tf.debugging.assert_rank(tf.zeros([2, 3]), 3)
    tf.debugging.assert_shapes([(tf.zeros([2, 3]), ("N", "D")), (tf.zeros([2]), ("N",))])
    tf.debugging.assert_shapes([(tf.zeros([2, 3]), (..., 3))])
    tf.debugging.assert_shapes([(tf.zeros([]), ())])
    tf.debugging.assert_shapes([(tf.zeros([2, 3]), (None, 3))])
    with pytest.raises(ValueError) as info:
        tf.debugging.assert_shapes([(tf.zeros([2, 3]), ("N", "D")), (tf.zeros([3]), ("N",))])
    assert str(info.value) == (
        "Specified by tensor shape=(2, 3) dtype=float32 dimension 0.  Tensor shape=(3,) "
        "dtype=float32 dimension 0 must have size 2.  Received size 3, shape (3,)"
    )
    with pytest.raises(
        ValueError,
        match=r"Specified explicitly\.  Tensor shape=\(2, 3\) dtype=float32 "
        r"dimension 1 must have size 4\.  Received size 3, shape \(2, 3\)",
    ):
        tf.debugging.assert_shapes([(tf.zeros([2, 3]), (2, 4))])
    with pytest.raises(ValueError, match="Received rank 2"):
        tf.debugging.assert_shapes([(tf.zeros([2, 3]), ("N",))])


def test_check_numerics():
    x = tf.constant([1.0, 2.0])
    np.testing.assert_array_equal(tf.debugging.check_numerics(x, "ok").numpy(), [1.0, 2.0])
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"^bad values : Tensor had NaN values$"
    ):
        tf.debugging.check_numerics(tf.constant([1.0, math.nan]), "bad values")
    with pytest.raises(tf.errors.InvalidArgumentError, match="Tensor had Inf values"):
        tf.debugging.check_numerics(tf.constant([1.0, math.inf]), "bad values")
    with pytest.raises(tf.errors.InvalidArgumentError, match="float tensor"):
        tf.debugging.check_numerics(tf.constant([1, 2]), "ints")
    # the identity for gradients
    v = tf.constant([1.0, 2.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(v)
        y = tf.reduce_sum(tf.debugging.check_numerics(v, "v") * 3.0)
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [3.0, 3.0])


def test_assert_type():
    tf.debugging.assert_type(tf.constant([1.0]), tf.float32)
    with pytest.raises(TypeError, match=r"^tensor must be of type tf\.float32; got tf\.int32$"):
        tf.debugging.assert_type(tf.constant([1, 2]), tf.float32)


# --- tf.test.compute_gradient -------------------------------------------------------------


def test_gpu_queries_say_there_is_none():
    assert tf.test.is_gpu_available() is False and tf.test.is_built_with_cuda() is False
    assert tf.test.gpu_device_name() == ""


def test_compute_gradient_returns_tfs_structure():
    theoretical, numerical = tf.test.compute_gradient(lambda x: x * x, [tf.constant([1.0, 2.0])])
    assert isinstance(theoretical, tuple) and len(theoretical) == 1
    assert theoretical[0].dtype == np.float32 and theoretical[0].shape == (2, 2)
    np.testing.assert_array_equal(theoretical[0], [[2.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(numerical[0], [[2.0, 0.0], [0.0, 4.0]], atol=1e-3)


def test_compute_gradient_several_arguments_and_delta():
    x = tf.constant([[1.0, 2.0]], tf.float64)
    y = tf.constant([[3.0], [4.0]], tf.float64)
    theoretical, numerical = tf.test.compute_gradient(tf.matmul, [x, y])
    np.testing.assert_array_equal(theoretical[0], [[3.0, 4.0]])
    np.testing.assert_array_equal(theoretical[1], [[1.0, 2.0]])
    np.testing.assert_allclose(numerical[1], [[1.0, 2.0]], rtol=1e-12)
    theoretical, numerical = tf.test.compute_gradient(
        lambda v: v * 2.0, [tf.constant(1.0)], delta=0.5
    )
    assert theoretical[0].shape == (1, 1) and numerical[0][0, 0] == 2.0
    # a numpy argument, and a function of it that ignores part of it
    theoretical, _ = tf.test.compute_gradient(lambda v: tf.reduce_sum(v), [np.array([[1.0, 2.0]])])
    np.testing.assert_array_equal(theoretical[0], [[1.0, 1.0]])
    # TF's default delta, 1/1024, on float32: the numerical sin' is off in the 5th digit
    theoretical, numerical = tf.test.compute_gradient(tf.sin, [np.array([1.0], np.float32)])
    assert abs(numerical[0][0, 0] - np.cos(1.0)) < 1e-4
    with pytest.raises(ValueError, match="list or tuple"):
        tf.test.compute_gradient(tf.sin, tf.constant([1.0]))


# --- tf.random: Generator and the stateless ops -------------------------------------------


def test_generator_from_seed_is_reproducible_and_advances():
    g = tf.random.Generator.from_seed(1)
    a, b = g.normal([4]), g.normal([4])
    h = tf.random.Generator.from_seed(1)
    np.testing.assert_array_equal(h.normal([4]).numpy(), a.numpy())
    np.testing.assert_array_equal(h.normal([4]).numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())
    g.reset_from_seed(1)
    np.testing.assert_array_equal(g.normal([4]).numpy(), a.numpy())


def test_generator_distributions():
    g = tf.random.Generator.from_seed(3)
    u = g.uniform([20000]).numpy()
    assert u.dtype == np.float32 and 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    n = g.normal([20000], mean=2.0, stddev=3.0, dtype=tf.float64).numpy()
    assert n.dtype == np.float64 and abs(n.mean() - 2.0) < 0.1 and abs(n.std() - 3.0) < 0.1
    t = g.truncated_normal([20000]).numpy()
    assert np.abs(t).max() <= 2.0 and abs(t.std() - 0.88) < 0.02  # std of N(0,1) cut at ±2
    i = g.uniform([1000], minval=-3, maxval=4, dtype=tf.int64).numpy()
    assert i.dtype == np.int64 and set(i.tolist()) == set(range(-3, 4))
    full = g.uniform_full_int([1000], tf.int32).numpy()
    assert full.dtype == np.int32 and full.min() < -(2**30) and full.max() > 2**30
    seeds = g.make_seeds(3)
    assert seeds.shape == (2, 3) and seeds.dtype == tf.int64
    with pytest.raises(ValueError, match="must be both None or not None"):
        g.uniform([2], minval=0, dtype=tf.int32)


def test_generator_split_and_non_deterministic_state():
    g1, g2 = tf.random.Generator.from_seed(1).split(2)
    assert not np.array_equal(g1.normal([3]).numpy(), g2.normal([3]).numpy())
    again = tf.random.Generator.from_seed(1).split(2)
    g3 = tf.random.Generator.from_seed(1).split(2)[0]
    assert again[0].normal([3]).shape == (3,)
    np.testing.assert_array_equal(
        g3.normal([3]).numpy(), tf.random.Generator.from_seed(1).split(2)[0].normal([3]).numpy()
    )
    a = tf.random.Generator.from_non_deterministic_state().normal([4]).numpy()
    b = tf.random.Generator.from_non_deterministic_state().normal([4]).numpy()
    assert not np.array_equal(a, b)
    tf.random.set_global_generator(tf.random.Generator.from_seed(9))
    x = tf.random.get_global_generator().normal([2]).numpy()
    np.testing.assert_array_equal(x, tf.random.Generator.from_seed(9).normal([2]).numpy())


def test_stateless_ops_depend_on_the_seed_pair_only():
    a = tf.random.stateless_normal([5], seed=[1, 2])
    tf.random.normal([3])  # stateful draws in between change nothing
    np.testing.assert_array_equal(tf.random.stateless_normal([5], seed=[1, 2]).numpy(), a.numpy())
    assert not np.array_equal(tf.random.stateless_normal([5], seed=[1, 3]).numpy(), a.numpy())
    np.testing.assert_array_equal(
        tf.random.stateless_normal([5], seed=tf.constant([1, 2], tf.int64)).numpy(), a.numpy()
    )
    u = tf.random.stateless_uniform([1000], seed=[4, 5], minval=0, maxval=10, dtype=tf.int32)
    assert u.dtype == tf.int32 and set(u.numpy().tolist()) == set(range(10))
    f = tf.random.stateless_uniform([1000], seed=[4, 5], minval=-1.0, maxval=1.0)
    assert f.dtype == tf.float32 and -1.0 <= f.numpy().min() and f.numpy().max() < 1.0
    t = tf.random.stateless_truncated_normal([1000], seed=[4, 5], dtype=tf.float64)
    assert t.dtype == tf.float64 and np.abs(t.numpy()).max() <= 2.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="seed must have shape"):
        tf.random.stateless_normal([2], seed=[1])
    with pytest.raises(ValueError, match="must be both None or not None"):
        tf.random.stateless_uniform([2], seed=[1, 2], dtype=tf.int32)


def test_stateless_categorical_follows_the_probabilities():
    logits = tf.math.log(tf.constant([[0.2, 0.8], [0.9, 0.1]]))
    samples = tf.random.stateless_categorical(logits, 4000, seed=[7, 8])
    assert samples.shape == (2, 4000) and samples.dtype == tf.int64
    means = samples.numpy().mean(axis=1)
    assert abs(means[0] - 0.8) < 0.03 and abs(means[1] - 0.1) < 0.03
    again = tf.random.stateless_categorical(logits, 4000, seed=[7, 8])
    np.testing.assert_array_equal(again.numpy(), samples.numpy())


def test_random_mean_and_stddev_tensors_get_gradients():
    mean = tf.constant(1.0, tf.float64)
    stddev = tf.constant(2.0, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([mean, stddev])
        x = tf.random.stateless_normal(
            [50], seed=[1, 1], mean=mean, stddev=stddev, dtype=tf.float64
        )
        y = tf.reduce_sum(x)
    d_mean, d_stddev = tape.gradient(y, [mean, stddev])
    assert float(d_mean) == 50.0
    standard = (x.numpy() - 1.0) / 2.0
    assert math.isclose(float(d_stddev), standard.sum(), rel_tol=1e-12)


def test_initializers():
    init = tf.random_normal_initializer(mean=1.0, stddev=0.5, seed=3)
    assert init.get_config() == {"mean": 1.0, "stddev": 0.5, "seed": 3}
    x = init([4000], dtype=tf.float64)
    assert x.dtype == tf.float64 and abs(x.numpy().mean() - 1.0) < 0.05
    u = tf.random_uniform_initializer(-1.0, 1.0, seed=0)([1000])
    assert np.abs(u.numpy()).max() <= 1.0


# --- tf.py_function and tf.distribute -----------------------------------------------------


def test_py_function():
    out = tf.py_function(lambda x: np.sinh(x.numpy()), [tf.constant([0.0, 1.0])], Tout=tf.float32)
    np.testing.assert_allclose(out.numpy(), np.sinh([0.0, 1.0]), rtol=1e-6)
    pair = tf.py_function(lambda a, b: (a + b, a * b), [2.0, 3.0], Tout=[tf.float32, tf.float32])
    assert [float(v) for v in pair] == [5.0, 6.0]
    assert tf.py_function(lambda: None, [], Tout=None) is None
    with pytest.raises(tf.errors.InvalidArgumentError, match="Tout says float64"):
        tf.py_function(lambda x: x, [tf.constant(1.0)], Tout=tf.float64)
    # the function runs eagerly, so its ops are on the tape
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.py_function(lambda v: v * v * v, [x], Tout=tf.float32)
    assert float(tape.gradient(y, x)) == 12.0


@pytest.mark.parametrize(
    "make", [tf.distribute.MirroredStrategy, lambda: tf.distribute.OneDeviceStrategy("/cpu:0")]
)
def test_strategies_on_one_cpu(make):
    strategy = make()
    assert strategy.num_replicas_in_sync == 1
    assert strategy.extended.worker_devices == ("/job:localhost/replica:0/task:0/device:CPU:0",)
    assert not tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()
    with strategy.scope():
        assert tf.distribute.get_strategy() is strategy and tf.distribute.has_strategy()
        assert tf.distribute.in_cross_replica_context()
        w = tf.Variable(2.0)
    assert tf.distribute.get_strategy() is not strategy
    inside = []
    r = strategy.run(
        lambda x: inside.append(tf.distribute.in_cross_replica_context()) or x * w,
        args=(tf.constant([1.0, 2.0]),),
    )
    np.testing.assert_array_equal(r.numpy(), [2.0, 4.0])
    assert strategy.reduce(tf.distribute.ReduceOp.SUM, r, axis=None) is r
    assert float(strategy.reduce("MEAN", r, axis=0)) == 3.0
    assert float(strategy.reduce(tf.distribute.ReduceOp.SUM, r, axis=0)) == 6.0
    assert strategy.experimental_local_results(r) == (r,)
    batches = [tf.constant([0, 1]), tf.constant([2, 3])]
    seen = list(strategy.experimental_distribute_dataset(batches))
    assert seen == batches and list(strategy.experimental_distribute_dataset(batches)) == batches
    fn_batches = strategy.distribute_datasets_from_function(
        lambda ctx: [ctx.get_per_replica_batch_size(8)]
    )
    assert list(fn_batches) == [8]


def test_strategy_training_step_with_gradients():
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        w = tf.Variable([1.0, -1.0])

    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((x * w) ** 2)
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss

    losses = [
        strategy.run(step, args=(b,))
        for b in strategy.experimental_distribute_dataset([tf.constant([1.0, 2.0])] * 3)
    ]
    assert float(losses[-1]) < float(losses[0])
