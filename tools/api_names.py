"""Where each op of ``tapegrad._core`` is public, and the types of its stub.

The one hand-written list of tapegrad's Rust-backed names: ``tools/gen_api.py``
reads it, checks it against the built extension, and writes the name lists of
``tapegrad``, ``tf.math``, ``tf.nn``, ``tf.linalg`` and ``tf.random``, the
typed registry ops (``_registry.py``) and the op stubs of ``_core.pyi``.

``API`` has one row per public name of ``_core`` (a binding, a class, ``ops``)
and per registry op (``_core.ops``; a binding of the same name replaces it).
A row says where the op is public: space-separated namespaces (``tf`` is the
top level), each exporting the op under its own name, or ``namespace.alias``
for an export under TF's other name. ``""`` keeps the op internal (say why).
An op whose stub ``ARG_TYPES`` (types by parameter name, at the end) cannot
type exactly gets ``row(...)``: its return type when that is not ``Tensor``,
and the type of each parameter whose name is ambiguous. A comment after a type
(``"object  # why"``) goes into the stub. For example::

    "reduce_prod": "tf math",            # tf.reduce_prod and tf.math.reduce_prod
    "silu": "nn nn.swish",               # tf.nn.silu and tf.nn.swish
    "unstack": row("tf", returns="list[Tensor]"),

Adding an op: its Rust binding or registry row, then its row here, then
``python tools/gen_api.py`` (``--check`` in the tests says when that is due).
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """A row with more than namespaces: the stub's irregular types."""

    where: str
    returns: str = "Tensor"
    args: dict[str, str] = field(default_factory=dict)


def row(where: str, returns: str = "Tensor", **args: str) -> Row:
    return Row(where, returns, args)


# the namespaces, each a module of python/tapegrad with a generated name list
NAMESPACES = {
    "tf": "__init__.py",
    "math": "math.py",
    "nn": "nn.py",
    "linalg": "linalg.py",
    "random": "random.py",
}

