"""Type stubs for the Rust extension module ``tapegrad._core``.

``python -m mypy.stubtest tapegrad._core`` (run by tests/test_typing.py)
checks every name and signature here against the built module.
"""

from collections.abc import Callable, Iterator, Sequence
from types import EllipsisType
from typing import Any, ClassVar, Final, Self, TypeAlias, final

import numpy as np
import numpy.typing as npt
from typing_extensions import CapsuleType

from tapegrad._interop import Reference
from tapegrad._shape import TensorShape
from tapegrad.dtypes import DType
from tapegrad.types import AxisLike, DTypeLike, ShapeLike, TensorLike

__version__: Final[str]

__all__ = [
    "ForwardAccumulator",
    "Op",
    "Suspension",
    "Tape",
    "Tensor",
    "Variable",
    "_FusedOptimizer",
    "__version__",
    "_after_fork_in_child",
    "_release_cached_memory",
    "argmax",
    "argmin",
    "argsort",
    "avg_pool2d",
    "bias_add",
    "boolean_mask",
    "broadcast_to",
    "cast",
    "categorical",
    "cholesky",
    "clip_by_value",
    "concat",
    "constant",
    "conv2d",
    "convert_to_tensor",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "det",
    "diag",
    "diag_part",
    "dropout",
    "einsum",
    "expand_dims",
    "eye",
    "fill",
    "gather",
    "gather_nd",
    "gelu",
    "identity",
    "inv",
    "l2_loss",
    "leaky_relu",
    "linspace",
    "log_softmax",
    "matmul",
    "matvec",
    "max_pool2d",
    "moments",
    "norm",
    "one_hot",
    "ones",
    "ones_like",
    "ops",
    "pad",
    "random_normal",
    "random_uniform",
    "range",
    "rank",
    "record_custom",
    "reduce_all",
    "reduce_any",
    "reduce_euclidean_norm",
    "reduce_logsumexp",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_std",
    "reduce_sum",
    "reduce_variance",
    "reshape",
    "reverse",
    "set_seed",
    "shape",
    "shuffle",
    "sigmoid_cross_entropy_with_logits",
    "size",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "solve",
    "sort",
    "sparse_softmax_cross_entropy_with_logits",
    "split",
    "squeeze",
    "stack",
    "stop_gradient",
    "tensordot",
    "tile",
    "top_k",
    "transpose",
    "trace",
    "truncated_normal",
    "unstack",
    "where",
    "zeros",
    "zeros_like",
]

_Name: TypeAlias = str | None  # TF's `name=`: accepted and ignored (eager mode)
_NDArray: TypeAlias = npt.NDArray[Any]
# one item of `x[...]`: an int, a slice, `...`, `None` (a new axis), or a
# 1-D int tensor or list (a gather along that axis)
_IndexItem: TypeAlias = (
    int | slice | EllipsisType | None | Tensor | Variable | Sequence[int] | _NDArray
)
_Index: TypeAlias = _IndexItem | tuple[_IndexItem, ...]

# ---- interop (numpy, DLPack, pickle, ref) -------------------------------------------

