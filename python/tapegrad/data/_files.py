"""Datasets on disk: ``Dataset.cache(filename)`` and ``Dataset.save`` /
``Dataset.load``.

TF's file *names* are kept, the *encoding* inside is tapegrad's own
(documented in docs/compat.md): a record stream is, per element, its
flattened components (``tf.nest`` order) one after the other, each in
numpy's ``.npy`` format (header with dtype and shape, then the raw bytes;
``allow_pickle`` off; a string component is two arrays: its int64 lengths
in its shape, then its bytes joined as one uint8 vector); a JSON file beside
it holds the element spec and the element count.

- cache: ``<filename>.data-00000-of-00001`` (the records) and
  ``<filename>.index`` (the JSON), published only at the end of a complete
  first pass; while writing, ``<filename>_0.lockfile`` keeps a second
  writer out and the records go to a ``.tempstate`` file removed if the
  pass is abandoned (TF's files and behaviour).
- save: ``<path>/tapegrad_dataset.json`` and, under a fresh run directory,
  ``<run>/<shard:08d>.shard/00000000.snapshot`` record streams (optionally
  gzip-compressed), TF's snapshot layout with tapegrad's encoding.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np

from ..errors import AlreadyExistsError, DataLossError, InvalidArgumentError, NotFoundError
from . import _structure as st
from ._structure import DatasetSpec, TensorSpec

__all__: list[str] = []

_FORMAT = "tapegrad-records-1"
SPEC_FILE = "tapegrad_dataset.json"
_COMPRESSIONS = (None, "GZIP")
# TF's names of dtypes in its "Data type mismatch" message
_TF_DTYPE_NAMES = {"float32": "float", "float64": "double", "float16": "half"}


# ---- element specs as JSON -----------------------------------------------------------


def spec_to_json(spec: Any) -> Any:
    """A structure of ``TensorSpec`` as JSON (tuples, dicts with str/int keys)."""
    if isinstance(spec, TensorSpec):
        return {"tensor": {"shape": list(spec.shape), "dtype": spec.dtype.name, "name": spec.name}}
    if isinstance(spec, tuple):
        return {"tuple": [spec_to_json(s) for s in spec]}
    if isinstance(spec, dict):
        for key in spec:
            if not isinstance(key, (str, int)):
                raise TypeError(f"a dataset on disk needs str or int dict keys, got {key!r}")
        return {"dict": [[key, spec_to_json(spec[key])] for key in spec]}
    if isinstance(spec, DatasetSpec):
        raise TypeError(
            "a dataset whose elements are datasets (e.g. from `window`) cannot be written to a "
            "file; flat_map the windows into tensors (e.g. `.flat_map(lambda w: w.batch(n))`) first"
        )
    raise TypeError(f"cannot write elements of type {spec!r} to a file")


def spec_from_json(value: Any) -> Any:
    if "tensor" in value:
        t = value["tensor"]
        return TensorSpec(t["shape"], t["dtype"], t["name"])
    if "tuple" in value:
        return tuple(spec_from_json(v) for v in value["tuple"])
    return {key: spec_from_json(v) for key, v in value["dict"]}


def _check_dtypes(expected: Any, stored: list[str]) -> None:
    """TF's check when reading: the stored components against the reader's spec."""
    wanted = [spec.dtype.name for spec in st.flatten(expected)]
    if len(wanted) != len(stored):
        raise InvalidArgumentError(
            f"Number of components does not match: expected {len(wanted)} but got "
            f"{len(stored)}."
        )
    for i, (want, got) in enumerate(zip(wanted, stored, strict=True)):
        if want != got:
            raise InvalidArgumentError(
                f"Data type mismatch at component {i}: expected "
                f"{_TF_DTYPE_NAMES.get(want, want)} but got {_TF_DTYPE_NAMES.get(got, got)}."
            )


# ---- record streams --------------------------------------------------------------------


def write_element(out: IO[bytes], element: Any) -> None:
    for leaf in st.flatten(element):
        array = np.asarray(st.as_array(leaf), order="C")
        if array.dtype.kind in "OSU":
            # strings (no pickles): their lengths in the leaf's shape, then
            # their bytes joined as one uint8 vector
            items = [item.encode() if isinstance(item, str) else bytes(item)
                     for item in array.reshape(-1).tolist()]
            lengths = np.array([len(item) for item in items], dtype=np.int64)
            np.lib.format.write_array(out, lengths.reshape(array.shape), allow_pickle=False)
            array = np.frombuffer(b"".join(items), dtype=np.uint8)
        np.lib.format.write_array(out, array, allow_pickle=False)


def _read_leaf(source: IO[bytes], spec: TensorSpec) -> np.ndarray:
    """One component as ``write_element`` wrote it."""
    array = np.lib.format.read_array(source, allow_pickle=False)
    if spec.dtype.name != "string":
        return array
    joined = np.lib.format.read_array(source, allow_pickle=False).tobytes()
    ends = np.cumsum(array.reshape(-1))
    if len(ends) and ends[-1] != len(joined):
        raise ValueError(f"{len(joined)} bytes hold strings of {int(ends[-1])} bytes in all")
    strings = np.empty(array.shape, dtype=object)
    flat = strings.reshape(-1)  # (a view: fills `strings`)
    for i, (end, length) in enumerate(zip(ends.tolist(), array.reshape(-1).tolist(), strict=True)):
        flat[i] = joined[end - length : end]
    return strings


def read_elements(source: IO[bytes], spec: Any, count: int, where: str) -> Iterator[Any]:
    specs = st.flatten(spec)
    for index in range(count):
        try:
            leaves = [_read_leaf(source, leaf_spec) for leaf_spec in specs]
        except (ValueError, OSError, EOFError) as error:
            raise DataLossError(
                f"{where}: element {index} of {count} is unreadable ({error}); the file is "
                "truncated or corrupted"
            ) from None
        yield st.pack_as(spec, leaves)


def _write_json(path: str, value: Any) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    temp = f"{path}.tmp{random.getrandbits(63)}"
    with open(temp, "w") as out:
        json.dump(value, out)
    os.replace(temp, path)


def _read_json(path: str) -> Any:
    with open(path) as source:
        return json.load(source)


# ---- cache(filename) -------------------------------------------------------------------


def cached_elements(prefix: str, spec: Any, upstream: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    """One iteration of ``cache(prefix)``: read the cache if a complete one
    exists, else run ``upstream`` and write it."""
    index = f"{prefix}.index"
    if os.path.exists(index):
        yield from _read_cache(prefix, spec)
    else:
        yield from _write_cache(prefix, spec, upstream)


def _read_cache(prefix: str, spec: Any) -> Iterator[Any]:
    header = _read_json(f"{prefix}.index")
    _check_dtypes(spec, header["dtypes"])
    data = f"{prefix}.data-00000-of-00001"
    try:
        source = open(data, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise NotFoundError(f"{data}; No such file or directory") from None
    with source:
        yield from read_elements(source, spec, int(header["elements"]), f"cache {data}")


def _write_cache(prefix: str, spec: Any, upstream: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    lockfile = f"{prefix}_0.lockfile"
    try:
        descriptor = os.open(lockfile, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        with open(lockfile) as held:
            contents = held.read()
        raise AlreadyExistsError(
            f"There appears to be a concurrent caching iterator running - cache lockfile "
            f"already exists ('{lockfile}'). If you are sure no other running TF computations "
            f"are using this cache prefix, delete the lockfile and re-initialize the iterator. "
            f"Lockfile contents: {contents}"
        ) from None
    except FileNotFoundError:
        raise NotFoundError(f"{lockfile}; No such file or directory") from None
    with os.fdopen(descriptor, "w") as lock:
        lock.write(f"Created at: {int(time.time())}")
    temp = f"{prefix}_0.data-00000-of-00001.tempstate{random.getrandbits(63)}"
    published = False
    try:
        count = 0
        with open(temp, "wb") as out:
            for element in upstream():
                write_element(out, element)
                count += 1
                yield element
        # the pass is complete: publish the data, then the index (its presence
        # is what makes the cache readable)
        os.replace(temp, f"{prefix}.data-00000-of-00001")
        dtypes = [s.dtype.name for s in st.flatten(spec)]
        _write_json(f"{prefix}.index",
                    {"format": _FORMAT, "elements": count, "dtypes": dtypes,
                     "element_spec": spec_to_json(spec)})
        published = True
    finally:
        # an abandoned pass (an iterator dropped early, an error) leaves no cache
        if not published and os.path.exists(temp):
            os.remove(temp)
        os.remove(lockfile)


# ---- save / load -----------------------------------------------------------------------


def _check_compression(compression: str | None) -> None:
    if compression not in _COMPRESSIONS:
        raise ValueError(
            f"compression must be None or 'GZIP' (tapegrad writes no other), got {compression!r}"
        )


def _open_shard(path: str, mode: str, compression: str | None) -> IO[bytes]:
    if compression == "GZIP":
        return gzip.open(path, mode)  # type: ignore[return-value]
    return open(path, mode)  # noqa: SIM115 - the caller closes it


def save(elements: Iterator[Any], spec: Any, path: str, compression: str | None,
         shard_of: Callable[[Any], int] | None) -> None:
    """Write ``elements`` under ``path``: shards by ``shard_of(element)``
    (one shard without it), then the spec file naming them."""
    _check_compression(compression)
    spec_json = spec_to_json(spec)
    os.makedirs(path, exist_ok=True)
    run = str(random.getrandbits(63))
    shards: dict[int, tuple[IO[bytes], list[int]]] = {}
    count = 0
    try:
        for element in elements:
            shard = 0 if shard_of is None else shard_of(element)
            if shard not in shards:
                directory = os.path.join(path, run, f"{shard:08d}.shard")
                os.makedirs(directory, exist_ok=True)
                stream = _open_shard(os.path.join(directory, "00000000.snapshot"), "wb",
                                     compression)
                shards[shard] = (stream, [0])
            stream, counter = shards[shard]
            write_element(stream, element)
            counter[0] += 1
            count += 1
    finally:
        for stream, _ in shards.values():
            stream.close()
    _write_json(os.path.join(path, SPEC_FILE), {
        "format": _FORMAT,
        "element_spec": spec_json,
        "dtypes": [s.dtype.name for s in st.flatten(spec)],
        "compression": compression,
        "run": run,
        "shards": [[shard, counter[0]] for shard, (_, counter) in sorted(shards.items())],
        "elements": count,
    })


def load_header(path: str) -> dict[str, Any]:
    spec_file = os.path.join(path, SPEC_FILE)
    if not os.path.exists(spec_file):
        if os.path.exists(os.path.join(path, "dataset_spec.pb")):
            raise NotFoundError(
                f"{path} was written by TensorFlow's Dataset.save (its snapshot format), which "
                "tapegrad does not read; save the dataset with tapegrad"
            )
        raise NotFoundError(f"tf.data snapshot element_spec file not found: {spec_file}.")
    header: dict[str, Any] = _read_json(spec_file)
    if header.get("format") != _FORMAT:
        raise DataLossError(
            f"{spec_file}: not a tapegrad dataset (format {header.get('format')!r})"
        )
    return header


def shard_elements(path: str, header: dict[str, Any], shard: int, count: int, spec: Any,
                   compression: str | None) -> Iterator[Any]:
    """The elements of one shard, read with the caller's ``compression``."""
    if compression != header["compression"]:
        raise DataLossError(
            f"{path}: the dataset was saved with compression={header['compression']!r} but "
            f"is read with compression={compression!r}; pass the compression it was saved with"
        )
    _check_dtypes(spec, header["dtypes"])
    file = os.path.join(path, header["run"], f"{shard:08d}.shard", "00000000.snapshot")
    try:
        stream = _open_shard(file, "rb", compression)
    except FileNotFoundError:
        raise NotFoundError(f"{file}; No such file or directory") from None
    with stream:
        yield from read_elements(stream, spec, count, f"Dataset.load: {file}")
