"""Datasets on disk: ``Dataset.cache(filename)`` and ``Dataset.save`` /
``Dataset.load`` against TF 2.21's behaviour (recorded by
tests/fixtures/data/record_files.py into files_tf.json): file names, what a
later pass reads, partial passes, concurrent writers, shard order, errors."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import re

import numpy as np
import pytest
import tapegrad as tf

TF = json.loads((pathlib.Path(__file__).parent / "fixtures" / "data" / "files_tf.json").read_text())
CACHE, SAVE = TF["cache"], TF["save"]


def files(directory: pathlib.Path) -> list[str]:
    return sorted(os.listdir(directory))


def without_random_parts(names: list[str]) -> list[str]:
    """TF's temp files and run directories carry random numbers."""
    return [re.sub(r"tempstate\d+", "tempstate#", re.sub(r"^\d+/", "#/", n)) for n in names]


def tf_message(recorded: list[str]) -> str:
    """The message without TF's graph-function prefix and op suffix."""
    text = re.sub(r"^\{\{function_node [^}]*\}\} ", "", recorded[1])
    return re.sub(r" \[Op:\w+\]( name: )?$", "", text)


def counting(calls: list[int]) -> tf.data.Dataset:
    return tf.data.Dataset.range(5).map(lambda x: (calls.append(int(x)), x)[1])


def test_cache_files_are_tfs_and_a_later_pass_reads_them(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "c")
    calls: list[int] = []
    ds = counting(calls).cache(prefix)
    calls.clear()  # map may run its function once to learn the element spec
    it = iter(ds)
    assert int(next(it)) == CACHE["first_next"]
    assert without_random_parts(files(tmp_path)) == without_random_parts(
        CACHE["files_after_one"]
    )
    rest = [int(v) for v in it]
    assert rest == [1, 2, 3, 4]
    assert files(tmp_path) == CACHE["files_after_pass"]
    assert len(calls) == CACHE["calls_first"]
    assert [int(v) for v in ds] == CACHE["second"]
    assert len(calls) == CACHE["calls_after_second"]  # read from the files, the map not run
    # another dataset caching to the same file reads it instead of its own input
    assert [int(v) for v in tf.data.Dataset.range(100, 103).cache(prefix)] == CACHE[
        "new_dataset_same_file"
    ]


def test_a_partial_pass_leaves_no_cache(tmp_path: pathlib.Path) -> None:
    (tmp_path / "c.index").write_text("{}")  # an unrelated cache in the same directory
    (tmp_path / "c.data-00000-of-00001").write_bytes(b"")
    calls: list[int] = []
    ds = counting(calls).cache(str(tmp_path / "p"))
    calls.clear()
    it = iter(ds)
    next(it), next(it)
    assert without_random_parts(files(tmp_path)) == without_random_parts(CACHE["partial_files"])
    del it
    assert files(tmp_path) == CACHE["partial_files_after_del"]
    assert [int(v) for v in ds] == CACHE["after_partial"]
    assert calls == [0, 1, 0, 1, 2, 3, 4]  # the full pass ran the input again
    assert files(tmp_path) == CACHE["files_after_partial_then_full"]
    taken = [int(v) for v in tf.data.Dataset.range(5).cache(str(tmp_path / "t")).take(2)]
    assert taken == CACHE["take"]
    assert [n for n in files(tmp_path) if n.startswith("t")] == CACHE["take_files"]


def test_a_second_writer_meets_the_lockfile(tmp_path: pathlib.Path) -> None:
    ds = tf.data.Dataset.range(5).cache(str(tmp_path / "q"))
    first = iter(ds)
    next(first)
    kind, expected = CACHE["concurrent"][0], tf_message(CACHE["concurrent"])
    with pytest.raises(tf.errors.AlreadyExistsError) as info:
        next(iter(ds))
    assert kind == "AlreadyExistsError"
    message = str(info.value).replace(str(tmp_path), "DIR")
    stamp = r"Created at: \d+"
    assert re.sub(stamp, "", message) == re.sub(stamp, "", expected)
    assert [int(v) for v in first] == [1, 2, 3, 4]
    # once complete, any number of readers
    a, b = iter(ds), iter(ds)
    assert [int(next(a)), int(next(b)), int(next(a))] == CACHE["concurrent_readers"]


