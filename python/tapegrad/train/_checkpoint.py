"""``tf.train.Checkpoint``: object-based checkpoints in TF's own format.

Saving walks the object graph from the ``Checkpoint`` breadth first: its
keyword arguments (sorted by name) and ``save_counter``; a plain object's
attributes (in assignment order), a list's items ("0", "1", …), a dict's
entries; an optimizer's ``_iterations``, ``_learning_rate`` and
``_variables`` (Keras 3's layout, slots in Keras's order). Each object is a
node of a ``TrackableObjectGraph``; a variable is saved under the path by
which the walk first reached it, ``<a>/<b>/.ATTRIBUTES/VARIABLE_VALUE``,
exactly as TF names it, so each side restores the other's files.

Restoring matches the checkpoint's graph to the live objects by those
names, from the root. A checkpoint node without a live object yet stays
pending and is restored when the object appears: on the next attribute
set on the ``Checkpoint`` and on every call to the restore status.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time
import types
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _core
from ..data._dataset import OwnedIterator
from ..optimizers import Optimizer
from ..optimizers._optimizers import _SlotVariable
from ._bundle import BundleReader, CheckpointFormatError, index_path, write_bundle
from ._wire import ObjectGraph, ObjectNode, SerializedTensor

__all__ = [
    "Checkpoint",
    "CheckpointLoadStatus",
    "CheckpointManager",
    "CheckpointState",
    "InitializationOnlyStatus",
    "CheckpointOptions",
    "get_checkpoint_state",
    "latest_checkpoint",
    "list_variables",
    "load_variable",
]

_logger = logging.getLogger("tapegrad")

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_VALUE = "VARIABLE_VALUE"
# a dataset iterator's state, tapegrad's own attribute: an int64 vector, the
# elements delivered then the pipeline's shuffle seed counters (OwnedIterator.
# _checkpoint_state); TF saves ITERATOR_STATE variant tensors, which neither side reads
_POSITION = "TAPEGRAD_ITERATOR_POSITION"
_STATE_FILE = "checkpoint"

# objects that hold a saved value themselves
_VALUE_HOLDERS = (_core.Variable, _SlotVariable, OwnedIterator)


class _Unrestorable(Exception):
    """A checkpoint value whose live object cannot take it."""


def _variable_name(variable: _core.Variable) -> str:
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


def _optimizer_children(optimizer: Optimizer) -> list[tuple[str, Any]]:
    # Keras 3's layout: the step counter, the learning rate (a variable only
    # for a float rate), and every variable in order in `_variables`
    children: list[tuple[str, Any]] = [("_iterations", optimizer.iterations)]
    if optimizer._lr_variable is not None:
        children.append(("_learning_rate", optimizer._lr_variable))
    children.append(("_variables", optimizer.variables))
    return children


def _is_plain_object(obj: object) -> bool:
    """A user object whose attributes are walked (a tf.Module-like class instance)."""
    return hasattr(obj, "__dict__") and not isinstance(
        obj,
        (type, types.ModuleType, types.FunctionType, types.MethodType, types.BuiltinFunctionType),
    )


def _can_depend_on(value: Any) -> bool:
    """What a ``Checkpoint`` accepts as a dependency: state holders, even
    ones whose variables do not exist yet (restored when they appear)."""
    if isinstance(value, (_core.Variable, Optimizer, Checkpoint, list, tuple, dict)):
        return True
    return _is_plain_object(value) and not isinstance(value, (_core.Tensor, np.ndarray))


class _Walker:
    """Which objects are trackable, and their named children (memoised per walk)."""

    def __init__(self) -> None:
        self._trackable: dict[int, bool] = {}
        self._keep: list[Any] = []  # keeps temporaries alive so ids stay unique

    def children(self, obj: Any) -> list[tuple[str, Any]]:
        if isinstance(obj, Checkpoint):
            pairs = obj._children()
        elif isinstance(obj, _VALUE_HOLDERS):
            return []
        elif isinstance(obj, Optimizer):
            pairs = _optimizer_children(obj)
        elif isinstance(obj, (list, tuple)):
            pairs = [(str(i), v) for i, v in enumerate(obj)]
        elif isinstance(obj, dict):
            pairs = [(str(k), v) for k, v in obj.items()]
        elif callable(getattr(obj, "_trackable_children", None)):
            pairs = list(obj._trackable_children().items())
        elif _is_plain_object(obj):
            pairs = [(k, v) for k, v in vars(obj).items() if not k.startswith("__")]
        else:
            return []
        self._keep.append(pairs)
        return [(name, child) for name, child in pairs if self.trackable(child)]

    def trackable(self, obj: Any) -> bool:
        """Variables, optimizers, checkpoints, and containers/objects holding them."""
        if isinstance(obj, (*_VALUE_HOLDERS, Optimizer, Checkpoint)):
            return True
        if isinstance(obj, (str, bytes, int, float, complex, bool, np.ndarray, _core.Tensor)):
            return False
        if obj is None:
            return False
        key = id(obj)
        if key in self._trackable:
            return self._trackable[key]
        self._trackable[key] = False  # cycles: not trackable through themselves
        result = bool(self.children(obj))
        self._trackable[key] = result
        return result


def _identity(obj: Any) -> Any:
    if isinstance(obj, _core.Variable):
        return ("variable", obj._handle_id)
    if isinstance(obj, _SlotVariable):
        return ("slot", id(obj.optimizer), obj.variable._handle_id, obj.slot_name)
    return ("object", id(obj))


def _escape(name: str) -> str:
    # TF's escaping of names inside checkpoint keys: "." doubles, "/" is ".S"
    return name.replace(".", "..").replace("/", ".S")


def _value_key(path: list[str], attribute: str = _VALUE) -> str:
    return "/".join(_escape(p) for p in path) + f"/.ATTRIBUTES/{attribute}"


def _save_values(root: Checkpoint) -> dict[str, np.ndarray | bytes]:
    """The object graph and every variable's value, keyed as TF keys them."""
    walker = _Walker()
    graph = ObjectGraph()
    node_ids: dict[Any, int] = {_identity(root): 0}
    queue: deque[tuple[Any, list[str]]] = deque([(root, [])])
    values: dict[str, np.ndarray | bytes] = {}
    while queue:
        obj, path = queue.popleft()
        node = ObjectNode()
        graph.nodes.append(node)
        for name, child in walker.children(obj):
            key = _identity(child)
            if key not in node_ids:
                node_ids[key] = len(node_ids)
                queue.append((child, [*path, name]))
            node.children.append((node_ids[key], name))
        if isinstance(obj, (_core.Variable, _SlotVariable)):
            checkpoint_key = _value_key(path)
            if isinstance(obj, _SlotVariable):
                full_name, value = obj.path, obj.numpy()
            else:
                full_name, value = _variable_name(obj), obj.numpy()
            node.attributes.append(SerializedTensor(_VALUE, full_name, checkpoint_key))
            values[checkpoint_key] = value
        elif isinstance(obj, OwnedIterator):
            checkpoint_key = _value_key(path, _POSITION)
            node.attributes.append(SerializedTensor(_POSITION, "iterator", checkpoint_key))
            values[checkpoint_key] = obj._checkpoint_state()
    _mark_values(graph)
    values[OBJECT_GRAPH_KEY] = graph.encode()
    return values


