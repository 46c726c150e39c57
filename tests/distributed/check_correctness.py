"""Run under mpirun: data-parallel gradients equal single-process gradients.

Every rank builds the same model and the same global batch, takes its shard,
and checks, for each reduction op, dtype and compression, the reduced
result against what one process computes from the whole batch; then trains
a few steps and checks the variables are bitwise identical on every rank.
Prints "OK rank R" at the end; any failed check raises (and aborts the job).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import tapegrad as tf
import tapegrad.distribute as hvd

hvd.init()
rank, size = hvd.rank(), hvd.size()
BATCH = 12  # divides by 2 and by 3
rng = np.random.default_rng(0)  # the same data and weights on every rank
x_all = rng.normal(size=(BATCH, 5))
y_all = rng.integers(0, 3, size=BATCH)
init = {
    "w1": rng.normal(size=(5, 8)) * 0.5,
    "b1": rng.normal(size=8) * 0.1,
    "w2": rng.normal(size=(8, 3)) * 0.5,
    "b2": np.zeros(3),
}


def make_variables(dtype: tf.DType) -> list[tf.Variable]:
    return [tf.Variable(tf.constant(v, dtype=dtype), name=k) for k, v in init.items()]


def loss_of(params: list[tf.Variable], x: np.ndarray, y: np.ndarray, dtype: tf.DType) -> tf.Tensor:
    w1, b1, w2, b2 = params
    h = tf.nn.relu(tf.matmul(tf.constant(x, dtype=dtype), w1) + b1)
    logits = tf.matmul(h, w2) + b2
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(y), logits=logits)
    return tf.reduce_mean(ce)


def shard_bounds(n: int) -> slice:
    per = n // size
    return slice(rank * per, (rank + 1) * per)


def check_average_equals_full_batch(dtype: tf.DType, rtol: float, **tape_kwargs: object) -> None:
    params = make_variables(dtype)
    with tf.GradientTape() as tape:
        full = loss_of(params, x_all, y_all, dtype)
    expected = [g.numpy() for g in tape.gradient(full, params)]
    part = shard_bounds(BATCH)
    with tf.GradientTape() as tape:
        local = loss_of(params, x_all[part], y_all[part], dtype)
    tape = hvd.DistributedGradientTape(tape, **tape_kwargs)
    got = [g.numpy() for g in tape.gradient(local, params)]
    for name, g, e in zip(init, got, expected, strict=True):
        assert g.dtype == e.dtype, (name, g.dtype, e.dtype)
        message = f"{name} {tape_kwargs}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * 1e-2, err_msg=message)


# float64: to rounding; float32: within float32 tolerance; fp16 on the wire
check_average_equals_full_batch(tf.float64, 1e-12)
check_average_equals_full_batch(tf.float32, 1e-5)
check_average_equals_full_batch(tf.float64, 1e-12, gradient_predivide_factor=float(size))
check_average_equals_full_batch(tf.float64, 2e-3, compression=hvd.Compression.fp16)

# overlap: gradients reduced during the backward pass (the default) equal
# those reduced after it, bit for bit, whatever the bucket sizes
def distributed_gradients(overlap: str, threshold: str, **tape_kwargs: object) -> list[bytes]:
    os.environ["TAPEGRAD_OVERLAP"] = overlap
    os.environ["TAPEGRAD_FUSION_THRESHOLD"] = threshold
    try:
        params = make_variables(tf.float64)
        part = shard_bounds(BATCH)
        with tf.GradientTape() as tape:
            local = loss_of(params, x_all[part], y_all[part], tf.float64)
        tape = hvd.DistributedGradientTape(tape, **tape_kwargs)
        return [g.numpy().tobytes() for g in tape.gradient(local, params)]
    finally:
        os.environ.pop("TAPEGRAD_OVERLAP")
        os.environ["TAPEGRAD_FUSION_THRESHOLD"] = FUSION_THRESHOLD


FUSION_THRESHOLD = os.environ.get("TAPEGRAD_FUSION_THRESHOLD", "")
for threshold in (FUSION_THRESHOLD, "0", "100"):
    for kwargs in ({}, {"op": hvd.Sum}, {"compression": hvd.Compression.fp16}):
        after = distributed_gradients("0", threshold, **kwargs)
        during = distributed_gradients("1", threshold, **kwargs)
        assert during == after, (threshold, kwargs)

# Sum: the sum of the shard gradients of the summed loss is the full-batch gradient
params = make_variables(tf.float64)
with tf.GradientTape() as tape:
    full = loss_of(params, x_all, y_all, tf.float64) * BATCH
expected = [g.numpy() for g in tape.gradient(full, params)]
part = shard_bounds(BATCH)
with tf.GradientTape() as tape:
    local = loss_of(params, x_all[part], y_all[part], tf.float64) * (BATCH // size)
got = hvd.DistributedGradientTape(tape, op=hvd.Sum).gradient(local, params)
for g, e in zip(got, expected, strict=True):
    np.testing.assert_allclose(g.numpy(), e, rtol=1e-12, atol=1e-14)

# every op on per-rank values, against numpy over all ranks' values
per_rank = [np.random.default_rng(100 + r).normal(size=(4, 3)) for r in range(size)]
mine = tf.constant(per_rank[rank])
stacked = np.stack(per_rank)
for op, reference in [
    (hvd.Average, stacked.mean(axis=0)),
    (hvd.Sum, stacked.sum(axis=0)),
    (hvd.Min, stacked.min(axis=0)),
    (hvd.Max, stacked.max(axis=0)),
    (hvd.Product, stacked.prod(axis=0)),
]:
    out = hvd.allreduce(mine, op=op, name=f"op-{op.value}").numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-13, err_msg=str(op))
scaled = hvd.allreduce(mine, op=hvd.Sum, prescale_factor=0.5, postscale_factor=3.0).numpy()
np.testing.assert_allclose(scaled, stacked.sum(axis=0) * 1.5, rtol=1e-13)
ints = hvd.allreduce(tf.constant([rank + 1, 7 * rank]), op=hvd.Average).numpy()
assert ints.tolist() == [sum(range(1, size + 1)) // size, 7 * sum(range(size)) // size], ints
fused = hvd.grouped_allreduce([tf.constant(p) for p in per_rank], op=hvd.Sum)
for f, p in zip(fused, per_rank, strict=True):  # every rank sends every array
    np.testing.assert_allclose(f.numpy(), p * size, rtol=1e-13)

# allgather with a ragged first dimension, alltoall with uneven splits, objects
gathered = hvd.allgather(tf.fill((rank + 1, 2), float(rank)), name="ragged").numpy()
assert gathered.shape == (size * (size + 1) // 2, 2), gathered.shape
assert gathered[:, 0].tolist() == [float(r) for r in range(size) for _ in range(r + 1)]
splits = [(rank + j) % 2 + 1 for j in range(size)]  # rows this rank sends to rank j
send = tf.constant(np.concatenate([np.full(s, 10 * rank + j) for j, s in enumerate(splits)]))
received, received_splits = hvd.alltoall(send, splits=splits)
expect_splits = [(r + rank) % 2 + 1 for r in range(size)]
assert received_splits.numpy().tolist() == expect_splits, received_splits
assert received.numpy().tolist() == [
    10 * r + rank for r in range(size) for _ in range(expect_splits[r])
]
assert hvd.broadcast(tf.constant([float(rank)] * 3), root_rank=size - 1).numpy().tolist() == [
    float(size - 1)
] * 3
assert hvd.broadcast_object({"from": rank}, root_rank=1) == {"from": 1}
assert hvd.allgather_object(("r", rank)) == [("r", r) for r in range(size)]

# uneven data: rank 0 has one batch more; the others join and contribute zeros
batches = 3 if rank == 0 else 2
for step in range(batches):
    got = hvd.allreduce(tf.constant([1.0, float(step)]), op=hvd.Sum, name="uneven").numpy()
    contributors = size if step < 2 else 1
    assert got.tolist() == [float(contributors), float(step * contributors)], (step, got)
last = hvd.join()
assert last == 0, last  # rank 0 had the extra batch, so it joined last

# training: broadcast_variables, then a few steps of DistributedOptimizer(Adam);
# the variables stay bitwise identical across ranks after every step
params = [
    tf.Variable(tf.constant(v + rank, dtype=tf.float32), name=k)  # deliberately different
    for k, v in init.items()
]
hvd.broadcast_variables(params, root_rank=0)
opt = hvd.DistributedOptimizer(tf.optimizers.Adam(learning_rate=0.01))
part = shard_bounds(BATCH)


def fingerprints() -> list[bytes]:
    return [p.numpy().tobytes() for p in params]


assert len(set(map(tuple, hvd.allgather_object(fingerprints())))) == 1
for _step in range(5):
    with tf.GradientTape() as tape:
        loss = loss_of(params, x_all[part], y_all[part], tf.float32)
    opt.apply_gradients(zip(tape.gradient(loss, params), params, strict=True))
    everyone = hvd.allgather_object(fingerprints())
    assert all(f == everyone[0] for f in everyone), "variables differ across ranks"
assert int(opt.iterations.numpy()) == 5

# an Embedding's gradient is an IndexedSlices: allgathered (values averaged)
# as in Horovod, or densified with sparse_as_dense; densified, it is the
# full-batch gradient either way, and DistributedOptimizer applies it
ids_all = rng.integers(0, 10, size=(BATCH, 3)).astype(np.int32)
targets_all = rng.normal(size=(BATCH, 3, 4))
table = rng.normal(size=(10, 4))


scale = tf.Variable(np.linspace(0.5, 2.0, 4), name="scale")  # a dense gradient beside it


def embedding_loss(layer: tf.keras.layers.Embedding, part: slice) -> tf.Tensor:
    rows = layer(tf.constant(ids_all[part])) * scale
    return tf.reduce_mean((rows - tf.constant(targets_all[part])) ** 2)


def embedding_layer() -> tf.keras.layers.Embedding:
    layer = tf.keras.layers.Embedding(10, 4, dtype="float64")
    layer.build(None)
    layer.embeddings.assign(table)
    return layer


layer = embedding_layer()
with tf.GradientTape() as tape:
    full = embedding_loss(layer, slice(None))
expected_sparse, expected_scale = tape.gradient(full, [layer.embeddings, scale])
expected_dense = tf.convert_to_tensor(expected_sparse).numpy()
part = shard_bounds(BATCH)
for overlap in ("0", "1"):
    os.environ["TAPEGRAD_OVERLAP"] = overlap
    for kwargs in (
        {},
        {"sparse_as_dense": True},
        {"op": hvd.Sum},
        {"gradient_predivide_factor": float(size)},  # cancels out (Horovod raises)
    ):
        with tf.GradientTape() as tape:
            local = embedding_loss(layer, part)
        distributed = hvd.DistributedGradientTape(tape, **kwargs)
        got, got_scale = distributed.gradient(local, [layer.embeddings, scale])
        factor = size if kwargs.get("op") is hvd.Sum else 1
        want = expected_dense * factor
        np.testing.assert_allclose(got_scale.numpy(), expected_scale.numpy() * factor, rtol=1e-12)
        if kwargs.get("sparse_as_dense"):
            assert type(got) is tf.Tensor, (kwargs, type(got))
        else:
            assert isinstance(got, tf.IndexedSlices), (kwargs, type(got))
            assert got.indices.numpy().tolist() == ids_all.reshape(-1).tolist()
        dense = tf.convert_to_tensor(got).numpy()
        np.testing.assert_allclose(dense, want, rtol=1e-12, atol=1e-14, err_msg=str(kwargs))
os.environ.pop("TAPEGRAD_OVERLAP")
rows = rank + 1  # a different number of rows on every rank
mine = tf.IndexedSlices(
    tf.fill((rows, 2), float(rank)), tf.constant([rank] * rows), tf.constant([size, 2])
)
gathered = hvd.allreduce(mine, op=hvd.Average, name="slices")
assert gathered.indices.numpy().tolist() == [r for r in range(size) for _ in range(r + 1)]
np.testing.assert_allclose(
    tf.convert_to_tensor(gathered).numpy(),
    [[r * (r + 1) / size] * 2 for r in range(size)],
    rtol=1e-6,
)
dense_sum, sparse_sum = hvd.grouped_allreduce([tf.ones(2), mine], op=hvd.Sum)
np.testing.assert_array_equal(dense_sum.numpy(), [size, size])
np.testing.assert_array_equal(sparse_sum.values.numpy(), gathered.values.numpy() * size)
layer = embedding_layer()
if rank:
    layer.embeddings.assign(table + rank)  # deliberately different
hvd.broadcast_variables(layer.trainable_variables, root_rank=0)
opt = hvd.DistributedOptimizer(tf.optimizers.Adam(learning_rate=0.01))
for _step in range(3):
    with tf.GradientTape() as tape:
        loss = embedding_loss(layer, part)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert isinstance(grads[0], tf.IndexedSlices)
    opt.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
    everyone = hvd.allgather_object(layer.embeddings.numpy().tobytes())
    assert all(f == everyone[0] for f in everyone), "embeddings differ across ranks"

# the GIL is free while a rank waits for its peers: another Python thread of
# rank 0 keeps counting while rank 0 waits for rank 1 (late by 0.5 s)
stop = threading.Event()
counted = [0]


def count() -> None:
    while not stop.is_set():
        counted[0] += 1


if rank == 0:
    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.05)
    before = counted[0]
else:
    time.sleep(0.5)
hvd.allreduce(tf.ones(1), name="late")
if rank == 0:
    during = counted[0] - before
    stop.set()
    counter.join()
    assert during > 1000, f"the counting thread advanced only {during} times while waiting"

hvd.barrier()
print(f"OK rank {rank}", flush=True)
hvd.shutdown()
