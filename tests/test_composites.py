"""Composite ops of issue 15 (built in Python from differentiable core ops): values
(against TF 2.21's, recorded in tests/fixtures/tf_image.json, or worked by hand) and
float64 first- and second-order gradient checks against central differences."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, projected_grad

IMAGE = json.loads((pathlib.Path(__file__).parent / "fixtures" / "tf_image.json").read_text())
IMAGE_INPUT = np.array(IMAGE["input"], dtype=np.float32)

rng = np.random.default_rng(15)


def _check_first_and_second_order(f, xs):
    check_vjp(f, xs)
    check_vjp(projected_grad(f, xs), xs, unconnected="zero")


# --- clip_by_norm / clip_by_global_norm / add_n -------------------------------------------


def test_clip_by_norm_values():
    b = tf.constant([[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(tf.clip_by_norm(b, 2.0).numpy(), [[0.4, 0.8], [0.8, 1.6]], rtol=1e-6)
    np.testing.assert_allclose(
        tf.clip_by_norm(b, 2.0, axes=[1]).numpy(),
        [[0.8944272, 1.7888544], [0.8944272, 1.7888544]],
        rtol=1e-6,
    )
    np.testing.assert_array_equal(tf.clip_by_norm(tf.zeros([2]), 1.0).numpy(), [0.0, 0.0])
    np.testing.assert_allclose(tf.clip_by_norm([3.0, 4.0], 1).numpy(), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(tf.clip_by_norm(b, 100.0).numpy(), b.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="float tensor"):
        tf.clip_by_norm(tf.constant([3, 4]), 1)


def test_clip_by_norm_gradient_matches_tf_including_at_zero():
    # TF 2.21: d/dx sum(clip_by_norm(x, 1) * [1, 2]) at x = [3, 4] and at 0
    x = tf.constant([3.0, 4.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.clip_by_norm(x, 1.0) * tf.constant([1.0, 2.0]))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [-0.064, 0.048], rtol=1e-5)
    z = tf.zeros([2])
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = tf.reduce_sum(tf.clip_by_norm(z, 1.0))
    np.testing.assert_array_equal(tape.gradient(y, z).numpy(), [1.0, 1.0])


@pytest.mark.parametrize("limit", [0.5, 50.0], ids=["clipping", "not-clipping"])
@pytest.mark.parametrize("axes", [None, [1]], ids=["all", "axis1"])
def test_clip_by_norm_gradients(limit, axes):
    x = rng.standard_normal((3, 4))
    _check_first_and_second_order(lambda t: tf.clip_by_norm(t, limit, axes=axes), [x])


def test_clip_by_global_norm_values_and_none_entries():
    a = tf.constant([3.0, 4.0])
    b = tf.constant([[1.0, 2.0], [2.0, 4.0]])
    clipped, norm = tf.clip_by_global_norm([a, None, b], 5.0)
    assert clipped[1] is None and norm.dtype == tf.float32
    np.testing.assert_allclose(float(norm), 7.071068, rtol=1e-6)
    np.testing.assert_allclose(clipped[0].numpy(), [2.1213205, 2.8284273], rtol=1e-6)
    np.testing.assert_allclose(
        clipped[2].numpy(), [[0.7071068, 1.4142137], [1.4142137, 2.8284273]], rtol=1e-6
    )
    clipped, norm = tf.clip_by_global_norm([a, b], 100.0)
    np.testing.assert_array_equal(clipped[0].numpy(), [3.0, 4.0])
    clipped, norm = tf.clip_by_global_norm((a,), 1.0, use_norm=tf.constant(10.0))
    assert float(norm) == 10.0
    np.testing.assert_allclose(clipped[0].numpy(), [0.3, 0.4], rtol=1e-6)
    clipped, norm = tf.clip_by_global_norm([a, tf.constant([np.inf])], 1.0)
    assert np.isinf(float(norm)) and np.isnan(clipped[0].numpy()).all()
    clipped, norm = tf.clip_by_global_norm([None], 1.0)
    assert clipped == [None] and float(norm) == 0.0
    assert tf.clip_by_global_norm([], 1.0)[0] == []
    with pytest.raises(TypeError, match="`t_list` should be a sequence of tensors"):
        tf.clip_by_global_norm(a, 1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one dtype"):
        tf.clip_by_global_norm([a, tf.constant([1.0], tf.float64)], 1.0)
    np.testing.assert_allclose(float(tf.linalg.global_norm([a, b])), 7.071068, rtol=1e-6)


@pytest.mark.parametrize("limit", [0.5, 50.0], ids=["clipping", "not-clipping"])
def test_clip_by_global_norm_gradients(limit):
    xs = [rng.standard_normal((2, 3)), rng.standard_normal(4)]

    def clipped_concat(a, b):
        out, norm = tf.clip_by_global_norm([a, None, b], limit)
        return tf.concat([tf.reshape(out[0], [-1]), out[2], tf.reshape(norm, [1])], 0)

    _check_first_and_second_order(clipped_concat, xs)


def test_add_n_gradients():
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]
    _check_first_and_second_order(lambda a, b, c: tf.add_n([a, b, c]) * a, xs)


# --- repeat / meshgrid --------------------------------------------------------------------


def test_repeat_values_match_tf():
    m = tf.constant([[1, 2], [3, 4]])
    np.testing.assert_array_equal(tf.repeat(m, 2).numpy(), [1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(tf.repeat(m, [1, 2], axis=0).numpy(), [[1, 2], [3, 4], [3, 4]])
    np.testing.assert_array_equal(
        tf.repeat(m, 3, axis=-1).numpy(), [[1, 1, 1, 2, 2, 2], [3, 3, 3, 4, 4, 4]]
    )
    np.testing.assert_array_equal(tf.repeat(tf.constant(5.0), 3).numpy(), [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(tf.repeat([1, 2], [0, 2]).numpy(), [2, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="one count per slice"):
        tf.repeat(m, [1, 2, 3], axis=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=">= 0"):
        tf.repeat(m, -1, axis=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
        tf.repeat(m, 2, axis=2)


@pytest.mark.parametrize("repeats,axis", [(2, None), ([1, 0, 3], 0), (2, 1), ([2, 1, 1, 3], -1)])
def test_repeat_gradients(repeats, axis):
    x = rng.standard_normal((3, 4))
    _check_first_and_second_order(lambda t: tf.repeat(t, repeats, axis=axis) ** 2, [x])


def test_meshgrid_values_match_tf():
    X, Y = tf.meshgrid([1, 2, 3], [4, 5])
    np.testing.assert_array_equal(X.numpy(), [[1, 2, 3], [1, 2, 3]])
    np.testing.assert_array_equal(Y.numpy(), [[4, 4, 4], [5, 5, 5]])
    X, Y = tf.meshgrid([1, 2, 3], [4, 5], indexing="ij")
    np.testing.assert_array_equal(X.numpy(), [[1, 1], [2, 2], [3, 3]])
    np.testing.assert_array_equal(Y.numpy(), [[4, 5], [4, 5], [4, 5]])
    assert [g.shape for g in tf.meshgrid([1, 2, 3], [4, 5], [6, 7, 8, 9])] == [(2, 3, 4)] * 3
    assert [g.shape for g in tf.meshgrid([1, 2, 3], [4, 5], [6, 7, 8, 9], indexing="ij")] == [
        (3, 2, 4)
    ] * 3
    (only,) = tf.meshgrid([1, 2, 3])
    np.testing.assert_array_equal(only.numpy(), [1, 2, 3])
    assert tf.meshgrid() == []
    X, _ = tf.meshgrid([[1, 2], [3, 4]], [5, 6])  # inputs are flattened
    assert X.shape == (2, 4)
    with pytest.raises(ValueError, match="must be either 'xy' or 'ij', got 'ji'"):
        tf.meshgrid([1], [2], indexing="ji")
    with pytest.raises(tf.errors.InvalidArgumentError, match="one dtype"):
        tf.meshgrid([1, 2, 3], [4.0, 5.0])


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid_matches_numpy_and_its_gradients(indexing):
    vectors = [rng.standard_normal(n) for n in (2, 3, 4)]
    grids = tf.meshgrid(*[tf.constant(v) for v in vectors], indexing=indexing)
    for got, expected in zip(grids, np.meshgrid(*vectors, indexing=indexing), strict=True):
        np.testing.assert_array_equal(got.numpy(), expected)

    def weighted(a, b, c):
        x, y, z = tf.meshgrid(a, b, c, indexing=indexing)
        return x * y + z * z

    _check_first_and_second_order(weighted, vectors)


# --- tf.image -----------------------------------------------------------------------------

SIZES = [(4, 4), (6, 10), (2, 3), (3, 5), (1, 1), (5, 2)]


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_resize_matches_tf_bit_for_bit(method, size):
    out = tf.image.resize(IMAGE_INPUT, size, method=method)
    assert out.dtype == tf.float32
    expected = np.array(IMAGE[f"resize_{method}_{size[0]}x{size[1]}"], dtype=np.float32)
    np.testing.assert_array_equal(out.numpy(), expected)
    single = tf.image.resize(IMAGE_INPUT[1], size, method=method)
    np.testing.assert_array_equal(single.numpy(), expected[1])


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("target", [(4, 4), (6, 6), (3, 10), (8, 5), (9, 8)])
def test_resize_with_pad_matches_tf_bit_for_bit(method, target):
    out = tf.image.resize_with_pad(IMAGE_INPUT, *target, method=method)
    expected = np.array(IMAGE[f"pad_{method}_{target[0]}x{target[1]}"], dtype=np.float32)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_resize_dtypes_aspect_ratio_and_errors():
    ints = tf.reshape(tf.range(12), [3, 4, 1])
    bilinear = tf.image.resize(ints, (2, 2))
    assert bilinear.dtype == tf.float32
    np.testing.assert_array_equal(bilinear.numpy(), IMAGE["int_bilinear"])
    nearest = tf.image.resize(ints, (2, 2), method="nearest")
    assert nearest.dtype == tf.int32
    np.testing.assert_array_equal(nearest.numpy(), IMAGE["int_nearest"])
    as_f64 = tf.constant(IMAGE_INPUT, tf.float64)
    assert tf.image.resize(as_f64, (4, 4)).dtype == tf.float32  # as TF
    assert tf.image.resize(as_f64, (4, 4), method="nearest").dtype == tf.float64
    for target in [(4, 4), (9, 8), (7, 9), (10, 4)]:
        out = tf.image.resize(IMAGE_INPUT[0], target, preserve_aspect_ratio=True)
        assert list(out.shape) == IMAGE[f"preserve_{target[0]}x{target[1]}"]
    with pytest.raises(ValueError, match="'images' must have either 3 or 4 dimensions."):
        tf.image.resize(tf.zeros([3]), (2, 2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="output dimensions must be positive"):
        tf.image.resize(IMAGE_INPUT, (0, 2))
    with pytest.raises(tf.errors.UnimplementedError, match="bicubic"):
        tf.image.resize(IMAGE_INPUT, (4, 4), method="bicubic")
    assert tf.image.ResizeMethod.BILINEAR == "bilinear"


def test_flip_and_contrast_match_tf():
    np.testing.assert_array_equal(
        tf.image.flip_left_right(IMAGE_INPUT).numpy(),
        np.array(IMAGE["flip_left_right"], np.float32),
    )
    np.testing.assert_allclose(
        tf.image.adjust_contrast(IMAGE_INPUT, 1.7).numpy(),
        np.array(IMAGE["adjust_contrast_1.7"], np.float32),
        rtol=1e-6,
        atol=1e-5,
    )
    # TF 2.21 on int32 images: computed in float, cast back
    ints = tf.reshape(tf.range(12), [2, 3, 2])
    np.testing.assert_array_equal(
        tf.image.adjust_contrast(ints, 2.0).numpy(),
        [[[-5, -4], [-1, 0], [3, 4]], [[7, 8], [11, 12], [15, 16]]],
    )
    np.testing.assert_array_equal(tf.image.flip_up_down(IMAGE_INPUT).numpy(), IMAGE_INPUT[:, ::-1])


def test_convert_image_dtype_matches_tf():
    def run(values, source, target, **kw):
        return tf.image.convert_image_dtype(tf.constant(values, source), target, **kw).numpy()

    np.testing.assert_allclose(
        run([0, 100, 2**31 - 1], tf.int32, tf.float32), [0.0, 4.656613e-08, 1.0], rtol=1e-6
    )
    np.testing.assert_array_equal(run([0.0, 0.5], tf.float32, tf.int32), [0, 1073741824])
    np.testing.assert_array_equal(
        run([0.0, 0.5, 1.0, 1.2], tf.float32, tf.int32, saturate=True),
        [0, 1073741824, 2147483520, 2147483520],
    )
    np.testing.assert_array_equal(run([0.0, 0.5, 1.0], tf.float64, tf.float32), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(run([1, 5], tf.int32, tf.int64), [4294967296, 21474836480])
    np.testing.assert_array_equal(run([2**40, 5], tf.int64, tf.int32), [256, 0])
    np.testing.assert_array_equal(run([0.25], tf.float32, tf.int64), [2305843009213693952])
    np.testing.assert_allclose(run([7], tf.int64, tf.float64), [7.5894152074e-19], rtol=1e-10)


IMAGE_F64 = rng.standard_normal((2, 3, 5, 2))


@pytest.mark.parametrize("size", [(4, 4), (2, 7), (1, 1)], ids=["up", "mixed", "down"])
def test_resize_nearest_gradients(size):
    # nearest keeps float64; bilinear returns float32 (as TF) and is checked below
    _check_first_and_second_order(
        lambda images: tf.image.resize(images, size, method="nearest") ** 2, [IMAGE_F64]
    )


def test_bilinear_interpolation_weights_are_differentiable():
    # bilinear casts to float32 (as TF); its gradient is checked in float32 against the
    # exact linear map: the jacobian of a linear op is the op applied to unit images
    images = tf.constant(IMAGE_INPUT[:1, :, :, :1])
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = tf.image.resize(images, (4, 7))
    jacobian = tape.jacobian(out, images).numpy().reshape(28, 15)
    columns = []
    for k in range(15):
        unit = np.zeros(15, np.float32)
        unit[k] = 1.0
        columns.append(tf.image.resize(unit.reshape(1, 3, 5, 1), (4, 7)).numpy().reshape(-1))
    np.testing.assert_allclose(jacobian, np.stack(columns, axis=1), atol=1e-6)


def test_resize_with_pad_flip_and_contrast_gradients():
    _check_first_and_second_order(
        lambda x: tf.image.resize_with_pad(x, 6, 6, method="nearest") ** 2, [IMAGE_F64]
    )
    _check_first_and_second_order(lambda x: tf.image.flip_left_right(x) * x, [IMAGE_F64])
    _check_first_and_second_order(lambda x: tf.image.adjust_contrast(x, 1.7) ** 2, [IMAGE_F64])