def _mark_values(graph: ObjectGraph) -> None:
    """``has_checkpoint_values``: the node or something below it holds a value."""
    has = [bool(n.attributes) for n in graph.nodes]
    changed = True
    while changed:
        changed = False
        for i, node in enumerate(graph.nodes):
            if not has[i] and any(has[c] for c, _ in node.children):
                has[i] = changed = True
    for node, flag in zip(graph.nodes, has, strict=True):
        node.has_checkpoint_values = flag


# ---- restoring -------------------------------------------------------------------------


class _Restoration:
    """One ``restore()``: the checkpoint's graph matched to live objects."""

    def __init__(self, root: Checkpoint, reader: BundleReader, graph: ObjectGraph) -> None:
        self.root = root
        self.reader = reader
        self.graph = graph
        self.matched: dict[int, Any] = {}  # node id -> identity of the live object
        self.restored: set[Any] = set()  # identities of the objects that took their value
        self.unrestorable: dict[str, str] = {}  # checkpoint key -> why

    def run(self) -> None:
        """Match from the root again; restore every node newly matched."""
        root = self.root
        walker = _Walker()
        seen: set[int] = set()
        failures_before = len(self.unrestorable)
        queue: deque[tuple[int, Any]] = deque([(0, root)])
        while queue:
            node_id, obj = queue.popleft()
            if node_id in seen or node_id >= len(self.graph.nodes):
                continue
            seen.add(node_id)
            node = self.graph.nodes[node_id]
            identity = _identity(obj)
            if self.matched.get(node_id) != identity:
                self.matched[node_id] = identity
                self._restore_node(node, obj)
                if isinstance(obj, Optimizer) and not obj.built:
                    # its slots appear when it is built: restore them then
                    # (weakly: a dropped restoration is not kept alive)
                    obj._call_when_built(_weak_call(weakref.WeakMethod(self.run)))
            live = dict(walker.children(obj)) if node.children else {}
            for child_id, name in node.children:
                if name in live:
                    queue.append((child_id, live[name]))
        if len(self.unrestorable) > failures_before:
            keys = list(self.unrestorable)[failures_before:]
            _logger.warning(
                "%d checkpoint value(s) were not restored (%s): %s",
                len(keys), self.unrestorable[keys[0]], ", ".join(keys),
            )

    def _restore_node(self, node: ObjectNode, obj: Any) -> None:
        for attribute in node.attributes:
            key = attribute.checkpoint_key
            try:
                if attribute.name == _VALUE:
                    _assign(obj, self.reader.read(key), key)
                elif attribute.name == _POSITION and isinstance(obj, OwnedIterator):
                    obj._restore_state(np.asarray(self.reader.read(key)))
                else:
                    raise _Unrestorable(
                        f"tapegrad does not restore {attribute.name} values into a "
                        f"{type(obj).__name__} (TF saves a dataset iterator's state this way)"
                    )
            except _Unrestorable as why:
                self.unrestorable[key] = str(why)
            else:
                self.unrestorable.pop(key, None)
                self.restored.add(_identity(obj))

    def value_nodes(self) -> list[tuple[int, ObjectNode]]:
        return [(i, n) for i, n in enumerate(self.graph.nodes) if n.attributes]

    def live_values(self) -> list[tuple[str, Any]]:
        """(path, object) of every variable/slot reachable from the root now."""
        root = self.root
        walker = _Walker()
        out = []
        seen = {_identity(root)}
        queue: deque[tuple[Any, str]] = deque([(root, "(root)")])
        while queue:
            obj, path = queue.popleft()
            if isinstance(obj, _VALUE_HOLDERS):
                out.append((path, obj))
            for name, child in walker.children(obj):
                if _identity(child) not in seen:
                    seen.add(_identity(child))
                    queue.append((child, f"{path}.{name}"))
        return out


