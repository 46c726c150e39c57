"""tf.data: elements, element_spec and cardinality equal TensorFlow's for
deterministic pipelines (recorded in tests/fixtures/data by record.py), and
the semantics TF documents for shuffle, parallel map, prefetch and cache."""

from __future__ import annotations

import json
import pathlib
import sys
import threading
import time

import numpy as np
import pytest
import tapegrad as tf

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "data"
sys.path.insert(0, str(FIXTURES))
from pipelines import PIPELINES  # noqa: E402

RECORDED = json.loads((FIXTURES / "tf_elements.json").read_text())


def encode(x: object) -> object:
    if isinstance(x, tuple):
        return {"tuple": [encode(v) for v in x]}
    if isinstance(x, dict):
        return {"dict": {k: encode(v) for k, v in x.items()}}
    a = np.asarray(x)
    return {"dtype": a.dtype.name, "shape": list(a.shape), "values": a.ravel().tolist()}


def encode_spec(s: object) -> object:
    if isinstance(s, tuple):
        return {"tuple": [encode_spec(v) for v in s]}
    if isinstance(s, dict):
        return {"dict": {k: encode_spec(v) for k, v in s.items()}}
    assert isinstance(s, tf.TensorSpec)
    return {"dtype": s.dtype.name, "shape": list(s.shape)}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_same_elements_spec_and_cardinality_as_tensorflow(name: str) -> None:
    ds = PIPELINES[name](tf)
    expected = RECORDED[name]
    assert [encode(e) for e in ds.as_numpy_iterator()] == expected["elements"]
    assert encode_spec(ds.element_spec) == expected["element_spec"]
    assert int(ds.cardinality()) == expected["cardinality"]


def test_iteration_yields_tensors_and_tuples_unpack() -> None:
    ds = tf.data.Dataset.from_tensor_slices((np.ones((3, 2), np.float32), [1, 2, 3]))
    x, y = next(iter(ds))
    assert isinstance(x, tf.Tensor) and isinstance(y, tf.Tensor)
    assert x.dtype == tf.float32 and y.dtype == tf.int32


def test_slices_do_not_copy_the_source_per_element() -> None:
    source = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = tf.data.Dataset.from_tensor_slices(source)
    # the pipeline's rows are views of the caller's array until they become tensors
    rows = list(ds._elements())
    assert all(np.shares_memory(r, source) for r in rows)
    # users get copies: mutating the source later does not change what was delivered
    delivered = list(ds.as_numpy_iterator())
    source[0, 0] = 100.0
    assert delivered[0][0] == 0.0


def test_gathered_batches_equal_element_by_element_batches() -> None:
    x = np.random.default_rng(0).normal(size=(103, 5)).astype(np.float32)
    fast = tf.data.Dataset.from_tensor_slices((x, np.arange(103))).shuffle(40, seed=3).batch(8)
    # the same pipeline through a map (no index fast path) must give identical batches
    slow = (
        tf.data.Dataset.from_tensor_slices((x, np.arange(103)))
        .map(lambda a, b: (a, b))
        .shuffle(40, seed=3)
        .batch(8)
    )
    for (fa, fb), (sa, sb) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(fa.numpy(), sa.numpy())
        np.testing.assert_array_equal(fb.numpy(), sb.numpy())


@pytest.mark.parametrize("buffer_size", [1, 7, 100, 1000])
def test_shuffle_is_a_permutation_per_epoch(buffer_size: int) -> None:
    ds = tf.data.Dataset.from_tensor_slices(np.arange(100)).shuffle(buffer_size, seed=5).batch(16)
    for _ in range(2):
        seen = np.concatenate([b.numpy() for b in ds])
        assert sorted(seen.tolist()) == list(range(100))
    if buffer_size == 1:  # a one-element buffer cannot reorder anything
        assert seen.tolist() == list(range(100))


def test_shuffle_buffer_limits_how_far_elements_move() -> None:
    # with buffer B, output i is one of the first i + B inputs
    out = list(tf.data.Dataset.range(500).shuffle(10, seed=1).as_numpy_iterator())
    assert all(value < i + 10 for i, value in enumerate(out))
    assert out != sorted(out)


def test_shuffle_seed_and_reshuffle_each_iteration() -> None:
    def epochs(ds: tf.data.Dataset) -> list[list[int]]:
        return [[int(v) for v in ds] for _ in range(3)]

    reshuffled = epochs(tf.data.Dataset.range(50).shuffle(50, seed=7))
    assert len({tuple(e) for e in reshuffled}) == 3
    assert reshuffled == epochs(tf.data.Dataset.range(50).shuffle(50, seed=7))  # reproducible
    fixed = epochs(tf.data.Dataset.range(50).shuffle(50, seed=7, reshuffle_each_iteration=False))
    assert fixed[0] == fixed[1] == fixed[2] != list(range(50))
    # the global seed makes unseeded shuffles reproducible
    tf.random.set_seed(11)
    first = [int(v) for v in tf.data.Dataset.range(50).shuffle(50)]
    tf.random.set_seed(11)
    assert first == [int(v) for v in tf.data.Dataset.range(50).shuffle(50)] != list(range(50))
    # shuffle before repeat: each repetition is a new permutation of the whole set
    repeated = [int(v) for v in tf.data.Dataset.range(20).shuffle(20, seed=2).repeat(2)]
    assert sorted(repeated[:20]) == sorted(repeated[20:]) == list(range(20))
    assert repeated[:20] != repeated[20:]