def test_cache_errors_are_tfs(tmp_path: pathlib.Path) -> None:
    missing = tf.data.Dataset.range(3).cache(str(tmp_path / "nodir" / "x"))
    with pytest.raises(tf.errors.NotFoundError) as info:
        list(missing)
    assert CACHE["missing_dir"][0] == "NotFoundError"
    assert str(info.value).replace(str(tmp_path), "DIR") == tf_message(CACHE["missing_dir"])
    list(tf.data.Dataset.range(2).cache(str(tmp_path / "ints")))
    floats = tf.data.Dataset.from_tensor_slices([1.0, 2.0]).cache(str(tmp_path / "ints"))
    with pytest.raises(tf.errors.InvalidArgumentError) as mismatch:
        list(floats)
    assert CACHE["mismatch"][0] == "InvalidArgumentError"
    assert str(mismatch.value) == tf_message(CACHE["mismatch"])
    with pytest.raises(TypeError, match="window"):
        tf.data.Dataset.range(4).window(2).cache(str(tmp_path / "w"))


def test_cache_with_repeat_and_structures(tmp_path: pathlib.Path) -> None:
    calls: list[int] = []
    ds = tf.data.Dataset.range(3).map(lambda x: (calls.append(1), x)[1])
    cached = ds.cache(str(tmp_path / "r")).repeat(2)
    calls.clear()
    assert [int(v) for v in cached] == CACHE["repeat"]
    assert len(calls) == CACHE["repeat_calls"]
    structured = tf.data.Dataset.from_tensor_slices(
        ({"a": np.arange(4).reshape(2, 2)}, [1.5, 2.5])
    ).cache(str(tmp_path / "s"))
    list(structured)
    read = [[v[0]["a"].tolist(), float(v[1])] for v in structured.as_numpy_iterator()]
    assert read == CACHE["structured"]
    assert structured.element_spec == (
        {"a": tf.TensorSpec([2], tf.int64)},
        tf.TensorSpec([], tf.float32),
    )


def test_a_truncated_cache_names_the_file(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "c")
    list(tf.data.Dataset.range(4).cache(prefix))
    data = tmp_path / "c.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-20])
    with pytest.raises(tf.errors.DataLossError, match="c.data-00000-of-00001.*element 3 of 4"):
        list(tf.data.Dataset.range(4).cache(prefix))


def test_save_and_load_round_trip_structures_and_specs(tmp_path: pathlib.Path) -> None:
    ds = tf.data.Dataset.from_tensor_slices(
        ({"a": np.arange(6).reshape(3, 2), "b": [1.5, 2.5, 3.5]}, [1, 2, 3])
    )
    path = str(tmp_path / "s1")
    ds.save(path)
    loaded = tf.data.Dataset.load(path)
    assert repr(loaded.element_spec) == SAVE["spec"]
    assert int(loaded.cardinality()) == SAVE["card"]
    elements = loaded.as_numpy_iterator()
    assert [[e[0]["a"].tolist(), float(e[0]["b"]), int(e[1])] for e in elements] == SAVE["elements"]
    # TF's layout: one run directory of shard directories, tapegrad's spec file
    layout = sorted(
        os.path.relpath(os.path.join(root, name), path)
        for root, _, names in os.walk(path)
        for name in names
    )
    shard = "#/00000000.shard/00000000.snapshot"
    assert without_random_parts(layout) == [shard, "tapegrad_dataset.json"]
    assert without_random_parts(SAVE["files"])[0] == "#/00000000.shard/00000000.snapshot"


def test_shards_are_read_back_interleaved_as_tf_does(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "s2")
    tf.data.Dataset.range(10).save(path, shard_func=lambda x: x % 3)
    run = [n for n in files(tmp_path / "s2") if n.isdigit()]
    assert files(tmp_path / "s2" / run[0]) == [
        n.split("/")[1] for n in SAVE["shard_files"] if n.endswith("snapshot")
    ]
    # TF's default reader interleaves the shards, cycle_length = the CPU count (2 when recorded)
    if os.cpu_count() == 2:
        assert [int(v) for v in tf.data.Dataset.load(path)] == SAVE["shard_order"]
    assert sorted(int(v) for v in tf.data.Dataset.load(path)) == list(range(10))
    in_order = tf.data.Dataset.load(path, reader_func=lambda shards: shards.flat_map(lambda s: s))
    assert [int(v) for v in in_order] == [0, 3, 6, 9, 1, 4, 7, 2, 5, 8]
    assert int(in_order.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    tf.data.Dataset.range(2).save(path)  # overwriting: a new run replaces the old one
    assert [int(v) for v in tf.data.Dataset.load(path)] == SAVE["overwrite"]


def test_gzip_compression(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "s3")
    tf.data.Dataset.range(4).batch(3).save(path, compression="GZIP")
    loaded = tf.data.Dataset.load(path, compression="GZIP")
    assert [v.tolist() for v in loaded.as_numpy_iterator()] == SAVE["gzip_load"]
    assert repr(loaded.element_spec) == SAVE["batch_spec"]
    shard = next(pathlib.Path(path).rglob("00000000.snapshot"))
    gzip.decompress(shard.read_bytes())  # really gzip
    # read without the compression it was saved with: TF's DataLossError
    assert SAVE["gzip_load_nocomp"][0] == "DataLossError"
    with pytest.raises(tf.errors.DataLossError, match="compression='GZIP'"):
        list(tf.data.Dataset.load(path))
    with pytest.raises(ValueError, match="None or 'GZIP'"):
        tf.data.Dataset.range(2).save(str(tmp_path / "z"), compression="ZLIB")


def test_load_errors(tmp_path: pathlib.Path) -> None:
    assert SAVE["missing"][0] == "NotFoundError"
    with pytest.raises(tf.errors.NotFoundError, match="element_spec file not found"):
        tf.data.Dataset.load(str(tmp_path / "missing"))
    path = str(tmp_path / "ints")
    tf.data.Dataset.range(2).save(path)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(tf.data.Dataset.load(path, element_spec=tf.TensorSpec([], tf.float32)))
    assert str(info.value) == tf_message(SAVE["wrong_spec"])
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "dataset_spec.pb").write_bytes(b"")
    with pytest.raises(tf.errors.NotFoundError, match="TensorFlow's Dataset.save"):
        tf.data.Dataset.load(str(tmp_path / "tf"))