def _weak_call(method: weakref.WeakMethod[Callable[[], None]]) -> Callable[[], None]:
    def call() -> None:
        bound = method()
        if bound is not None:
            bound()

    return call


def _assign(obj: Any, value: np.ndarray | bytes, key: str) -> None:
    if not isinstance(obj, (_core.Variable, _SlotVariable)):
        raise _Unrestorable(f"the object at this path is a {type(obj).__name__}, not a Variable")
    if isinstance(value, bytes) or value.dtype.kind == "O":
        raise _Unrestorable("string values cannot be restored into a Variable")
    array = np.asarray(value)
    if tuple(array.shape) != tuple(obj.shape):
        raise ValueError(
            f"Received incompatible tensor with shape {array.shape} when attempting to restore "
            f"variable with shape {tuple(obj.shape)} and name {_display_name(obj)} "
            f"(checkpoint key {key})."
        )
    if array.dtype.name != obj.dtype.name:
        raise ValueError(
            f"Checkpoint value {key} has dtype {array.dtype.name}; the variable "
            f"{_display_name(obj)} is {obj.dtype.name}. Create the variable with the "
            "checkpoint's dtype."
        )
    obj.assign(array)


def _display_name(obj: _core.Variable | _SlotVariable) -> str:
    return obj.path if isinstance(obj, _SlotVariable) else obj.name