def test_sample_from_datasets_draws_by_weight_until_all_are_empty() -> None:
    a = tf.data.Dataset.range(100)
    b = tf.data.Dataset.range(1000, 1050)
    ds = tf.data.Dataset.sample_from_datasets([a, b], weights=[0.25, 0.75], seed=4)
    first = [int(v) for v in ds]
    assert sorted(first) == list(range(100)) + list(range(1000, 1050))  # every element once
    assert first == [int(v) for v in ds]  # the seed fixes the order...
    # ...and b's elements come early: with weight 0.75 most of b is drawn in the first half
    assert sum(v >= 1000 for v in first[:75]) > 35
    stopping = tf.data.experimental.sample_from_datasets([a, b], seed=4, stop_on_empty_dataset=True)
    assert len([int(v) for v in stopping]) < 150
    infinite = [tf.data.Dataset.range(2).repeat()] * 2
    assert int(tf.data.Dataset.sample_from_datasets(infinite).cardinality()) == -1
    with pytest.raises(tf.errors.InvalidArgumentError, match="weights"):
        tf.data.Dataset.sample_from_datasets([a, b], weights=[1.0])


def test_parallel_map_runs_calls_concurrently_and_keeps_order() -> None:
    active, peak = 0, 0
    lock = threading.Lock()

    def slow(x: tf.Tensor) -> tf.Tensor:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)  # releases the GIL, like an I/O or a large op
        with lock:
            active -= 1
        return x * 2

    ds = tf.data.Dataset.range(16).map(slow, num_parallel_calls=4)
    assert [int(v) for v in ds] == [2 * i for i in range(16)]
    assert peak > 1
    unordered = tf.data.Dataset.range(16).map(slow, num_parallel_calls=4, deterministic=False)
    assert sorted(int(v) for v in unordered) == [2 * i for i in range(16)]


def test_prefetch_produces_in_a_background_thread_ahead_of_the_consumer() -> None:
    produced: list[int] = []
    threads: set[str] = set()

    def record(x: tf.Tensor) -> tf.Tensor:
        produced.append(int(x))
        threads.add(threading.current_thread().name)
        return x

    it = iter(tf.data.Dataset.range(10).map(record).prefetch(3))
    assert int(next(it)) == 0
    deadline = time.monotonic() + 5
    while len(produced) < 4 and time.monotonic() < deadline:  # the buffer fills up behind us
        time.sleep(0.005)
    assert len(produced) >= 4 and threads == {"tf.data.prefetch"}
    assert [int(v) for v in it] == list(range(1, 10))


def test_prefetch_forwards_errors_and_an_abandoned_iterator_stops_its_thread() -> None:
    def boom(x: tf.Tensor) -> tf.Tensor:
        if int(x) == 2:
            raise RuntimeError("bad element")
        return x

    with pytest.raises(RuntimeError, match="bad element"):
        list(tf.data.Dataset.range(5).map(boom).prefetch(2))
    before = threading.active_count()
    it = iter(tf.data.Dataset.range(10**6).prefetch(2))
    next(it)
    del it
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


def test_cache_runs_upstream_once_and_discards_partial_passes() -> None:
    calls: list[int] = []
    ds = tf.data.Dataset.range(4).map(lambda x: (calls.append(1), x)[1]).cache()
    next(iter(ds))  # partial: not cached
    assert [int(v) for v in ds] == [0, 1, 2, 3]
    assert [int(v) for v in ds] == [0, 1, 2, 3]
    assert len(calls) == 1 + 4


def test_cardinality_constants_and_len() -> None:
    assert tf.data.INFINITE_CARDINALITY == -1 and tf.data.UNKNOWN_CARDINALITY == -2
    assert tf.data.experimental.INFINITE_CARDINALITY == -1
    assert tf.data.AUTOTUNE == tf.data.experimental.AUTOTUNE == -1
    infinite = tf.data.Dataset.range(3).repeat()
    assert int(tf.data.experimental.cardinality(infinite)) == tf.data.INFINITE_CARDINALITY
    assert infinite.cardinality().dtype == tf.int64
    with pytest.raises(TypeError, match="infinite"):
        len(infinite)
    with pytest.raises(TypeError, match="unknown"):
        len(tf.data.Dataset.range(3).filter(lambda x: x > 0))
    assert len(tf.data.Dataset.range(10).batch(4)) == 3
    assert int(infinite.take(5).cardinality()) == 5
    assert int(infinite.batch(2).cardinality()) == -1