class _Interop:
    def ref(self) -> Reference: ...
    def experimental_ref(self) -> Reference: ...
    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> _NDArray: ...
    def __array_ufunc__(
        self, ufunc: np.ufunc, method: str, *inputs: object, **kwargs: object
    ) -> Any: ...  # a Tensor on the tape, or numpy's answer (see tapegrad._ufunc)
    def __array_function__(
        self, func: Callable[..., Any], types: object, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any: ...
    def _may_be_recorded(self) -> bool: ...
    def __dlpack__(
        self,
        *,
        stream: None = None,  # CPU memory has no streams: anything else is a BufferError
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...
    def __deepcopy__(self, memo: dict[int, object], /) -> Self: ...

# ---- end interop ------------------------------------------------------------------

class _TensorProtocol(_Interop):
    @property
    def shape(self) -> TensorShape: ...
    @property
    def dtype(self) -> DType: ...
    @property
    def ndim(self) -> int: ...
    @property
    def device(self) -> str: ...
    def numpy(self) -> _NDArray: ...  # a numpy scalar (np.generic) for a 0-d value
    def __len__(self) -> int: ...
    def __getitem__(self, key: _Index, /) -> Tensor: ...
    def __iter__(self) -> Iterator[Tensor]: ...
    def __bool__(self) -> bool: ...
    def __float__(self) -> float: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    # unhashable, as in TF (the method raises TypeError naming `.ref()`)
    __hash__: ClassVar[None]  # type: ignore[assignment]
    __array_priority__: ClassVar[int]
    def __format__(self, spec: str, /) -> str: ...
    def __add__(self, o: TensorLike, /) -> Tensor: ...
    def __radd__(self, o: TensorLike, /) -> Tensor: ...
    def __sub__(self, o: TensorLike, /) -> Tensor: ...
    def __rsub__(self, o: TensorLike, /) -> Tensor: ...
    def __mul__(self, o: TensorLike, /) -> Tensor: ...
    def __rmul__(self, o: TensorLike, /) -> Tensor: ...
    def __truediv__(self, o: TensorLike, /) -> Tensor: ...
    def __rtruediv__(self, o: TensorLike, /) -> Tensor: ...
    def __pow__(self, o: TensorLike, modulo: None = None, /) -> Tensor: ...
    def __rpow__(self, o: TensorLike, modulo: None = None, /) -> Tensor: ...
    def __matmul__(self, o: TensorLike, /) -> Tensor: ...
    def __rmatmul__(self, o: TensorLike, /) -> Tensor: ...
    def __floordiv__(self, o: TensorLike, /) -> Tensor: ...
    def __rfloordiv__(self, o: TensorLike, /) -> Tensor: ...
    def __mod__(self, o: TensorLike, /) -> Tensor: ...
    def __rmod__(self, o: TensorLike, /) -> Tensor: ...
    def __and__(self, o: TensorLike, /) -> Tensor: ...
    def __rand__(self, o: TensorLike, /) -> Tensor: ...
    def __or__(self, o: TensorLike, /) -> Tensor: ...
    def __ror__(self, o: TensorLike, /) -> Tensor: ...
    def __invert__(self) -> Tensor: ...
    def __neg__(self) -> Tensor: ...
    def __pos__(self) -> Tensor: ...
    def __abs__(self) -> Tensor: ...
    def __lt__(self, o: TensorLike, /) -> Tensor: ...
    def __le__(self, o: TensorLike, /) -> Tensor: ...
    def __gt__(self, o: TensorLike, /) -> Tensor: ...
    def __ge__(self, o: TensorLike, /) -> Tensor: ...
    # elementwise for a compatible operand; a plain bool for None, another
    # dtype or unbroadcastable shapes (TF's rule)
    def __eq__(self, o: object, /) -> Tensor | bool: ...  # type: ignore[override]
    def __ne__(self, o: object, /) -> Tensor | bool: ...  # type: ignore[override]

@final
class Tensor(_TensorProtocol):
    """An immutable tensor."""

    @property
    def _id(self) -> int: ...
    def __copy__(self) -> Tensor: ...
    def __reduce__(self) -> tuple[Callable[[_NDArray], Tensor], tuple[_NDArray]]: ...

@final
class Variable(_TensorProtocol):
    """A mutable, named tensor; reads under a tape are recorded."""

    # the graph-mode and distribution arguments are accepted and ignored
    def __new__(
        cls,
        initial_value: TensorLike | Callable[[], TensorLike],
        trainable: bool | None = None,
        validate_shape: bool = True,
        caching_device: object = None,
        name: _Name = None,
        variable_def: object = None,
        dtype: DTypeLike | None = None,
        import_scope: object = None,
        constraint: None = None,  # anything else is a ValueError
        synchronization: object = None,
        aggregation: object = None,
        shape: object = None,
    ) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def trainable(self) -> bool: ...
    @property
    def _handle_id(self) -> int: ...
    def __copy__(self) -> Variable: ...
    def __reduce__(
        self,
    ) -> tuple[
        Callable[[_NDArray, str, bool], Variable],
        tuple[_NDArray, str, bool],  # value, name without ":0", trainable
    ]: ...
    def read_value(self) -> Tensor: ...
    def value(self) -> Tensor: ...
    def assign(
        self,
        value: TensorLike,
        use_locking: bool = False,
        name: _Name = None,
        read_value: bool = True,
    ) -> Variable | None: ...
    def assign_add(
        self,
        delta: TensorLike,
        use_locking: bool = False,
        name: _Name = None,
        read_value: bool = True,
    ) -> Variable | None: ...
    def assign_sub(
        self,
        delta: TensorLike,
        use_locking: bool = False,
        name: _Name = None,
        read_value: bool = True,
    ) -> Variable | None: ...

# -- docs branch: tape inspection --
_InspectedTensor: TypeAlias = tuple[int, str, list[int]]
_InspectedNode: TypeAlias = tuple[str, list[_InspectedTensor], list[_InspectedTensor], int | None]

@final
class Tape:
    """The Rust half of ``GradientTape``."""

    def __new__(cls, persistent: bool, watch_accessed_variables: bool) -> Self: ...
    @property
    def persistent(self) -> bool: ...
    def push(self) -> None: ...
    def pop(self) -> None: ...
    def is_active(self) -> bool: ...
    def reset(self) -> None: ...
    def num_nodes(self) -> int: ...
    # -- docs branch: tape inspection (GradientTape.summary / to_dot) --
    def inspect(self) -> tuple[list[_InspectedNode], list[int], list[int], int, int]:
        """(nodes, watched_source_ids, variable_handle_ids, saved_bytes,
        saved_buffers); each node is (op, inputs, outputs, saved_bytes or None)
        and each tensor (id, dtype, shape)."""
        ...
    def watch(self, obj: Tensor | Variable) -> str: ...
    def watched_variables(self) -> list[Variable]: ...
    def gradient(
        self,
        targets: list[TensorLike],
        seeds: list[TensorLike | None],  # None: ones
        sources: list[Tensor | Variable],
        zero_unconnected: bool = False,
    ) -> list[Tensor | None]: ...
    def jacobian(
        self,
        target: TensorLike,
        sources: list[Tensor | Variable],
        zero_unconnected: bool = False,
        chunk: int | None = None,  # identity rows per backward pass
    ) -> list[Tensor | None]: ...
    def batch_jacobian(
        self,
        target: TensorLike,
        source: Tensor | Variable,
        zero_unconnected: bool = False,
    ) -> Tensor | None: ...

@final
class ForwardAccumulator:
    """The Rust half of ``tapegrad.autodiff.ForwardAccumulator``."""

    def __new__(cls) -> Self: ...
    def push(self) -> None: ...
    def pop(self) -> None: ...
    def is_active(self) -> bool: ...
    def watch(self, primal: Tensor | Variable, tangent: TensorLike) -> None: ...
    def jvp(self, primal: Tensor | Variable) -> Tensor | None: ...

@final
class Suspension:
    """Recording suspended on this thread for a custom gradient's forward pass."""

    def __new__(cls) -> Self: ...
    def __enter__(self) -> None: ...
    def __exit__(self, _a: object, _b: object, _c: object) -> None: ...

def record_custom(
    inputs: list[Tensor | Variable],
    outputs: list[Tensor],
    vjp: Callable[[list[Tensor]], Sequence[TensorLike | None]],
) -> None: ...
def _after_fork_in_child() -> None: ...
def _release_cached_memory() -> int: ...  # bytes given back to the system

@final
class Op:
    """A registry op: one row of the Rust op table, callable from Python."""

    def __call__(self, *args: TensorLike, name: _Name = None) -> Tensor: ...
    @property
    def __name__(self) -> str: ...
    @property
    def arity(self) -> int: ...
    @property
    def differentiable(self) -> bool: ...
    @property
    def domain(self) -> str: ...
    @property
    def dtypes(self) -> str: ...

ops: dict[str, Op]

def matmul(
    a: TensorLike,
    b: TensorLike,
    transpose_a: bool = False,
    transpose_b: bool = False,
    adjoint_a: bool = False,
    adjoint_b: bool = False,
    a_is_sparse: bool = False,
    b_is_sparse: bool = False,
    output_type: object = None,  # ignored: the product has the operands' dtype
    name: _Name = None,
) -> Tensor: ...
def transpose(
    a: TensorLike, perm: ShapeLike | None = None, conjugate: bool = False, name: _Name = None
) -> Tensor: ...
def reshape(tensor: TensorLike, shape: ShapeLike, name: _Name = None) -> Tensor: ...
def reduce_sum(
    input_tensor: TensorLike,
    axis: ShapeLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_mean(
    input_tensor: TensorLike,
    axis: ShapeLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def norm(
    tensor: TensorLike,
    ord: str | float | None = None,  # 'euclidean', 'fro', 1, 2, inf or p > 0
    axis: ShapeLike | None = None,
    keepdims: bool | None = None,
    name: _Name = None,
) -> Tensor: ...
def cast(x: TensorLike, dtype: DTypeLike, name: _Name = None) -> Tensor: ...
def identity(input: TensorLike, name: _Name = None) -> Tensor: ...
def stop_gradient(input: TensorLike, name: _Name = None) -> Tensor: ...
def broadcast_to(input: TensorLike, shape: ShapeLike, name: _Name = None) -> Tensor: ...
def where(
    condition: TensorLike,
    x: TensorLike | None = None,
    y: TensorLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def constant(
    value: TensorLike,
    dtype: DTypeLike | None = None,
    shape: ShapeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def convert_to_tensor(
    value: TensorLike,
    dtype: DTypeLike | None = None,
    dtype_hint: DTypeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def zeros(shape: ShapeLike, dtype: DTypeLike | None = None, name: _Name = None) -> Tensor: ...
def ones(shape: ShapeLike, dtype: DTypeLike | None = None, name: _Name = None) -> Tensor: ...
def random_normal(
    shape: ShapeLike,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: DTypeLike | None = None,
    seed: int | None = None,
    name: _Name = None,
) -> Tensor: ...
def random_uniform(
    shape: ShapeLike,
    minval: float = 0.0,
    maxval: float | None = None,
    dtype: DTypeLike | None = None,
    seed: int | None = None,
    name: _Name = None,
) -> Tensor: ...
def set_seed(seed: int | None) -> None: ...

# -- the op library (src/py/ops.rs) -------------------------------------------

def reduce_max(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_min(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_prod(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_logsumexp(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_variance(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_std(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_any(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def reduce_all(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def argmax(
    input: TensorLike,
    axis: AxisLike | None = None,
    output_type: DTypeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def argmin(
    input: TensorLike,
    axis: AxisLike | None = None,
    output_type: DTypeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def cumsum(
    x: TensorLike,
    axis: AxisLike | None = None,
    exclusive: bool = False,
    reverse: bool = False,
    name: _Name = None,
) -> Tensor: ...
def cumprod(
    x: TensorLike,
    axis: AxisLike | None = None,
    exclusive: bool = False,
    reverse: bool = False,
    name: _Name = None,
) -> Tensor: ...
def clip_by_value(
    t: TensorLike, clip_value_min: TensorLike, clip_value_max: TensorLike, name: _Name = None
) -> Tensor: ...
def expand_dims(input: TensorLike, axis: AxisLike, name: _Name = None) -> Tensor: ...
def squeeze(input: TensorLike, axis: AxisLike | None = None, name: _Name = None) -> Tensor: ...
def concat(values: Sequence[TensorLike] | Tensor, axis: AxisLike, name: _Name = None) -> Tensor: ...
def stack(values: Sequence[TensorLike] | Tensor, axis: int = 0, name: _Name = None) -> Tensor: ...
def unstack(
    value: TensorLike, num: int | None = None, axis: int = 0, name: _Name = None
) -> list[Tensor]: ...
def split(
    value: TensorLike,
    num_or_size_splits: ShapeLike,
    axis: AxisLike | None = None,
    num: int | None = None,
    name: _Name = None,
) -> list[Tensor]: ...
def tile(input: TensorLike, multiples: ShapeLike, name: _Name = None) -> Tensor: ...
def pad(
    tensor: TensorLike,
    paddings: TensorLike,  # [[before, after], ...] per axis
    mode: str = "CONSTANT",
    constant_values: float = 0.0,
    name: _Name = None,
) -> Tensor: ...
def reverse(tensor: TensorLike, axis: AxisLike, name: _Name = None) -> Tensor: ...
def gather(
    params: TensorLike,
    indices: TensorLike,
    validate_indices: object = None,
    axis: AxisLike | None = None,
    batch_dims: int = 0,
    name: _Name = None,
) -> Tensor: ...
def gather_nd(
    params: TensorLike, indices: TensorLike, batch_dims: int = 0, name: _Name = None
) -> Tensor: ...
def one_hot(
    indices: TensorLike,
    depth: int,
    on_value: TensorLike | None = None,
    off_value: TensorLike | None = None,
    axis: int | None = None,
    dtype: DTypeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def boolean_mask(
    tensor: TensorLike, mask: TensorLike, axis: int | None = None, name: _Name = None
) -> Tensor: ...
def shape(input: TensorLike, out_type: DTypeLike | None = None, name: _Name = None) -> Tensor: ...
def size(input: TensorLike, out_type: DTypeLike | None = None, name: _Name = None) -> Tensor: ...
def rank(input: TensorLike, name: _Name = None) -> Tensor: ...
def fill(dims: ShapeLike, value: TensorLike, name: _Name = None) -> Tensor: ...
def zeros_like(input: TensorLike, dtype: DTypeLike | None = None, name: _Name = None) -> Tensor: ...
def ones_like(input: TensorLike, dtype: DTypeLike | None = None, name: _Name = None) -> Tensor: ...
def range(
    start: TensorLike,
    limit: TensorLike | None = None,
    delta: TensorLike | None = None,
    dtype: DTypeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def linspace(
    start: TensorLike, stop: TensorLike, num: int, name: _Name = None, axis: int = 0
) -> Tensor: ...
def eye(
    num_rows: int,
    num_columns: int | None = None,
    batch_shape: ShapeLike | None = None,
    dtype: DTypeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def softmax(logits: TensorLike, axis: int | None = None, name: _Name = None) -> Tensor: ...
def log_softmax(logits: TensorLike, axis: int | None = None, name: _Name = None) -> Tensor: ...
def sparse_softmax_cross_entropy_with_logits(
    labels: TensorLike | None = None, logits: TensorLike | None = None, name: _Name = None
) -> Tensor: ...
def softmax_cross_entropy_with_logits(
    labels: TensorLike, logits: TensorLike, axis: int = -1, name: _Name = None
) -> Tensor: ...
def sigmoid_cross_entropy_with_logits(
    labels: TensorLike | None = None, logits: TensorLike | None = None, name: _Name = None
) -> Tensor: ...
def l2_loss(t: TensorLike, name: _Name = None) -> Tensor: ...
def leaky_relu(features: TensorLike, alpha: float = 0.2, name: _Name = None) -> Tensor: ...
def gelu(features: TensorLike, approximate: bool = False, name: _Name = None) -> Tensor: ...
def dropout(
    x: TensorLike,
    rate: float,
    noise_shape: ShapeLike | None = None,
    seed: int | None = None,
    name: _Name = None,
) -> Tensor: ...
def bias_add(
    value: TensorLike, bias: TensorLike, data_format: str | None = None, name: _Name = None
) -> Tensor: ...
def moments(
    x: TensorLike, axes: AxisLike, shift: object = None, keepdims: bool = False, name: _Name = None
) -> tuple[Tensor, Tensor]: ...
def tensordot(
    a: TensorLike,
    b: TensorLike,
    axes: int | Sequence[int] | Sequence[Sequence[int]],
    name: _Name = None,
) -> Tensor: ...
def einsum(equation: str, *inputs: TensorLike, **kwargs: object) -> Tensor: ...
def matvec(
    a: TensorLike,
    b: TensorLike,
    transpose_a: bool = False,
    adjoint_a: bool = False,
    a_is_sparse: bool = False,
    b_is_sparse: bool = False,
    name: _Name = None,
) -> Tensor: ...
def diag_part(input: TensorLike, name: _Name = None, k: int = 0) -> Tensor: ...
def diag(diagonal: TensorLike, name: _Name = None) -> Tensor: ...
def trace(x: TensorLike, name: _Name = None) -> Tensor: ...
def truncated_normal(
    shape: ShapeLike,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: DTypeLike | None = None,
    seed: int | None = None,
    name: _Name = None,
) -> Tensor: ...
def shuffle(value: TensorLike, seed: int | None = None, name: _Name = None) -> Tensor: ...
def categorical(
    logits: TensorLike,
    num_samples: int,
    dtype: DTypeLike | None = None,
    seed: int | None = None,
    name: _Name = None,
) -> Tensor: ...
def conv2d(
    input: TensorLike,
    filters: TensorLike,
    strides: int | Sequence[int],
    padding: str,
    data_format: str | None = None,
    dilations: int | Sequence[int] | None = None,
    name: _Name = None,
) -> Tensor: ...
def max_pool2d(
    input: TensorLike,
    ksize: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str,
    data_format: str | None = None,
    name: _Name = None,
) -> Tensor: ...
def avg_pool2d(
    input: TensorLike,
    ksize: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str,
    data_format: str | None = None,
    name: _Name = None,
) -> Tensor: ...
def inv(input: TensorLike, adjoint: bool = False, name: _Name = None) -> Tensor: ...
def det(input: TensorLike, name: _Name = None) -> Tensor: ...
def solve(
    matrix: TensorLike, rhs: TensorLike, adjoint: bool = False, name: _Name = None
) -> Tensor: ...
def cholesky(input: TensorLike, name: _Name = None) -> Tensor: ...
def reduce_euclidean_norm(
    input_tensor: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool = False,
    name: _Name = None,
) -> Tensor: ...
def count_nonzero(
    input: TensorLike,
    axis: AxisLike | None = None,
    keepdims: bool | None = None,
    dtype: DTypeLike | None = None,
    name: _Name = None,
) -> Tensor: ...
def sort(
    values: TensorLike, axis: int = -1, direction: str = "ASCENDING", name: _Name = None
) -> Tensor: ...
def argsort(
    values: TensorLike,
    axis: int = -1,
    direction: str = "ASCENDING",
    stable: bool = False,
    name: _Name = None,
) -> Tensor: ...
def top_k(
    input: TensorLike,
    k: int = 1,
    sorted: bool = True,
    index_type: DTypeLike | None = None,
    name: _Name = None,
) -> tuple[Tensor, Tensor]: ...

# === optimizers (src/py/optim.rs) ===========================================

@final
class _FusedOptimizer:
    """Slots and fused Rust update of one optimizer (``tapegrad.optimizers``)."""

    def __new__(
        cls,
        kind: str,  # "SGD", "Adam", "AdamW", "RMSprop" or "Adagrad"
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        rho: float = 0.9,
        centered: bool = False,
        initial_accumulator_value: float = 0.1,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ) -> Self: ...
    def apply(
        self,
        gradients: list[TensorLike],
        variables: list[Variable],
        learning_rate: float,
        iterations: int,
        weight_decays: list[float | None],
    ) -> None: ...
    def build(self, variables: list[Variable]) -> None: ...
    def get_slot(self, variable: Variable, name: str) -> Tensor: ...
    def get_slot_names(self) -> list[str]: ...
    def __len__(self) -> int: ...

# === end optimizers ==========================================================
