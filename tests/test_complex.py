"""complex64 and complex128: construction, numpy interop, printing, casts,
TF's promotion rules, the ops TF defines on complex values (and the refusal
of the ones it does not), and gradients in TF's convention (for a real loss
L of z = x + iy, the gradient is ∂L/∂x + i·∂L/∂y). Values and gradients are
checked against TensorFlow 2.21's answers recorded in
fixtures/complex/tf_complex.json (fixtures/complex/record_tf_complex.py),
and every gradient against central differences over the real and imaginary
parts in float64."""

import json
import pathlib

import numpy as np
import pytest
import tapegrad as tf

FIXTURES = json.loads(
    (pathlib.Path(__file__).parent / "fixtures" / "complex" / "tf_complex.json").read_text()
)
Z = [1 + 2j, -3 - 4j, 0.5 - 0.25j, -2 + 0.5j]
W = [0.5 - 1j, 2 + 0.25j, -1.5 + 1j, 0.75 + 2j]
A = [[1 + 1j, 2 - 1j, 0.5], [0.5j, -1 + 0j, 1 - 2j]]
B = [[2 - 1j, 1j], [1 + 0.5j, 3 - 2j], [-1 + 1j, 0.25 - 0.5j]]
X = [[1 + 2j, -3 - 4j, 0.5 - 0.25j, -2 + 0.5j, 1j], [0.5 - 1j, 2 + 0.25j, -1.5 + 1j, 0.75 + 2j, 3]]
SQUARE = [
    [[2 + 1j, -1 + 0.5j, 0.25j], [1 - 1j, 3 + 0j, -0.5 + 1j], [0.5, 1j, 1.5 - 2j]],
    [[1j, 2 - 1j, 0], [0.5 + 0.5j, -1, 1 + 1j], [3 - 1j, 0.25 + 2j, -2j]],
]
RHS = [[[1 + 1j, 2], [-1j, 0.5 - 1j], [3, 1 + 2j]], [[0.5, -1 + 1j], [2j, 1], [1 - 1j, -2]]]


def hermitian_pd(m):
    """M·Mᴴ + 3I: Hermitian positive-definite, and smooth in M."""
    return tf.matmul(m, m, adjoint_b=True) + tf.cast(3 * np.eye(m.shape[-1]), m.dtype)


def dec(entry, dtype=None):
    """A recorded array as numpy."""
    shape = entry["shape"]
    if "c" in entry:
        a = np.array([complex(r, i) for r, i in entry["c"]], dtype or np.complex128)
    elif "b" in entry:
        a = np.array(entry["b"], bool)
    elif "i" in entry:
        a = np.array(entry["i"], dtype or np.int64)
    else:
        a = np.array(entry["f"], dtype or np.float64)
    return a.reshape(shape)


def tol(dtype):
    return {"rtol": 2e-6, "atol": 1e-6} if dtype == "complex64" else {"rtol": 1e-12, "atol": 1e-13}


# --- dtypes, construction, numpy, printing ---------------------------------------


def test_dtype_objects():
    assert tf.complex64.name == "complex64" and tf.complex128.name == "complex128"
    assert tf.complex64.is_complex and not tf.complex64.is_floating
    assert not tf.complex64.is_integer and not tf.float32.is_complex
    assert tf.complex64.real_dtype == tf.float32 and tf.complex128.real_dtype == tf.float64
    assert tf.float32.real_dtype == tf.float32
    assert (tf.complex64.size, tf.complex128.size) == (8, 16)
    assert tf.complex64.as_numpy_dtype is np.complex64
    assert tf.as_dtype(np.complex128) is tf.complex128 and tf.as_dtype("complex64") is tf.complex64
    assert tf.dtypes.complex64 is tf.complex64 and str(tf.complex128) == "<dtype: 'complex128'>"
    with pytest.raises(TypeError, match="Cannot find minimum value of <dtype: 'complex64'>"):
        _ = tf.complex64.min


def test_construction_as_tf():
    rec = FIXTURES["construction"]
    t = tf.constant(1 + 2j)
    assert t.dtype == rec["python_complex"]["dtype"] == "complex128"
    np.testing.assert_array_equal(t.numpy(), dec(rec["python_complex"]))
    t = tf.constant([1 + 2j, 3])
    assert t.dtype == rec["python_list"]["dtype"]
    np.testing.assert_array_equal(t.numpy(), dec(rec["python_list"]))
    t = tf.constant([1, 2], tf.complex64)
    assert t.dtype == tf.complex64
    np.testing.assert_array_equal(t.numpy(), dec(rec["int_as_c64"]))
    np.testing.assert_array_equal(
        tf.constant(1.5, tf.complex128).numpy(), dec(rec["float_as_c128"])
    )
    z = tf.constant([1 + 2j], tf.complex64)
    assert (z + 1.5).dtype == tf.complex64
    np.testing.assert_array_equal((z + 1.5).numpy(), dec(rec["scalar_adopts"]))
    np.testing.assert_array_equal((z * (1 - 1j)).numpy(), dec(rec["complex_scalar_adopts"]))
    c = tf.complex(1.0, 2.0)
    assert c.dtype == rec["complex_of_floats"]["dtype"]
    np.testing.assert_array_equal(c.numpy(), dec(rec["complex_of_floats"]))