class CheckpointLoadStatus:
    """What ``Checkpoint.restore`` returns: checks of how the checkpoint
    matched the objects (each returns the status, for chaining).

    >>> import tapegrad as tf, tempfile, os
    >>> path = tf.train.Checkpoint(v=tf.Variable(3.0)).write(os.path.join(tempfile.mkdtemp(), "c"))
    >>> v = tf.Variable(0.0)
    >>> tf.train.Checkpoint(v=v).restore(path).assert_consumed() is not None, float(v)
    (True, 3.0)
    """

    def __init__(self, restoration: _Restoration) -> None:
        self._restoration = restoration

    def assert_consumed(self) -> CheckpointLoadStatus:
        """Every value in the checkpoint was restored, and every variable of
        the live objects got a value; ``AssertionError`` naming what didn't."""
        r = self._restoration
        r.run()
        for node_id, node in r.value_nodes():
            if node_id not in r.matched:
                keys = [a.checkpoint_key for a in node.attributes]
                raise AssertionError(f"Unresolved object in checkpoint: {keys}")
        if r.unrestorable:
            key, why = next(iter(r.unrestorable.items()))
            raise AssertionError(f"Checkpoint value {key} was not restored: {why}")
        self.assert_existing_objects_matched()
        return self

    def assert_existing_objects_matched(self) -> CheckpointLoadStatus:
        """Every variable reachable from the ``Checkpoint`` now got a value
        (the checkpoint may hold more)."""
        r = self._restoration
        r.run()
        for path, obj in r.live_values():
            if _identity(obj) not in r.restored:
                raise AssertionError(
                    f"Object {path} ({obj!r}) was not assigned a value from the checkpoint"
                )
        return self

    def assert_nontrivial_match(self) -> CheckpointLoadStatus:
        """Something besides the root and ``save_counter`` was matched."""
        r = self._restoration
        r.run()
        counter = [c for c, name in r.graph.nodes[0].children if name == "save_counter"]
        if not set(r.matched) - {0, *counter}:
            raise AssertionError("Nothing except the root object matched a checkpointed value.")
        return self

    def expect_partial(self) -> CheckpointLoadStatus:
        """Declare that a partial restore is intended (TF then stays quiet
        about unused values; tapegrad never warns about them)."""
        return self

    def run_restore_ops(self, session: object = None) -> None:
        """Restore whatever became matchable since ``restore`` (eager: nothing else to run)."""
        self._restoration.run()

    def initialize_or_restore(self, session: object = None) -> None:
        """Same as ``run_restore_ops`` (variables are initialized eagerly)."""
        self._restoration.run()


class InitializationOnlyStatus:
    """``restore(None)``: nothing to restore (e.g. ``manager.latest_checkpoint``
    before the first save); the variables keep their initial values.

    >>> import tapegrad as tf
    >>> status = tf.train.Checkpoint(v=tf.Variable(1.0)).restore(None)
    >>> status.expect_partial() is status
    True
    """

    def assert_consumed(self) -> InitializationOnlyStatus:
        raise AssertionError("No checkpoint specified (save_path=None); nothing is being restored.")

    assert_existing_objects_matched = assert_consumed
    assert_nontrivial_match = assert_consumed

    def expect_partial(self) -> InitializationOnlyStatus:
        return self

    def run_restore_ops(self, session: object = None) -> None:
        return None

    def initialize_or_restore(self, session: object = None) -> None:
        return None


class CheckpointOptions:
    """``tf.train.CheckpointOptions``: accepted for compatibility, ignored
    (tapegrad writes one shard from the calling thread).

    >>> import tapegrad as tf
    >>> _ = tf.train.CheckpointOptions(experimental_io_device="/job:localhost")
    """

    def __init__(self, **options: Any) -> None:
        self.options = options