def test_experimental_aliases_and_empty_datasets(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "s4")
    tf.data.experimental.save(tf.data.Dataset.range(3), path)
    assert [int(v) for v in tf.data.experimental.load(path)] == SAVE["exp_save"]
    empty = str(tmp_path / "s5")
    tf.data.Dataset.range(0).save(empty)
    assert [int(v) for v in tf.data.Dataset.load(empty)] == SAVE["empty"]
    assert int(tf.data.Dataset.load(path).filter(lambda x: x > 0).cardinality()) == SAVE[
        "filter_card"
    ]


# ---- iterator checkpoints --------------------------------------------------------------

RESUME = json.loads(
    (pathlib.Path(__file__).parent / "fixtures" / "data" / "iterator_resume_tf.json").read_text()
)


def test_a_restored_iterator_continues_as_tfs_does(tmp_path: pathlib.Path) -> None:
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).parent / "fixtures" / "data"))
    from iterator_resume import resume

    ours = resume(tf, str(tmp_path))
    assert ours.keys() == RESUME.keys()
    for name, recorded in RESUME.items():
        # in TF the restored iterators continue the saved one, rebuilt or not
        assert recorded["rebuilt"] == recorded["continued"] == recorded["same_dataset"], name
        got = ours[name]
        assert got["rebuilt"] == got["continued"], name
        assert got["same_dataset"] == got["continued"], name
        if not name.startswith("shuffle"):  # shuffled: TF's multiset, not TF's order
            assert got["continued"] == recorded["continued"], name


def test_restoring_into_another_pipeline_is_refused(tmp_path: pathlib.Path) -> None:
    iterator = iter(tf.data.Dataset.range(20).shuffle(20, seed=5).batch(3).repeat())
    for _ in range(9):
        next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).write(str(tmp_path / "c"))
    unshuffled = iter(tf.data.Dataset.range(20).batch(3).repeat())
    with pytest.raises(tf.errors.InvalidArgumentError, match="1 random transformation"):
        tf.train.Checkpoint(iterator=unshuffled).restore(path)
    short = iter(tf.data.Dataset.range(3).shuffle(3, seed=5))
    with pytest.raises(tf.errors.InvalidArgumentError, match="only 3 elements"):
        tf.train.Checkpoint(iterator=short).restore(path)


def failing_after(n: int) -> tf.data.Dataset:
    def check(x: tf.Tensor) -> tf.Tensor:
        if int(x) >= n:
            raise RuntimeError(f"element {int(x)} is bad")
        return x

    return tf.data.Dataset.range(5).map(check)


def test_an_error_during_the_first_pass_leaves_no_cache(tmp_path: pathlib.Path) -> None:
    with pytest.raises(RuntimeError, match="element 3 is bad"):
        list(failing_after(3).cache(str(tmp_path / "c")))
    assert files(tmp_path) == []
    # the next pass starts over (no stale lockfile) and completes
    assert [int(v) for v in failing_after(9).cache(str(tmp_path / "c"))] == [0, 1, 2, 3, 4]
    assert files(tmp_path) == ["c.data-00000-of-00001", "c.index"]


def test_a_failed_save_keeps_the_previous_dataset(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "s")
    tf.data.Dataset.range(3).save(path)
    with pytest.raises(RuntimeError, match="element 2 is bad"):
        failing_after(2).save(path)
    # the spec file is replaced only once the new run is complete
    assert [int(v) for v in tf.data.Dataset.load(path)] == [0, 1, 2]