def test_numpy_round_trip_keeps_dtype_and_values():
    for np_dtype, dtype in [(np.complex64, tf.complex64), (np.complex128, tf.complex128)]:
        a = (np.arange(6).reshape(2, 3) + 1j * np.arange(6, 12).reshape(2, 3)).astype(np_dtype)
        t = tf.constant(a)
        assert t.dtype == dtype
        back = t.numpy()
        assert back.dtype == np_dtype
        np.testing.assert_array_equal(back, a)
        np.testing.assert_array_equal(np.asarray(t), a)
        # a transposed (strided) array converts by value
        np.testing.assert_array_equal(tf.constant(a.T).numpy(), a.T)
    scalar = tf.constant(1 + 2j).numpy()
    assert isinstance(scalar, np.complex128) and scalar == 1 + 2j
    v = tf.Variable([1 + 1j, 2 - 1j])
    assert v.dtype == tf.complex128
    np.testing.assert_array_equal(v.numpy(), [1 + 1j, 2 - 1j])


def test_printing_as_tf():
    rec = FIXTURES["printing"]

    def strip(text):
        return text.replace("tf.Tensor", "tapegrad.Tensor")

    assert str(tf.constant([1 + 2j, 3 - 4j], tf.complex64)) == strip(rec["str_c64"])
    assert str(tf.constant([[1.5 + 2j, 3 - 4.25j]])) == strip(rec["str_c128_2d"])
    assert str(tf.constant(1 + 2j)) == strip(rec["str_scalar"])
    assert repr(tf.constant(1 + 2j)) == strip(rec["repr_scalar"])
    assert repr(tf.constant([1 + 2j, 3 - 4j], tf.complex64)) == strip(rec["repr_c64"])


def test_python_scalars_of_complex_tensors():
    assert bool(tf.constant(1j)) and not bool(tf.constant(0j))
    assert float(tf.constant(2.5 + 1j)) == 2.5  # TF: the real part


# --- values against TF -------------------------------------------------------------

VALUE_OPS = {
    "negative": tf.negative,
    "abs": tf.abs,
    "sign": tf.sign,
    "square": tf.square,
    "sqrt": tf.sqrt,
    "rsqrt": tf.math.rsqrt,
    "exp": tf.exp,
    "log": tf.math.log,
    "reciprocal": tf.math.reciprocal,
    "sin": tf.sin,
    "cos": tf.cos,
    "tanh": tf.tanh,
    "tan": tf.math.tan,
    "sinh": tf.math.sinh,
    "cosh": tf.math.cosh,
    "sigmoid": tf.sigmoid,
    "expm1": tf.math.expm1,
    "log1p": tf.math.log1p,
    "asin": tf.math.asin,
    "acos": tf.math.acos,
    "atan": tf.math.atan,
    "asinh": tf.math.asinh,
    "atanh": tf.math.atanh,
    "reduce_variance": tf.math.reduce_variance,
    "reduce_std": tf.math.reduce_std,
    "norm": tf.norm,
    "norm_1": lambda z: tf.norm(z, ord=1),
    "norm_inf": lambda z: tf.norm(z, ord=np.inf),
    "norm_3": lambda z: tf.norm(z, ord=3),
    "reduce_euclidean_norm": tf.math.reduce_euclidean_norm,
    "matrix_norm_fro": lambda a: tf.norm(a, ord="fro", axis=[0, 1]),
    "matrix_norm_1": lambda a: tf.norm(a, ord=1, axis=[0, 1]),
    "matrix_norm_inf": lambda a: tf.norm(a, ord=np.inf, axis=[0, 1]),
    "reduce_variance_axis": lambda a: tf.math.reduce_variance(a, axis=1),
    "reduce_std_axis": lambda a: tf.math.reduce_std(a, axis=0, keepdims=True),
    "norm_axis": lambda a: tf.norm(a, axis=1),
    "einsum_transpose": lambda a: tf.einsum("ij->ji", a),
    "einsum_sum": lambda a: tf.einsum("ij->i", a),
    "einsum_gram": lambda a: tf.einsum("ij,kj->ik", a, tf.math.conj(a)),
    "einsum_matmul": lambda a, b: tf.einsum("ij,jk->ik", a, b),
    "einsum_outer_sum": lambda a, b: tf.einsum("ij,kl->", a, b),
    "einsum_trace_product": lambda a, b: tf.einsum("ij,ji->", a, b),
    "tensordot_1": lambda a, b: tf.tensordot(a, b, 1),
    "tensordot_0": lambda a, b: tf.tensordot(a, b, 0),
    "tensordot_pairs": lambda a, b: tf.tensordot(a, b, [[0, 1], [1, 0]]),
    "xlogy": tf.math.xlogy,
    "xdivy": tf.math.xdivy,
    "det": lambda m, r: tf.linalg.det(m),
    "inv": lambda m, r: tf.linalg.inv(m),
    "solve": lambda m, r: tf.linalg.solve(m, r),
    "cholesky": lambda m, r: tf.linalg.cholesky(hermitian_pd(m)),
    "real": tf.math.real,
    "imag": tf.math.imag,
    "conj": tf.math.conj,
    "angle": tf.math.angle,
    "reduce_sum": tf.reduce_sum,
    "reduce_mean": tf.reduce_mean,
    "reduce_prod": tf.reduce_prod,
    "cumsum": tf.math.cumsum,
    "cumprod": tf.math.cumprod,
    "add": tf.add,
    "subtract": tf.subtract,
    "multiply": tf.multiply,
    "divide": tf.divide,
    "pow": tf.pow,
    "squared_difference": tf.math.squared_difference,
    "equal": tf.equal,
    "not_equal": tf.not_equal,
    "matmul": tf.matmul,
    "adjoint": tf.linalg.adjoint,
    "matmul_adjoint": lambda a, b: tf.linalg.matmul(a, b, adjoint_b=True),
}


def value_id(case):
    return f"{case['op']}-{case['dtype']}" + ("-special" if case.get("special") else "")