class Checkpoint:
    """Saves and restores the variables of the objects given as keyword
    arguments (and everything they reference), in TF's checkpoint format.

    >>> import tapegrad as tf, tempfile, os
    >>> directory = tempfile.mkdtemp()
    >>> w = tf.Variable([1.0, 2.0])
    >>> ckpt = tf.train.Checkpoint(w=w)
    >>> path = ckpt.save(os.path.join(directory, "ckpt"))
    >>> os.path.basename(path)
    'ckpt-1'
    >>> _ = w.assign([0.0, 0.0])
    >>> _ = ckpt.restore(path)
    >>> w.numpy()
    array([1., 2.], dtype=float32)
    """

    def __init__(self, root: Any = None, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            if not _can_depend_on(value):
                raise ValueError(
                    f"`Checkpoint` was expecting {name} to be a trackable object (a Variable, an "
                    f"optimizer, or an object, list or dict holding some), got {value!r}."
                )
        self.__dict__["_root"] = root
        self.__dict__["_kwargs"] = dict(sorted(kwargs.items()))
        self.__dict__["_save_counter"] = None
        self.__dict__["_restorations"] = []

    def __getattr__(self, name: str) -> Any:
        kwargs = self.__dict__["_kwargs"]
        if name in kwargs:
            return kwargs[name]
        root = self.__dict__["_root"]
        if root is not None and not name.startswith("__"):
            return getattr(root, name)
        raise AttributeError(f"'Checkpoint' object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if _can_depend_on(value):
            self.__dict__["_kwargs"][name] = value
            # a new dependency may complete a pending (delayed) restoration
            for restoration in self.__dict__["_restorations"]:
                restoration.run()
        else:
            object.__setattr__(self, name, value)

    def _children(self) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = []
        if self._root is not None:
            pairs.extend(_Walker().children(self._root))
        pairs.extend(self._kwargs.items())
        if self._save_counter is not None:
            pairs.append(("save_counter", self._save_counter))
        return pairs

    @property
    def save_counter(self) -> _core.Variable:
        """The number of ``save`` calls so far (an int64 variable, restored too)."""
        if self._save_counter is None:
            self.__dict__["_save_counter"] = _core.Variable(
                0, dtype="int64", trainable=False, name="save_counter"
            )
        counter: _core.Variable = self._save_counter
        return counter

    def write(self, file_prefix: str, options: CheckpointOptions | None = None) -> str:
        """Write the checkpoint exactly at ``file_prefix`` (no counter, no
        ``checkpoint`` state file); returns ``file_prefix``.

        >>> import tapegrad as tf, tempfile, os
        >>> prefix = os.path.join(tempfile.mkdtemp(), "w")
        >>> path = tf.train.Checkpoint(v=tf.Variable(1)).write(prefix)
        >>> os.path.exists(path + ".index")
        True
        """
        file_prefix = os.fspath(file_prefix)
        write_bundle(file_prefix, _save_values(self))
        return file_prefix

    def save(self, file_prefix: str, options: CheckpointOptions | None = None) -> str:
        """Increment ``save_counter``, write ``{file_prefix}-{save_counter}``
        and record it in the directory's ``checkpoint`` state file; returns the path.

        >>> import tapegrad as tf, tempfile, os
        >>> ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
        >>> prefix = os.path.join(tempfile.mkdtemp(), "ckpt")
        >>> [os.path.basename(ckpt.save(prefix)) for _ in range(2)]
        ['ckpt-1', 'ckpt-2']
        """
        file_prefix = os.fspath(file_prefix)
        self.save_counter.assign_add(1)
        path = self.write(f"{file_prefix}-{int(self.save_counter.numpy())}")
        directory = os.path.dirname(path) or "."
        _write_state(directory, path, [path], [time.time()])
        return path

    def read(self, save_path: str, options: CheckpointOptions | None = None) -> Any:
        """Restore from a checkpoint written by ``write`` (same as ``restore``)."""
        return self.restore(save_path, options)

    def restore(
        self, save_path: str | None, options: CheckpointOptions | None = None
    ) -> CheckpointLoadStatus | InitializationOnlyStatus:
        """Restore the values in ``save_path`` (a prefix, as ``save`` and
        ``latest_checkpoint`` return) into the tracked objects, matching by
        attribute names; values of objects that don't exist yet are restored
        when they appear. ``None`` restores nothing.

        >>> import tapegrad as tf, tempfile, os
        >>> prefix = os.path.join(tempfile.mkdtemp(), "c")
        >>> path = tf.train.Checkpoint(v=tf.Variable(5)).write(prefix)
        >>> ckpt = tf.train.Checkpoint()
        >>> status = ckpt.restore(path)      # nothing to restore into yet
        >>> ckpt.v = tf.Variable(0)         # restored on assignment (delayed restoration)
        >>> int(ckpt.v), status.assert_consumed() is status
        (5, True)
        """
        if save_path is None:
            return InitializationOnlyStatus()
        save_path = os.fspath(save_path)
        if os.path.isdir(save_path):
            raise ValueError(
                f"restore() expects a checkpoint prefix, got the directory {save_path!r}; use "
                "tf.train.latest_checkpoint(directory)"
            )
        reader = BundleReader(save_path)
        if OBJECT_GRAPH_KEY not in reader.entries:
            raise CheckpointFormatError(
                f"{save_path} has no object graph: it is a name-based (TF1 Saver) checkpoint, "
                "which tapegrad does not read; tf.train.load_variable reads its tensors"
            )
        graph_bytes = reader.read(OBJECT_GRAPH_KEY)
        assert isinstance(graph_bytes, bytes)
        graph = ObjectGraph.decode(graph_bytes)
        if any(name == "save_counter" for _, name in graph.nodes[0].children):
            self.save_counter  # noqa: B018 - created so the checkpoint's value lands in it
        restoration = _Restoration(self, reader, graph)
        restoration.run()
        self._restorations.append(restoration)
        return CheckpointLoadStatus(restoration)


# ---- the `checkpoint` state file and CheckpointManager ----------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _relative(directory: str, path: str) -> str:
    return os.path.relpath(path, directory) if os.path.dirname(path) == directory else path


def _write_state(directory: str, latest: str, paths: list[str], stamps: list[float],
                 preserved: float | None = None) -> None:
    """The ``checkpoint`` file (a text proto, as TF writes it), atomically."""
    lines = [f"model_checkpoint_path: {_quote(_relative(directory, latest))}"]
    lines += [f"all_model_checkpoint_paths: {_quote(_relative(directory, p))}" for p in paths]
    lines += [f"all_model_checkpoint_timestamps: {stamp!r}" for stamp in stamps]
    if preserved is not None:
        lines.append(f"last_preserved_timestamp: {preserved!r}")
    temp = os.path.join(directory, f".{_STATE_FILE}.{os.getpid()}.tmp")
    with open(temp, "w") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, os.path.join(directory, _STATE_FILE))


class CheckpointState:
    """The parsed ``checkpoint`` state file of a directory
    (``get_checkpoint_state`` returns it).

    >>> import tapegrad as tf, tempfile, os
    >>> directory = tempfile.mkdtemp()
    >>> path = tf.train.Checkpoint(v=tf.Variable(1.0)).save(os.path.join(directory, "ckpt"))
    >>> state = tf.train.get_checkpoint_state(directory)
    >>> state.model_checkpoint_path == path, state.all_model_checkpoint_paths == [path]
    (True, True)
    """

    def __init__(self, model_checkpoint_path: str, all_model_checkpoint_paths: list[str],
                 all_model_checkpoint_timestamps: list[float],
                 last_preserved_timestamp: float | None) -> None:
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = all_model_checkpoint_paths
        self.all_model_checkpoint_timestamps = all_model_checkpoint_timestamps
        self.last_preserved_timestamp = last_preserved_timestamp


def get_checkpoint_state(checkpoint_dir: str, latest_filename: str | None = None
                         ) -> CheckpointState | None:
    """The directory's ``checkpoint`` state (paths made absolute), or ``None``.

    >>> import tapegrad as tf, tempfile
    >>> tf.train.get_checkpoint_state(tempfile.mkdtemp()) is None
    True
    """
    directory = os.fspath(checkpoint_dir)
    path = os.path.join(directory, latest_filename or _STATE_FILE)
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    latest = ""
    paths: list[str] = []
    stamps: list[float] = []
    preserved = None
    for line in text.splitlines():
        field, _, value = line.partition(":")
        value = value.strip()
        if field == "model_checkpoint_path":
            latest = _unquote(value)
        elif field == "all_model_checkpoint_paths":
            paths.append(_unquote(value))
        elif field == "all_model_checkpoint_timestamps":
            stamps.append(float(value))
        elif field == "last_preserved_timestamp":
            preserved = float(value)
    if not latest:
        return None

    def absolute(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(directory, p)

    return CheckpointState(absolute(latest), [absolute(p) for p in paths], stamps, preserved)


def latest_checkpoint(checkpoint_dir: str, latest_filename: str | None = None) -> str | None:
    """The prefix of the newest checkpoint recorded in ``checkpoint_dir``
    (``None`` if there is none or its files are gone).

    >>> import tapegrad as tf, tempfile, os
    >>> directory = tempfile.mkdtemp()
    >>> tf.train.latest_checkpoint(directory) is None
    True
    >>> path = tf.train.Checkpoint(v=tf.Variable(1.0)).save(os.path.join(directory, "ckpt"))
    >>> tf.train.latest_checkpoint(directory) == path
    True
    """
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not os.path.exists(index_path(state.model_checkpoint_path)):
        return None
    return state.model_checkpoint_path


def _resolve(ckpt_dir_or_file: str) -> str:
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given directory "
                             f"{path}")
        return latest
    return path


def list_variables(ckpt_dir_or_file: str) -> list[tuple[str, list[int]]]:
    """``(key, shape)`` of every tensor in a checkpoint (a prefix, or a
    directory for its latest checkpoint), sorted by key.

    >>> import tapegrad as tf, tempfile, os
    >>> prefix = os.path.join(tempfile.mkdtemp(), "c")
    >>> path = tf.train.Checkpoint(w=tf.Variable([1.0, 2.0])).write(prefix)
    >>> tf.train.list_variables(path)
    [('_CHECKPOINTABLE_OBJECT_GRAPH', []), ('w/.ATTRIBUTES/VARIABLE_VALUE', [2])]
    """
    reader = BundleReader(_resolve(ckpt_dir_or_file))
    return [(key, list(reader.entries[key].shape)) for key in sorted(reader.entries)]


def load_variable(ckpt_dir_or_file: str, name: str) -> Any:
    """The value (a numpy array; ``bytes`` for a string scalar) stored under ``name``.

    >>> import tapegrad as tf, tempfile, os
    >>> prefix = os.path.join(tempfile.mkdtemp(), "c")
    >>> path = tf.train.Checkpoint(w=tf.Variable([1.0, 2.0])).write(prefix)
    >>> tf.train.load_variable(path, "w/.ATTRIBUTES/VARIABLE_VALUE")
    array([1., 2.], dtype=float32)
    """
    if name.endswith(":0"):
        name = name[:-2]
    return BundleReader(_resolve(ckpt_dir_or_file)).read(name)


def _remove_checkpoint(prefix: str) -> None:
    for path in [index_path(prefix), *glob.glob(glob.escape(prefix) + ".data-*")]:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


class CheckpointManager:
    """Numbered checkpoints in a directory, keeping the newest
    ``max_to_keep`` (all for ``None``), and the ``checkpoint`` state file
    that ``latest_checkpoint`` reads; picks up the checkpoints a previous
    run left in the directory.

    >>> import tapegrad as tf, tempfile
    >>> step = tf.Variable(0)
    >>> manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step), tempfile.mkdtemp(),
    ...                                      max_to_keep=2)
    >>> for _ in range(3):
    ...     _ = step.assign_add(1)
    ...     _ = manager.save()
    >>> [p.rsplit("/", 1)[1] for p in manager.checkpoints]
    ['ckpt-2', 'ckpt-3']
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        directory: str,
        max_to_keep: int | None,
        keep_checkpoint_every_n_hours: float | None = None,
        checkpoint_name: str = "ckpt",
        step_counter: _core.Variable | None = None,
        checkpoint_interval: int | None = None,
        init_fn: Callable[[], Any] | None = None,
    ) -> None:
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"CheckpointManager needs a tf.train.Checkpoint, got {checkpoint!r}")
        if max_to_keep is not None and max_to_keep <= 0:
            raise ValueError(
                f"Expected a positive integer or `None` for `max_to_keep`, got {max_to_keep}."
            )
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError(
                "`step_counter` should be passed if `checkpoint_interval` is not None."
            )
        self._checkpoint = checkpoint
        self._directory = os.fspath(directory)
        self._max_to_keep = max_to_keep
        self._keep_every_seconds = (
            None if keep_checkpoint_every_n_hours is None else keep_checkpoint_every_n_hours * 3600
        )
        self._prefix = os.path.join(self._directory, checkpoint_name)
        self._step_counter = step_counter
        self._checkpoint_interval = checkpoint_interval
        self._init_fn = init_fn
        self._last_step: int | None = None
        state = get_checkpoint_state(self._directory)
        self._checkpoints: list[tuple[str, float]] = []
        self._last_preserved = time.time()
        if state is not None:
            stamps = state.all_model_checkpoint_timestamps
            now = time.time()
            for i, path in enumerate(state.all_model_checkpoint_paths):
                if os.path.exists(index_path(path)):
                    self._checkpoints.append((path, stamps[i] if i < len(stamps) else now))
            if state.last_preserved_timestamp is not None:
                self._last_preserved = state.last_preserved_timestamp
        self._latest = latest_checkpoint(self._directory)

    @property
    def directory(self) -> str:
        return self._directory

    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    @property
    def checkpoint_interval(self) -> int | None:
        return self._checkpoint_interval

    @property
    def checkpoints(self) -> list[str]:
        """The kept checkpoint prefixes, oldest first."""
        return [path for path, _ in self._checkpoints]

    @property
    def latest_checkpoint(self) -> str | None:
        """The newest checkpoint's prefix, or ``None`` before the first save."""
        return self._latest

    def save(self, checkpoint_number: int | None = None, check_interval: bool = True,
             options: CheckpointOptions | None = None) -> str | None:
        """Write the next checkpoint (``{name}-{number}``, the number being
        ``checkpoint_number`` or the incremented ``save_counter``), delete
        the oldest beyond ``max_to_keep``; returns the path, or ``None``
        when ``checkpoint_interval`` steps have not passed yet."""
        if self._checkpoint_interval is not None and check_interval:
            assert self._step_counter is not None
            step = int(self._step_counter.numpy())
            if self._last_step is not None and step < self._last_step + self._checkpoint_interval:
                return None
            self._last_step = step
        counter = self._checkpoint.save_counter
        counter.assign_add(1)
        number = int(counter.numpy()) if checkpoint_number is None else int(
            np.asarray(checkpoint_number)
        )
        path = self._checkpoint.write(f"{self._prefix}-{number}")
        now = time.time()
        self._checkpoints = [(p, t) for p, t in self._checkpoints if p != path]
        self._checkpoints.append((path, now))
        self._latest = path
        expired = self._expire()
        # the state file first, then the deletions: a crash in between leaves
        # stray files, never a state file naming a deleted checkpoint
        _write_state(
            self._directory, path, self.checkpoints, [t for _, t in self._checkpoints],
            self._last_preserved,
        )
        for old in expired:
            _remove_checkpoint(old)
        return path

    def _expire(self) -> list[str]:
        """Drop the oldest checkpoints beyond ``max_to_keep`` from the list;
        those to delete (not preserved by ``keep_checkpoint_every_n_hours``)."""
        expired: list[str] = []
        if self._max_to_keep is None:
            return expired
        while len(self._checkpoints) > self._max_to_keep:
            path, stamp = self._checkpoints.pop(0)
            every = self._keep_every_seconds
            if every is not None and stamp - self._last_preserved >= every:
                self._last_preserved = stamp  # kept on disk, no longer managed
                continue
            expired.append(path)
        return expired

    def restore_or_initialize(self) -> str | None:
        """Restore the latest checkpoint if there is one (returns its path),
        else call ``init_fn`` (returns ``None``)."""
        if self._latest is not None:
            self._checkpoint.restore(self._latest)
            return self._latest
        if self._init_fn is not None:
            self._init_fn()
        return None