API: dict[str, str | Row] = {
    # -- classes and machinery of _core ------------------------------------
    "Tensor": "tf",
    "Variable": "tf",
    "Op": "",  # the type of the registry ops; `tapegrad.types.UnaryOp`/`BinaryOp` type them
    "ops": "",  # the registry itself; each op is public under its own name
    "Tape": "",  # wrapped by tapegrad.GradientTape
    "ForwardAccumulator": "",  # wrapped by tapegrad.autodiff.ForwardAccumulator
    "Suspension": "",  # used by tapegrad.custom_gradient
    "record_custom": "",  # used by tapegrad.custom_gradient
    # -- elementwise registry ops --------------------------------------------
    "abs": "tf math",
    "acos": "tf math",
    "add": "tf math",
    "asin": "tf math",
    "acosh": "tf math",
    "asinh": "tf math",
    "atan": "tf math",
    "atanh": "tf math",
    "ceil": "tf math",
    "cos": "tf math",
    "cosh": "tf math",
    "divide": "",  # tf.divide is Python (__init__.py): integer operands divide as float64
    "elu": "nn",
    "equal": "tf math",
    "erf": "tf math",
    "exp": "tf math",
    "expm1": "tf math",
    "floor": "tf math",
    "floordiv": "tf math",
    "floormod": "tf math math.mod",
    "greater": "tf math",
    "greater_equal": "tf math",
    "is_finite": "math",
    "is_inf": "math",
    "is_nan": "math",
    "less": "tf math",
    "less_equal": "tf math",
    "log": "tf math",
    "log1p": "tf math",
    "log_sigmoid": "math",
    "logical_and": "tf math",
    "logical_not": "tf math",
    "logical_or": "tf math",
    "maximum": "tf math",
    "minimum": "tf math",
    "multiply": "tf math",
    "negative": "tf math",
    "not_equal": "tf math",
    "pow": "tf math",
    "reciprocal": "tf math",
    "relu": "nn",
    "relu6": "nn",
    "round": "tf math",
    "rsqrt": "tf math",
    "selu": "nn",
    "sigmoid": "tf math nn",
    "sigmoid_grad": "",  # sigmoid's fused VJP, used by the tape
    "sign": "tf math",
    "silu": "nn nn.swish",
    "sin": "tf math",
    "sinh": "tf math",
    "softplus": "math nn",
    "softsign": "math nn",
    "sqrt": "tf math",
    "square": "tf math",
    "squared_difference": "tf math",
    "subtract": "tf math",
    "tan": "tf math",
    "tanh": "tf math nn",
    "tanh_grad": "",  # tanh's fused VJP, used by the tape
    "divide_no_nan": "math",
    "xdivy": "math",
    "xlogy": "math",
    "complex": row("tf", real="TensorLike", imag="TensorLike"),
    "real": "math",
    "imag": "math",
    "conj": "math",
    "angle": "math",
    # -- reductions and scans ------------------------------------------------
    "argmax": "tf math",
    "argmin": "tf math",
    "count_nonzero": "math",
    "cumprod": "math",
    "cumsum": "tf math",
    "reduce_all": "tf math",
    "reduce_any": "tf math",
    "reduce_euclidean_norm": "math",
    "reduce_logsumexp": "tf math",
    "reduce_max": "tf math",
    "reduce_mean": "tf math",
    "reduce_min": "tf math",
    "reduce_prod": "tf math",
    "reduce_std": "math",
    "reduce_sum": "tf math",
    "reduce_variance": "math",
    "top_k": row("", returns="tuple[Tensor, Tensor]"),  # tf.math/tf.nn wrap it in TopKV2
    # -- creation, conversion, shape, sorting ---------------------------------
    "argsort": "tf",
    "boolean_mask": row("tf", axis="int"),
    "broadcast_to": "tf",
    "cast": "tf",
    "clip_by_value": "tf",
    "concat": row("tf", values="Sequence[TensorLike] | Tensor"),
    "constant": "tf",
    "convert_to_tensor": "tf",
    "expand_dims": "tf",
    "fill": "tf",
    "gather": "tf",
    "gather_nd": "tf",
    # tf.scatter_nd and tf.tensor_scatter_nd_* wrap it (_state.py: TF's updates conversion)
    "tensor_scatter_nd": row("", updates="TensorLike", mode="str"),
    "identity": "tf",
    "linspace": "tf",
    "one_hot": row("tf", axis="int"),
    "ones": "tf",
    "ones_like": "tf",
    "pad": "tf",
    "range": "",  # tf.range is _array_ops.range (TF's argument conversion first)
    "rank": "tf",
    "reshape": "tf",
    "reverse": "tf",
    "shape": "tf",
    "size": "tf",
    "sort": "tf",
    "split": row("tf", returns="list[Tensor]"),
    "squeeze": "tf",
    "stack": row("tf", values="Sequence[TensorLike] | Tensor"),
    "stop_gradient": "tf",
    "tile": "tf",
    "unstack": row("tf", returns="list[Tensor]"),
    "where": "tf",
    "zeros": "tf",
    "zeros_like": "tf",
    # -- linear algebra ------------------------------------------------------
    "cholesky": "linalg",
    "adjoint": "linalg",
    "det": "linalg",
    "diag": "linalg",
    "band_part": "linalg",
    "diag_part": "linalg",
    "einsum": "tf linalg",
    "eye": "tf linalg",
    "inv": "linalg",
    "matmul": row(
        "tf linalg", output_type="object  # ignored: the product has the operands' dtype"
    ),
    "matvec": "linalg",
    "norm": "tf linalg",
    "solve": "linalg",
    "tensordot": row("tf linalg", axes="int | Sequence[int] | Sequence[Sequence[int]]"),
    "trace": "linalg",
    "transpose": "tf linalg",
    # -- neural networks -----------------------------------------------------
    "avg_pool2d": "nn nn.avg_pool",
    "bias_add": "nn",
    "conv2d": "nn",
    "dropout": "nn",
    "gelu": "nn",
    "l2_loss": "nn",
    "leaky_relu": "nn",
    "log_softmax": row("nn", axis="int"),
    "max_pool2d": "nn nn.max_pool",
    "moments": row("nn", returns="tuple[Tensor, Tensor]"),
    "sigmoid_cross_entropy_with_logits": "nn",
    "softmax": row("nn", axis="int"),
    "softmax_cross_entropy_with_logits": "nn",
    "sparse_softmax_cross_entropy_with_logits": "nn",
    # -- random --------------------------------------------------------------
    "categorical": "random",
    "random_normal": "random.normal",
    "random_uniform": "random.uniform",
    "set_seed": row("random", returns="None"),
    "shuffle": "random",
    "truncated_normal": "random",
}

# A parameter's stub type, by the parameter's name, where its default does not
# give it (a bool, int, float or str default types the parameter as that).
# A default of None adds `| None`. Row(...) overrides both for one op.
ARG_TYPES = {
    "name": "str",  # TF's graph-mode label: accepted and ignored
    # tensors
    **dict.fromkeys(
        "a b x y t input input_tensor tensor value values params indices condition bias "
        "diagonal features filters labels logits mask matrix rhs start stop limit delta "
        "clip_value_min clip_value_max on_value off_value inputs".split(),
        "TensorLike",
    ),
    "paddings": "TensorLike  # [[before, after], ...] per axis",
    # axes, shapes, dtypes
    **dict.fromkeys("axis axes".split(), "AxisLike"),
    **dict.fromkeys(
        "shape dims perm multiples batch_shape noise_shape num_or_size_splits".split(), "ShapeLike"
    ),
    **dict.fromkeys("dtype dtype_hint out_type output_type index_type".split(), "DTypeLike"),
    # scalars
    "keepdims": "bool",
    **dict.fromkeys(
        "num num_rows num_columns depth num_samples num_lower num_upper".split(), "int"
    ),
    "seed": "int | None",
    **dict.fromkeys("rate maxval".split(), "float"),
    **dict.fromkeys("equation padding data_format".split(), "str"),
    **dict.fromkeys("strides ksize dilations".split(), "int | Sequence[int]"),
    "ord": "str | float  # 'euclidean', 'fro', 1, 2, inf or p > 0",
    # TF arguments accepted and ignored (graph mode, distribution, …)
    **dict.fromkeys("shift validate_indices optimize".split(), "object"),
}