@pytest.mark.parametrize("case", FIXTURES["values"], ids=value_id)
def test_values_match_tf(case):
    np_dtype = np.dtype(case["dtype"])
    args = [tf.constant(dec(a, np_dtype)) for a in case["args"]]
    want = dec(case["y"])
    got = VALUE_OPS[case["op"]](*args)
    assert got.shape == want.shape
    got = got.numpy()
    if want.dtype.kind == "b":
        np.testing.assert_array_equal(got, want)
        return
    want_dtype = (
        np_dtype if want.dtype.kind == "c" else np.dtype(tf.as_dtype(np_dtype).real_dtype.name)
    )
    assert got.dtype == want_dtype
    np.testing.assert_allclose(got, want, **tol(case["dtype"]))


@pytest.mark.parametrize("case", FIXTURES["casts"], ids=lambda c: f"{c['from']}-{c['to']}")
def test_casts_match_tf(case):
    x = tf.constant(dec(case["x"], np.dtype(case["from"])))
    assert x.dtype == case["from"]
    got = tf.cast(x, case["to"])
    assert got.dtype == case["to"]
    want = dec(case["y"], np.dtype(case["to"]))
    if case["to"] == "uint8":
        # TF wraps a real part outside [0, 255] (the CPU's conversion);
        # tapegrad saturates, as for every float source (docs/compat.md)
        re = dec(case["x"]).real
        keep = (re >= 0) & (re <= 255)
        np.testing.assert_array_equal(got.numpy()[keep], want[keep])
        return
    np.testing.assert_array_equal(got.numpy(), want)


def test_shape_ops_are_dtype_generic():
    z = np.array(Z, np.complex64)
    t = tf.constant(z)
    m = tf.reshape(t, (2, 2))
    np.testing.assert_array_equal(m.numpy(), z.reshape(2, 2))
    np.testing.assert_array_equal(tf.transpose(m).numpy(), z.reshape(2, 2).T)
    np.testing.assert_array_equal(tf.transpose(m, conjugate=True).numpy(), z.reshape(2, 2).T.conj())
    np.testing.assert_array_equal(tf.concat([t, t], 0).numpy(), np.concatenate([z, z]))
    np.testing.assert_array_equal(tf.stack([t, t]).numpy(), np.stack([z, z]))
    np.testing.assert_array_equal(tf.gather(t, [3, 0]).numpy(), z[[3, 0]])
    np.testing.assert_array_equal(t[1:3].numpy(), z[1:3])
    np.testing.assert_array_equal(t[::-1].numpy(), z[::-1])
    np.testing.assert_array_equal(tf.tile(t, [2]).numpy(), np.tile(z, 2))
    np.testing.assert_array_equal(tf.pad(t, [[1, 1]]).numpy(), np.pad(z, 1))
    np.testing.assert_array_equal(
        tf.where([True, False, True, False], t, tf.zeros_like(t)).numpy(),
        np.where([True, False, True, False], z, 0),
    )
    np.testing.assert_array_equal(tf.ones([2], tf.complex128).numpy(), np.ones(2, np.complex128))
    np.testing.assert_array_equal(tf.expand_dims(t, 0).numpy(), z[None])
    np.testing.assert_array_equal(tf.reverse(t, [0]).numpy(), z[::-1])
    np.testing.assert_array_equal(tf.identity(t).numpy(), z)


# --- TF's rules: no promotion, refused ops -------------------------------------------