def test_iterator_get_next_and_element_spec() -> None:
    it = iter(tf.data.Dataset.range(1))
    assert it.element_spec == tf.TensorSpec([], tf.int64)
    assert int(it.get_next()) == 0
    with pytest.raises(tf.errors.OutOfRangeError):
        it.get_next()
    with pytest.raises(StopIteration):
        next(it)


def test_training_loop_inside_and_outside_a_tape() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    w = tf.Variable(tf.zeros([3, 1]))
    opt = tf.optimizers.SGD(learning_rate=0.1)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16).prefetch(2)
    for _ in range(30):
        for xb, yb in ds:
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((tf.matmul(xb, w) - yb) ** 2)
            opt.apply_gradients(zip(tape.gradient(loss, [w]), [w], strict=True))
    np.testing.assert_allclose(w.numpy().ravel(), [1.0, -2.0, 0.5], atol=1e-3)
    # a dataset iterated inside the tape: its tensors are constants, the loss still flows
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(tf.stack([tf.reduce_sum(tf.matmul(xb, w)) for xb, _ in ds]))
    grad = tape.gradient(total, w)
    np.testing.assert_allclose(grad.numpy().ravel(), x.sum(axis=0), rtol=1e-4)


def test_dataset_functions_are_not_recorded_on_the_tape() -> None:
    scale = tf.Variable(2.0)
    ds = tf.data.Dataset.from_tensor_slices([1.0, 2.0]).map(lambda x: x * scale)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(tf.stack(list(ds)))
    assert float(total) == 6.0
    assert tape.gradient(total, scale) is None  # as in TF: no gradient through a pipeline


def test_from_generator_checks_what_it_yields() -> None:
    def gen() -> object:
        yield [1.0, 2.0]
        yield [1.0, 2.0, 3.0]

    ds = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec([2], tf.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="shape"):
        list(ds)
    with pytest.raises(TypeError, match="structure"):
        list(tf.data.Dataset.from_generator(
            lambda: iter([(1, 2)]), output_signature=(tf.TensorSpec([], tf.int32),) * 3))
    typed = tf.data.Dataset.from_generator(
        lambda n: iter(range(int(n))), output_types=tf.int64, output_shapes=[], args=(3,)
    )
    assert [int(v) for v in typed] == [0, 1, 2] and typed.element_spec.dtype == tf.int64
    # a generator dataset runs the generator again on every iteration
    assert [int(v) for v in typed] == [0, 1, 2]


def test_errors_name_the_transformation() -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="dimension 0"):
        tf.data.Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch_size"):
        tf.data.Dataset.range(3).batch(0)
    ragged = tf.data.Dataset.range(1, 3).map(lambda n: tf.fill([n], 1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="padded_batch"):
        list(ragged.batch(2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="scalar bool"):
        list(tf.data.Dataset.range(3).filter(lambda x: x))
    with pytest.raises(TypeError, match="same dtypes"):
        _ = tf.data.Dataset.range(3).concatenate(tf.data.Dataset.from_tensors(1.0)).element_spec
    with pytest.raises(tf.errors.InvalidArgumentError, match="buffer_size"):
        tf.data.Dataset.range(3).shuffle(0)


def test_window_datasets_and_as_numpy_types() -> None:
    windows = list(tf.data.Dataset.range(5).window(2))
    assert [[int(v) for v in w] for w in windows] == [[0, 1], [2, 3], [4]]
    assert isinstance(windows[0], tf.data.Dataset)
    value = next(tf.data.Dataset.from_tensors(np.float64(2.5)).as_numpy_iterator())
    assert isinstance(value, np.float64)


def test_tensor_spec() -> None:
    spec = tf.TensorSpec([None, 3], tf.float32)
    assert spec.shape.as_list() == [None, 3] and not spec.shape.is_fully_defined()
    assert spec.is_compatible_with(np.zeros((7, 3), np.float32))
    assert not spec.is_compatible_with(np.zeros((7, 4), np.float32))
    assert not spec.is_compatible_with(np.zeros((7, 3), np.float64))
    assert tf.TensorSpec.from_tensor(tf.constant([1, 2])) == tf.TensorSpec([2], tf.int32)


def test_a_tensorflow_training_program_runs_unchanged_and_resumes(tmp_path: pathlib.Path) -> None:
    # train_resume.py uses only TF's API (it runs under TensorFlow too: see its __main__)
    from train_resume import train

    straight = train(tf, str(tmp_path / "a"), epochs=4)
    train(tf, str(tmp_path / "b"), epochs=4, stop_after=2)  # "killed" after two epochs
    resumed = train(tf, str(tmp_path / "b"), epochs=4)
    np.testing.assert_allclose(resumed, straight, rtol=1e-6)
    # without shuffle the batches are TF's: the same weights as TensorFlow's run
    recorded = json.loads((FIXTURES / "train_resume_tf.json").read_text())
    unshuffled = train(tf, str(tmp_path / "c"), epochs=4, shuffle=False)
    np.testing.assert_allclose(unshuffled, recorded["unshuffled_weights"], rtol=1e-5, atol=1e-6)