def test_no_implicit_promotion():
    z = tf.constant([1 + 2j], tf.complex64)
    assert FIXTURES["errors"]["add_float32"] == "InvalidArgumentError"
    with pytest.raises(tf.errors.InvalidArgumentError, match="complex64.*float32"):
        _ = z + tf.constant([1.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="complex64.*complex128"):
        _ = z + tf.constant([1j])
    with pytest.raises(TypeError, match="Cannot convert"):
        tf.constant(1 + 2j, tf.float32)
    with pytest.raises(TypeError, match="Cannot convert"):
        _ = tf.constant([1.0]) + 1j


REFUSED = {
    "less": (lambda z: z < z, "Less"),
    "greater_equal": (lambda z: tf.greater_equal(z, z), "GreaterEqual"),
    "maximum": (lambda z: tf.maximum(z, z), "Maximum"),
    "relu": (lambda z: tf.nn.relu(z), "Relu"),
    "floor": (lambda z: tf.floor(z), "Floor"),
    "reduce_max": (lambda z: tf.reduce_max(z), "Max"),
    "argmax": (lambda z: tf.argmax(z), "ArgMax"),
    "is_nan": (lambda z: tf.math.is_nan(z), "IsNan"),
    "erf": (lambda z: tf.math.erf(z), "Erf"),
    "softplus": (lambda z: tf.nn.softplus(z), "Softplus"),
    "reduce_logsumexp": (lambda z: tf.math.reduce_logsumexp(z), "ReduceLogSumExp"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_ops_tf_refuses_raise_naming_op_and_dtype(name):
    f, op = REFUSED[name]
    assert FIXTURES["errors"][name] == "InvalidArgumentError"
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{op}.*complex64"):
        f(tf.constant([1 + 2j], tf.complex64))


SIGNAL = {
    "fft": lambda x: tf.signal.fft(x),
    "ifft": lambda x: tf.signal.ifft(x),
    "fft2d": lambda x: tf.signal.fft2d(x),
    "ifft2d": lambda x: tf.signal.ifft2d(x),
    "irfft": lambda x: tf.signal.irfft(x),
    "irfft_5": lambda x: tf.signal.irfft(x, [5]),
    "irfft_3": lambda x: tf.signal.irfft(x, [3]),
    "irfft_12": lambda x: tf.signal.irfft(x, [12]),
    "rfft": lambda x: tf.signal.rfft(tf.math.real(x)),
    "rfft_8": lambda x: tf.signal.rfft(tf.math.real(x), [8]),
    "rfft_3": lambda x: tf.signal.rfft(tf.math.imag(x), [3]),
    "fft3d": lambda x: tf.signal.fft3d(tf.reshape(x, [1, 2, 5])),
    "ifft3d": lambda x: tf.signal.ifft3d(tf.reshape(x, [2, 1, 5])),
    "rfft2d": lambda x: tf.signal.rfft2d(tf.math.real(x)),
    "rfft2d_3_8": lambda x: tf.signal.rfft2d(tf.math.real(x), [3, 8]),
    "rfft2d_1_3": lambda x: tf.signal.rfft2d(tf.math.imag(x), [1, 3]),
    "irfft2d": lambda x: tf.signal.irfft2d(x),
    "irfft2d_3_7": lambda x: tf.signal.irfft2d(x, [3, 7]),
}


@pytest.mark.parametrize("case", FIXTURES["signal"], ids=lambda c: f"{c['op']}-{c['dtype']}")
def test_signal_transforms_match_tf(case):
    x = tf.constant(dec(case["args"][0], np.dtype(case["dtype"])))
    want = dec(case["y"])
    got = SIGNAL[case["op"]](x)
    assert got.shape == want.shape
    want_dtype = x.dtype if want.dtype.kind == "c" else x.dtype.real_dtype
    assert got.dtype == want_dtype
    # (a product with the DFT matrix, not TF's FFT: rounding of order n·eps)
    precision = {"rtol": 1e-5, "atol": 1e-5} if case["dtype"] == "complex64" else tol("")
    np.testing.assert_allclose(got.numpy(), want, **precision)


SIGNAL_REFUSED = {
    "fft_float": (lambda z, f: tf.signal.fft(f), tf.errors.InvalidArgumentError, "FFT.*float32"),
    "fft_scalar": (lambda z, f: tf.signal.fft(z[0]), tf.errors.InvalidArgumentError, "rank"),
    "ifft2d_vector": (lambda z, f: tf.signal.ifft2d(z), tf.errors.InvalidArgumentError, "rank"),
    "rfft_complex": (lambda z, f: tf.signal.rfft(z), ValueError, "RFFT requires"),
    "irfft_float": (lambda z, f: tf.signal.irfft(f), ValueError, "IRFFT requires"),
}


@pytest.mark.parametrize("name", sorted(SIGNAL_REFUSED))
def test_signal_refuses_what_tf_refuses(name):
    f, kind, message = SIGNAL_REFUSED[name]
    assert FIXTURES["errors"][name] == kind.__name__
    with pytest.raises(kind, match=message):
        f(tf.constant([1 + 2j], tf.complex64), tf.constant([1.0], tf.float32))


def test_random_complex_tensors_are_refused_as_tf():
    # TF has no complex random normal (RandomStandardNormal's dtypes are real)
    assert FIXTURES["errors"]["random_normal"] == "InvalidArgumentError"
    with pytest.raises(tf.errors.InvalidArgumentError, match="complex64"):
        tf.random.normal([2], dtype=tf.complex64)
    assert FIXTURES["errors"]["random_uniform"] == "ValueError"
    with pytest.raises(ValueError):
        tf.random.uniform([2], dtype=tf.complex64)


def test_cholesky_reads_the_lower_triangle_and_refuses_what_tf_refuses():
    # TF reads the lower triangle and the real part of the diagonal only
    a = np.array([[4 + 0j, 1 - 2j], [1 + 2j, 6 + 0j]])
    scrambled = np.array([[4 + 3j, 99 + 9j], [1 + 2j, 6 - 1j]])
    want = np.array([[2, 0], [0.5 + 1j, np.sqrt(4.75)]])  # TF 2.21's answer
    for m in (a, scrambled):
        got = tf.linalg.cholesky(tf.constant(m, tf.complex64))
        assert got.dtype == tf.complex64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Cholesky.*square"):
        tf.linalg.cholesky(tf.ones([2, 3], tf.complex64))
    # TF's complex kernel returns garbage for a matrix that is not positive
    # definite; tapegrad raises, as TF's real kernel does (docs/compat.md)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Cholesky.*not successful"):
        tf.linalg.cholesky(tf.constant([[1 + 0j, 2], [2, 1]]))
    assert tf.linalg.cholesky(tf.zeros([2, 0, 0], tf.complex128)).shape == [2, 0, 0]


OPT_START = [1 + 2j, -1j]
OPT_GRADS = [[(0.5 - 1j) * (k + 1) + 0.3j * k, (-2 + 0.25j) * (k + 1) + 0.3j * k] for k in range(3)]
OPTIMIZERS = {
    "sgd": lambda: tf.keras.optimizers.SGD(0.1),
    "sgd_momentum": lambda: tf.keras.optimizers.SGD(0.1, momentum=0.9),
    "sgd_nesterov": lambda: tf.keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "sgd_weight_decay": lambda: tf.keras.optimizers.SGD(0.1, weight_decay=0.1),
    "adam": lambda: tf.keras.optimizers.Adam(0.1),
    "adamw": lambda: tf.keras.optimizers.AdamW(0.1, weight_decay=0.05),
    "rmsprop": lambda: tf.keras.optimizers.RMSprop(0.1),
    "rmsprop_centered_momentum": lambda: tf.keras.optimizers.RMSprop(
        0.1, momentum=0.5, centered=True
    ),
    "adagrad": lambda: tf.keras.optimizers.Adagrad(0.1),
}


@pytest.mark.parametrize("case", FIXTURES["optimizers"], ids=lambda c: c["case"])
def test_optimizers_on_complex_variables_match_tf(case):
    # Keras on TF runs the update formulas in complex arithmetic: Adam,
    # RMSprop and Adagrad square the gradient as g·g, not |g|² (docs/compat.md)
    opt = OPTIMIZERS[case["case"]]()
    v = tf.Variable(tf.constant(OPT_START, tf.complex64))
    for g in OPT_GRADS:
        opt.apply_gradients([(tf.constant(g, tf.complex64), v)])
    assert v.dtype == tf.complex64
    np.testing.assert_allclose(v.numpy(), dec(case["y"]), rtol=2e-6, atol=1e-6)


def test_complex_optimizer_slots_are_complex_and_complex128_works():
    v = tf.Variable([1 + 2j, -1j])  # complex128
    opt = tf.keras.optimizers.Adam(0.1)
    g = np.array([0.5 - 1j, -2 + 0.25j])
    opt.apply_gradients([(tf.constant(g), v)])
    # first step: m = 0.1·g, u = 0.001·g², w −= α·m/(√u + ε), α = lr·√0.001/0.1
    # (the rate is held in float32, as Keras holds it)
    lr, m, u = float(np.float32(0.1)), 0.1 * g, 0.001 * g * g
    want = np.array([1 + 2j, -1j]) - lr * np.sqrt(0.001) / 0.1 * m / (np.sqrt(u) + 1e-7)
    np.testing.assert_allclose(v.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(opt.get_slot(v, "velocity").numpy(), u, rtol=1e-12)
    assert opt.get_slot(v, "momentum").dtype == tf.complex128


@pytest.mark.parametrize(
    "make, option",
    [
        (lambda: tf.keras.optimizers.SGD(0.1, clipnorm=1.0), "clipnorm"),
        (lambda: tf.keras.optimizers.Adam(0.1, clipvalue=0.5), "clipvalue"),
        (lambda: tf.keras.optimizers.Adam(0.1, global_clipnorm=1.0), "global_clipnorm"),
        (lambda: tf.keras.optimizers.Adam(0.1, amsgrad=True), "amsgrad"),
    ],
)
def test_complex_optimizers_refuse_what_tf_refuses(make, option):
    # TF's clip ops and AMSGrad's maximum take real values only
    v = tf.Variable([1 + 2j, -1j], dtype=tf.complex64)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"complex64.*{option}"):
        make().apply_gradients([(tf.ones_like(v), v)])
    np.testing.assert_array_equal(v.numpy(), np.array([1 + 2j, -1j], np.complex64))


def test_complex_needs_matching_float_parts():
    # TF raises TypeError here; tapegrad's InvalidArgumentError (docs/compat.md)
    assert FIXTURES["errors"]["complex_mixed"] == "TypeError"
    with pytest.raises(tf.errors.InvalidArgumentError, match="float32 float64"):
        tf.complex(tf.constant([1.0]), tf.constant([1.0], tf.float64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32 int32"):
        tf.complex(tf.constant([1]), tf.constant([2]))


# --- gradients: TF's answers and central differences --------------------------------


def grad_cases():
    c = tf.complex128
    z = tf.constant(Z, c)
    w = tf.constant(W, c)
    x = tf.constant([1.5, -2.0, 0.25, 3.0], tf.float64)
    y = tf.constant([0.5, 3.0, -1.0, 0.75], tf.float64)
    a, b = tf.constant(A, c), tf.constant(B, c)
    r = tf.math.real
    weights = tf.constant([[1j, 2], [3, -1j]], c)
    sx = tf.constant(X, c)
    sw = tf.constant(np.arange(10).reshape(2, 5) * (0.3 - 0.7j) + 1j)
    m, rhs = tf.constant(SQUARE, c), tf.constant(RHS, c)
    lw = tf.constant(np.arange(18).reshape(2, 3, 3) * (0.2 + 0.1j) - 1j)
    return {
        "det": (lambda m: r(tf.reduce_sum(tf.linalg.det(m) * (1 - 2j))), [m]),
        "inv": (lambda m: r(tf.reduce_sum(tf.linalg.inv(m) * lw)), [m]),
        "solve": (lambda m, b: r(tf.reduce_sum(tf.linalg.solve(m, b) * lw[:, :, :2])), [m, rhs]),
        "cholesky": (lambda m: r(tf.reduce_sum(tf.linalg.cholesky(hermitian_pd(m)) * lw)), [m]),
        "abs_squared": (lambda z: tf.abs(z) ** 2, [z]),
        "abs": (tf.abs, [z]),
        "real_of_product": (lambda z, w: r(z * w), [z, w]),
        "imag_of_product": (lambda z, w: tf.math.imag(z * w), [z, w]),
        "complex_target_product": (lambda z, w: z * w, [z, w]),
        "exp": (lambda z: r(tf.exp(z) * w), [z]),
        "complex_target_exp": (tf.exp, [z]),
        "conj": (lambda z: r(tf.math.conj(z) * w), [z]),
        "real": (tf.math.real, [z]),
        "imag": (tf.math.imag, [z]),
        "angle": (tf.math.angle, [z]),
        "log": (lambda z: r(tf.math.log(z) * w), [z]),
        "sqrt": (lambda z: r(tf.sqrt(z) * w), [z]),
        "rsqrt": (lambda z: r(tf.math.rsqrt(z) * w), [z]),
        "square": (lambda z: r(tf.square(z) * w), [z]),
        "reciprocal": (lambda z: r(tf.math.reciprocal(z) * w), [z]),
        "sin": (lambda z: r(tf.sin(z) * w), [z]),
        "cos": (lambda z: r(tf.cos(z) * w), [z]),
        "tanh": (lambda z: r(tf.tanh(z) * w), [z]),
        "negative": (lambda z: tf.math.imag(-z * w), [z]),
        "divide": (lambda z, w: r(z / w), [z, w]),
        "subtract": (lambda z, w: r((z - w) * w), [z, w]),
        "add": (lambda z, w: tf.math.imag((z + w) * w), [z, w]),
        "pow": (lambda z, w: r(tf.pow(z, w)), [z, w]),
        "pow_scalar": (lambda z: r(z**2), [z]),
        "squared_difference": (lambda z, w: r(tf.math.squared_difference(z, w)), [z, w]),
        "reduce_sum": (lambda z: r(tf.reduce_sum(z * w)), [z]),
        "reduce_mean": (lambda z: tf.math.imag(tf.reduce_mean(z * w)), [z]),
        "reduce_prod": (lambda z: r(tf.reduce_prod(z)), [z]),
        "cumsum": (lambda z: r(tf.math.cumsum(z) * w), [z]),
        "cumprod": (lambda z: r(tf.math.cumprod(z) * w), [z]),
        "cast_to_real": (lambda z: tf.cast(z, tf.float64) * 3, [z]),
        "cast_from_real": (lambda x: tf.math.imag(tf.cast(x, c) * w), [x]),
        "complex_abs_squared": (lambda x, y: tf.abs(tf.complex(x, y)) ** 2, [x, y]),
        "complex_real": (lambda x, y: r(tf.complex(x, y) * w), [x, y]),
        "complex_imag": (lambda x, y: tf.math.imag(tf.complex(x, y) * w), [x, y]),
        "matmul": (lambda a, b: r(tf.reduce_sum(tf.matmul(a, b) * weights)), [a, b]),
        "complex_target_matmul": (tf.matmul, [a, b]),
        "matmul_adjoint": (lambda a: r(tf.reduce_sum(tf.linalg.matmul(a, a, adjoint_b=True))), [a]),
        "adjoint": (lambda a: r(tf.reduce_sum(tf.linalg.adjoint(a) * b)), [a]),
        "gather": (
            lambda z: r(tf.reduce_sum(tf.gather(z, [1, 1, 3]) * tf.constant([1j, 2, 3 - 1j], c))),
            [z],
        ),
        "concat_reshape_slice": (
            lambda z: r(tf.reduce_sum(tf.reshape(tf.concat([z, z * w], 0), (2, 4))[:, 1:] * 1j)),
            [z],
        ),
        "tan": (lambda z: r(tf.math.tan(z) * w), [z]),
        "sinh": (lambda z: r(tf.math.sinh(z) * w), [z]),
        "cosh": (lambda z: r(tf.math.cosh(z) * w), [z]),
        "sigmoid": (lambda z: r(tf.sigmoid(z) * w), [z]),
        "expm1": (lambda z: r(tf.math.expm1(z) * w), [z]),
        "log1p": (lambda z: r(tf.math.log1p(z) * w), [z]),
        "asin": (lambda z: r(tf.math.asin(z) * w), [z]),
        "acos": (lambda z: r(tf.math.acos(z) * w), [z]),
        "atan": (lambda z: r(tf.math.atan(z) * w), [z]),
        "asinh": (lambda z: r(tf.math.asinh(z) * w), [z]),
        "atanh": (lambda z: r(tf.math.atanh(z) * w), [z]),
        "complex_target_asin": (tf.math.asin, [z]),
        "xlogy": (lambda z, w: r(tf.math.xlogy(z, w) * (1 - 2j)), [z, w]),
        "xdivy": (lambda z, w: r(tf.math.xdivy(z, w) * (1 - 2j)), [z, w]),
        "reduce_variance": (lambda z: tf.math.reduce_variance(z * w), [z]),
        "reduce_std": (lambda z: tf.math.reduce_std(z), [z]),
        "reduce_std_axis": (lambda a: tf.reduce_sum(tf.math.reduce_std(a, axis=1)), [a]),
        "norm": (lambda z: r(tf.norm(z * w) * (1 - 2j)), [z]),
        "norm_1": (lambda z: tf.norm(z * w, ord=1), [z]),
        "norm_inf": (lambda z: tf.norm(z, ord=np.inf), [z]),
        "norm_3": (lambda z: tf.norm(z * w, ord=3), [z]),
        "matrix_norm_fro": (lambda a: r(tf.norm(a, ord="fro", axis=[0, 1])), [a]),
        "matrix_norm_1": (lambda a: tf.norm(a, ord=1, axis=[0, 1]), [a]),
        "reduce_euclidean_norm": (lambda z: r(tf.math.reduce_euclidean_norm(z * w)), [z]),
        "einsum_matmul": (
            lambda a, b: r(tf.reduce_sum(tf.einsum("ij,jk->ik", a, b) * weights)),
            [a, b],
        ),
        "einsum_trace_product": (lambda a, b: tf.math.imag(tf.einsum("ij,ji->", a, b)), [a, b]),
        "einsum_gram": (
            lambda a: r(tf.reduce_sum(tf.einsum("ij,kj->ik", a, tf.math.conj(a)) * (1 + 1j))),
            [a],
        ),
        "tensordot_pairs": (
            lambda a, b: r(tf.tensordot(a, b, [[0, 1], [1, 0]]) * (2 - 1j)),
            [a, b],
        ),
        "fft": (lambda x: r(tf.reduce_sum(tf.signal.fft(x) * sw)), [sx]),
        "ifft": (lambda x: r(tf.reduce_sum(tf.signal.ifft(x) * sw)), [sx]),
        "fft2d": (lambda x: tf.math.imag(tf.reduce_sum(tf.signal.fft2d(x) * sw)), [sx]),
        "ifft2d": (lambda x: r(tf.reduce_sum(tf.signal.ifft2d(x) * sw)), [sx]),
        "rfft": (lambda x: r(tf.reduce_sum(tf.signal.rfft(x) * sw[:, :3])), [r(sx)]),
        "rfft_8": (
            lambda x: r(tf.reduce_sum(tf.signal.rfft(x, [8]) * tf.concat([sw, sw], 1)[:, :5])),
            [r(sx)],
        ),
        "irfft": (
            lambda x: tf.reduce_sum(tf.signal.irfft(x) * tf.concat([r(sw), r(sw)], 1)[:, :8]),
            [sx],
        ),
        "irfft_5": (lambda x: tf.reduce_sum(tf.signal.irfft(x[:, :3], [5]) * r(sw)), [sx]),
        "fft3d": (
            lambda x: r(tf.reduce_sum(tf.signal.fft3d(tf.reshape(x, [1, 2, 5])) * sw)),
            [sx],
        ),
        "rfft2d": (lambda x: r(tf.reduce_sum(tf.signal.rfft2d(x) * sw[:, :3])), [r(sx)]),
        "irfft2d": (
            lambda x: tf.reduce_sum(tf.signal.irfft2d(x) * tf.concat([r(sw), r(sw)], 1)[:, :8]),
            [sx],
        ),
        "tensordot_0": (
            lambda a, b: tf.math.imag(
                tf.reduce_sum(
                    tf.tensordot(a, b, 0)
                    * tf.cast(tf.reshape(tf.range(36.0), (2, 3, 3, 2)), c)
                    * (1 + 0.5j)
                )
            ),
            [a, b],
        ),
    }


GRAD_CASES = grad_cases()


def tape_grads(f, xs):
    with tf.GradientTape(persistent=True) as tape:
        for v in xs:
            tape.watch(v)
        target = f(*xs)
    # (zero for an unconnected source: a gradient constant in the inputs)
    return [
        tf.convert_to_tensor(tape.gradient(target, v, unconnected_gradients="zero")) for v in xs
    ]


@pytest.mark.parametrize("case", FIXTURES["grads"], ids=lambda c: c["case"])
def test_gradients_match_tf(case):
    f, xs = GRAD_CASES[case["case"]]
    if case["case"] == "cumprod":
        # TF's cumprod gradient leaves out its own conjugation: with upstream
        # g = conj(w) it answers Σ_{k≥j} g_k·y_k/z_j, where the convention
        # (and central differences, below) give Σ_{k≥j} g_k·conj(y_k/z_j);
        # tapegrad follows the convention (docs/compat.md)
        z, w = np.array(Z), np.array(W)
        y = np.cumprod(z)
        unconjugated = np.cumsum((y * np.conj(w))[::-1])[::-1] / z
        np.testing.assert_allclose(dec(case["grads"][0]), unconjugated, rtol=1e-12)
        convention = np.conj(np.cumsum((y * w)[::-1])[::-1] / z)
        np.testing.assert_allclose(tape_grads(f, xs)[0].numpy(), convention, rtol=1e-12)
        return
    if case["case"] == "det":
        # TF's determinant gradient is g·det·A⁻ᴴ, leaving out the conjugate
        # of det; the convention (and central differences, below) give
        # g·conj(det)·A⁻ᴴ, which tapegrad follows (docs/compat.md)
        a = np.array(SQUARE)
        inverse_adjoint = np.conj(np.linalg.inv(a)).transpose(0, 2, 1)
        d = np.linalg.det(a)[:, None, None]
        np.testing.assert_allclose(dec(case["grads"][0]), (1 + 2j) * d * inverse_adjoint)
        got = tape_grads(f, xs)[0].numpy()
        np.testing.assert_allclose(got, (1 + 2j) * np.conj(d) * inverse_adjoint, rtol=1e-12)
        return
    if case["case"] in ("xlogy", "xdivy"):
        # TF's Xlogy/Xdivy gradients multiply the upstream g = conj(1 − 2j) by
        # the partial derivatives unconjugated; tapegrad follows the
        # convention, g·conj(∂), which central differences confirm (below)
        z, w, g = np.array(Z), np.array(W), 1 + 2j
        if case["case"] == "xlogy":
            partials = [np.log(w), z / w]
        else:
            partials = [1 / w, -z / w**2]
        for want, got, partial in zip(case["grads"], tape_grads(f, xs), partials, strict=True):
            np.testing.assert_allclose(dec(want), g * partial, rtol=1e-12)
            np.testing.assert_allclose(got.numpy(), g * np.conj(partial), rtol=1e-12)
        return
    for x, g, want in zip(xs, tape_grads(f, xs), case["grads"], strict=True):
        assert g.dtype == x.dtype and g.shape == x.shape
        np.testing.assert_allclose(g.numpy(), dec(want), rtol=1e-12, atol=1e-13)


def real_loss(f, xs):
    """A real scalar loss of f's output: the sum, of the real part when
    f's output is complex, with fixed weights so nothing cancels."""

    def loss(*ts):
        out = f(*ts)
        if out.dtype.is_complex:
            out = tf.math.real(out * tf.constant(np.full(out.shape, 0.3 - 0.7j), out.dtype))
        return tf.reduce_sum(
            out
            * tf.constant(
                np.linspace(0.5, 1.5, max(out.shape.num_elements(), 1)).reshape(out.shape),
                out.dtype,
            )
        )

    return loss


def numeric_tf_gradient(loss, xs, i, eps=1e-6):
    """∂L/∂x + i·∂L/∂y of input i by central differences on each part."""
    arrays = [x.numpy() for x in xs]
    base = arrays[i]
    grad = np.zeros(base.shape, np.complex128 if base.dtype.kind == "c" else np.float64)
    steps = [1.0, 1j] if base.dtype.kind == "c" else [1.0]
    for idx in np.ndindex(base.shape):
        for step in steps:
            values = []
            for sign in (1, -1):
                moved = base.copy()
                moved[idx] += sign * eps * step
                args = [tf.constant(a) for a in arrays]
                args[i] = tf.constant(moved)
                values.append(float(loss(*args)))
            d = (values[0] - values[1]) / (2 * eps)
            grad[idx] += d * (1 if step == 1.0 else 1j)
    return grad


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_match_central_differences(name):
    f, xs = GRAD_CASES[name]
    loss = real_loss(f, xs)
    for i, g in enumerate(tape_grads(loss, xs)):
        np.testing.assert_allclose(
            g.numpy(), numeric_tf_gradient(loss, xs, i), rtol=1e-6, atol=1e-7, err_msg=f"input {i}"
        )


SECOND_ORDER = [
    "abs_squared",
    "exp",
    "log",
    "sqrt",
    "reciprocal",
    "tanh",
    "divide",
    "pow",
    "matmul",
    "reduce_prod",
    "angle",
    "complex_real",
    "sigmoid",
    "expm1",
    "log1p",
    "asin",
    "atan",
    "asinh",
    "atanh",
    "tan",
    "xlogy",
    "xdivy",
    "reduce_std",
    "norm",
    "norm_3",
    "einsum_gram",
    "fft",
    "irfft",
    "irfft2d",
    "det",
    "inv",
    "solve",
    "cholesky",
]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_gradients_match_central_differences(name):
    """The gradient of h = Re Σ conj(v)·∇L (a real function of the inputs,
    computed by an inner tape) against central differences of h."""
    f, xs = GRAD_CASES[name]
    loss = real_loss(f, xs)
    rng = np.random.default_rng(0)
    vs = [
        tf.constant(
            rng.standard_normal(x.shape)
            + (1j * rng.standard_normal(x.shape) if x.dtype.is_complex else 0)
        )
        for x in xs
    ]

    def h(*ts):
        with tf.GradientTape(persistent=True) as inner:
            for t in ts:
                inner.watch(t)
            s = loss(*ts)
        total = tf.constant(0.0, tf.float64)
        for t, v in zip(ts, vs, strict=True):
            g = tf.convert_to_tensor(inner.gradient(s, t))
            total = total + tf.reduce_sum(tf.math.real(tf.math.conj(v) * g))
        return total

    for i, g in enumerate(tape_grads(h, xs)):
        np.testing.assert_allclose(
            g.numpy(), numeric_tf_gradient(h, xs, i), rtol=1e-5, atol=1e-6, err_msg=f"input {i}"
        )


def test_complex_variables_train_with_the_conjugate_convention():
    """Gradient descent on |z − target|² with TF's gradient 2(z − target)
    converges to the target (a wrong convention would spiral away)."""
    target = tf.constant([1 + 2j, -0.5 + 0.25j])
    v = tf.Variable([0j, 0j])
    for _ in range(50):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.abs(v - target) ** 2)
        g = tape.gradient(loss, v)
        assert g.dtype == tf.complex128
        v.assign_sub(0.1 * g)
    np.testing.assert_allclose(v.numpy(), target.numpy(), atol=1e-4)


def test_complex_float32_gradient_dtype_and_watch():
    z = tf.constant([1 + 1j], tf.complex64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = tf.abs(z)
    g = tape.gradient(y, z)
    assert g.dtype == tf.complex64
    np.testing.assert_allclose(g.numpy(), [np.sqrt(0.5) * (1 + 1j)], rtol=1e-6)


# TF 2.21's acosh on the principal branch (the sign of a zero imaginary part
# picks the side of the cut (−∞, 1)), and the gradient of Σ|acosh z|²
ACOSH_TF = [
    (2 + 0j, 1.3169578969248166 + 0j, 1.520691992601893 + 0j),
    (0.5 + 0j, 1.0471975511965976j, -2.4183991523122903 + 0j),
    (-2 + 0j, 1.3169578969248166 + 3.141592653589793j, -1.5206919926018934 - 3.627598728468436j),
    (1 + 1j, 1.0612750619050357 + 0.9045568943023813j, -0.2828995314475773 + 1.8434872300284997j),
    (-1 - 2j, 1.528570919480998 - 1.9978749131873728j, -2.0440127512073163 - 0.5446164499985527j),
    (0j, 1.5707963267948966j, -3.141592653589793 + 0j),
    (3 - 4j, 2.305509031243477 - 0.93681246115572j, 0.23383864305797744 - 0.9615181242225278j),
    (
        1e5 + 1e5j,
        12.552646235810146 + 0.7853981634099484j,
        0.00011767248072066756 + 0.00013338044399514284j,
    ),
    (
        complex(-1.5, -0.0),
        0.9624236501192069 - 3.141592653589793j,
        -1.7216357638560171 + 5.619851784832581j,
    ),
]


def test_acosh_matches_tensorflow_on_both_sides_of_the_cut() -> None:
    z = tf.constant([row[0] for row in ACOSH_TF], tf.complex128)
    with tf.GradientTape() as tape:
        tape.watch(z)
        w = tf.math.acosh(z)
        loss = tf.reduce_sum(tf.abs(w) ** 2)
    np.testing.assert_allclose(w.numpy(), [row[1] for row in ACOSH_TF], rtol=1e-12, atol=1e-12)
    grad = tape.gradient(loss, z).numpy()
    np.testing.assert_allclose(grad, [row[2] for row in ACOSH_TF], rtol=1e-9, atol=1e-12)
    assert tf.math.acosh(tf.constant([2 + 0j], tf.complex64)).dtype == tf.complex64


def test_real_acosh_matches_tensorflow() -> None:
    # TF 2.21: NaN below 1, and an infinite gradient at 1
    x = tf.constant([1.0, 1.5, 2.0, 10.0, 0.5, -2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.acosh(x)
    expected = [0.0, 0.9624236822128296, 1.316957950592041, 2.993222951889038, np.nan, np.nan]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)
    grad = [np.inf, 0.8944270610809326, 0.5773502588272095, 0.10050376504659653, np.nan, np.nan]
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), grad, rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.math.acosh(tf.constant([2]))
