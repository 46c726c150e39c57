//! Op bindings: one callable per registry row (`Op`), and the irregular ops,
//! each declared as its signature (arguments typed by kind, see `args.rs`)
//! plus one core call. The `bindings!` macro makes that call through `run`,
//! so no binding can reach the core with the GIL held on a large input.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::args::{
    Axes, Axis, DTypeArg, Describe, Direction, Ignored, IntDType, Lift, Name, NormOrd, Operand,
    OperandList, Scalar, Seed, Shape, TensorLike, axes, axis_or, dtype_or, int_list, seed,
};
use super::convert::{operand_pair, operands, tensor_arg, to_tensor};
use super::run;
use super::tensor::PyTensor;
use crate::dtype::DType;
use crate::error::Error;
use crate::ops::{self, OpFn};
use crate::tensor::Tensor;

// A registry op as a Python callable: `tapegrad.exp(x)`, `tapegrad.add(x, y)`.
// Deliberately a `//` comment, not `///`: pyo3 stores a struct's doc comment
// as the type's `__doc__` entry, which shadows the `__doc__` getter below, so
// every op instance would report this text instead of its own `OpInfo.doc`.
// The fields are `OpInfo`'s, readable from Python.
#[pyclass(frozen, name = "Op", module = "tapegrad._core")]
pub struct PyOp {
    #[pyo3(get, name = "__name__")]
    name: &'static str,
    #[pyo3(get, name = "__doc__")]
    doc: &'static str,
    #[pyo3(get)]
    arity: usize,
    #[pyo3(get)]
    differentiable: bool,
    #[pyo3(get)]
    domain: &'static str,
    #[pyo3(get)]
    dtypes: &'static str,
    kernel: OpFn,
}

#[pymethods]
impl PyOp {
    #[pyo3(signature = (*args, name=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        name: Option<Name>,
    ) -> PyResult<PyTensor> {
        let _ = name;
        if args.len() != self.arity {
            return Err(PyTypeError::new_err(format!(
                "{}() takes {} positional argument(s) but {} were given",
                self.name,
                self.arity,
                args.len()
            )));
        }
        let kernel = self.kernel;
        if let (OpFn::Unary(f), false) = (kernel, crate::trace::is_tracing()) {
            let first = args.get_item(0)?;
            let x = tensor_arg(&first, None)?;
            return Ok(PyTensor::new(run(py, x.numel(), || f(&x))?));
        }
        let xs = operands(&args.iter().collect::<Vec<_>>())?;
        let work = xs.iter().map(Tensor::numel).max().unwrap_or(0);
        let out = super::run_traced(py, work, self.name, xs, move |xs| match kernel {
            OpFn::Unary(f) => f(&xs[0]),
            OpFn::Binary(f) => f(&xs[0], &xs[1]),
        })?;
        Ok(PyTensor::new(out))
    }

    fn __repr__(&self) -> String {
        format!("<tapegrad op {}>", self.name)
    }
}

/// Adds every binding of this file to the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let groups = [
        register_irregular,
        register_unary_bindings,
        register_pair_bindings,
        register_reductions,
        register_arg_reductions,
        register_scans,
        register_filled,
        register_filled_like,
        register_normals,
        register_softmaxes,
        register_pools,
    ];
    groups.iter().try_for_each(|add| add(m))
}

/// `{name: Op}` for every registry row.
pub fn registry(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for info in ops::registry() {
        let op = PyOp {
            name: info.name,
            doc: info.doc,
            arity: info.arity,
            differentiable: info.differentiable,
            domain: info.domain,
            dtypes: info.dtypes,
            kernel: info.kernel,
        };
        d.set_item(info.name, Bound::new(py, op)?)?;
    }
    Ok(d)
}

/// Declares bindings, each as its pyo3 signature, typed arguments, the Rust
/// type the core returns, an optional block preparing arguments with the GIL
/// held, then `=> (work) [tensors] core_call;`. The call runs through `run`
/// (the GIL released when `work`, the elements touched, is large); `[tensors]`
/// are the tensor locals it reads, a traced step's inputs (anything else is
/// fixed at trace time). Ignored arguments (`name`, TF's hints) may go unread.
/// A group starts with `register NAME;`, the function adding it to the module
/// (listed in `register`); the docstrings are the core's (`ops::py_doc!`).
macro_rules! bindings {
    (register $register:ident; $(
        #[pyo3($($attr:tt)*)]
        fn $f:ident($($a:ident: $t:ty),* $(,)?) -> $out:ty $({ $($prep:tt)* })?
            => ($work:expr) [$($cap:ident),*] $core:expr;
    )*) => {$(
        #[doc = crate::ops::py_doc!($f)]
        #[pyfunction]
        #[pyo3($($attr)*)]
        #[allow(unused_variables, unused_mut, clippy::too_many_arguments)]
        pub fn $f(py: Python<'_>, $($a: $t),*) -> PyResult<<$out as Lift>::Out> {
            if crate::trace::is_tracing() {
                super::describe(py, stringify!($f), || Ok(vec![$((stringify!($a), $a.describe(py)?)),*]))?;
            }
            $($($prep)*)?
            if crate::trace::is_tracing() {
                // a step of the trace: the listed tensor locals are its
                // inputs, rebuilt from the replay's tensors
                let (work, mut inputs) = ($work, Vec::new());
                $(let $cap = crate::trace::Skeleton::of(&$cap, &mut inputs);)*
                let step = move |xs: &[Tensor]| -> crate::error::Result<$out> {
                    let mut xs = xs.iter();
                    $(let $cap = $cap.rebuild(&mut xs);)*
                    $core
                };
                return Ok(super::run_traced(py, work, stringify!($f), inputs, step)?.lift());
            }
            Ok(run(py, $work, || $core)?.lift())
        }
    )*

        /// Adds this group's bindings to the extension module.
        fn $register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(m.add_function(wrap_pyfunction!($f, m)?)?;)*
            Ok(())
        }
    };
}

bindings! {
    register register_irregular;
    #[pyo3(signature = (a, b, transpose_a=false, transpose_b=false, adjoint_a=false, adjoint_b=false, a_is_sparse=false, b_is_sparse=false, output_type=None, name=None))]
    fn matmul(a: TensorLike<'_>, b: TensorLike<'_>, transpose_a: bool, transpose_b: bool, adjoint_a: bool, adjoint_b: bool, a_is_sparse: bool, b_is_sparse: bool, output_type: Option<Ignored>, name: Option<Name>) -> Tensor {
        // sparsity hints change nothing here; adjoint = conjugate, then transpose
        let [a, b] = operand_pair(&a, &b)?;
    } => (a.numel().max(b.numel())) [a, b] ops::matmul_adjoint(&a, &b, [transpose_a, transpose_b], [adjoint_a, adjoint_b]);

    #[pyo3(signature = (a, perm=None, conjugate=false, name=None))]
    fn transpose(a: Operand, perm: Option<Axes>, conjugate: bool, name: Option<Name>) -> Tensor
        => (a.numel()) [a] ops::transpose(&a, axes(&perm)).and_then(|t| if conjugate { ops::conj(&t) } else { Ok(t) });

    #[pyo3(signature = (tensor, shape, name=None))]
    fn reshape(tensor: Operand, shape: Axes, name: Option<Name>) -> Tensor
        => (tensor.numel()) [tensor] ops::reshape(&tensor, &shape.0);

    #[pyo3(signature = (tensor, ord=None, axis=None, keepdims=None, name=None))]
    fn norm(tensor: Operand, ord: Option<NormOrd>, axis: Option<Axes>, keepdims: Option<bool>, name: Option<Name>) -> Tensor
        => (tensor.numel()) [tensor] ops::norm(&tensor, ord.map_or(ops::NormOrd::Euclidean, |o| o.0), axes(&axis), keepdims.unwrap_or(false));

    #[pyo3(signature = (x, dtype, name=None))]
    fn cast(x: Operand, dtype: DTypeArg, name: Option<Name>) -> Tensor
        => (x.numel()) [x] ops::cast(&x, dtype.0);

    #[pyo3(signature = (input, name=None))]
    fn stop_gradient(input: Operand, name: Option<Name>) -> Tensor
        => (0) [input] Ok(ops::stop_gradient(&input));

    #[pyo3(signature = (input, shape, name=None))]
    fn broadcast_to(input: Operand, shape: Shape, name: Option<Name>) -> Tensor
        => (shape.0.iter().product()) [input] ops::broadcast_to(&input, &shape.0);

    #[pyo3(name = "where", signature = (condition, x=None, y=None, name=None))]
    fn where_(condition: TensorLike<'_>, x: Option<TensorLike<'_>>, y: Option<TensorLike<'_>>, name: Option<Name>) -> Tensor {
        let (condition, xy) = match (x, y) {
            (Some(x), Some(y)) => (to_tensor(&condition, Some(DType::Bool))?, Some(operands(&[&x, &y])?)),
            // one argument: the coordinates of the true elements
            (None, None) => (to_tensor(&condition, None)?, None),
            _ => return Err(PyValueError::new_err("where: x and y must both be given, or neither")),
        };
        let work = xy.iter().flatten().chain([&condition]).map(Tensor::numel).max().unwrap_or(0);
    } => (work) [condition, xy] match &xy {
        Some(xy) => ops::where_(&condition, &xy[0], &xy[1]),
        None => ops::nonzero(&condition),
    };

    #[pyo3(signature = (value, dtype=None, shape=None, name=None))]
    fn constant(value: TensorLike<'_>, dtype: Option<DTypeArg>, shape: Option<Shape>, name: Option<Name>) -> Tensor {
        let dtype = dtype.map(|d| d.0);
        let t = crate::tape::without_recording(|| to_tensor(&value, dtype))?;
    } => (t.numel()) [t] ops::constant(&t, dtype, shape.as_ref().map(|s| s.0.as_slice()));

    #[pyo3(signature = (value, dtype=None, dtype_hint=None, name=None))]
    fn convert_to_tensor(value: TensorLike<'_>, dtype: Option<DTypeArg>, dtype_hint: Option<DTypeArg>, name: Option<Name>) -> Tensor {
        let mut dtype = dtype.map(|d| d.0);
        let t = if let Ok(t) = value.cast::<PyTensor>() {
            // tensors pass through; a different dtype is refused, not cast
            let t = t.get().tensor().clone();
            if let Some(d) = dtype.take().filter(|&d| d != t.dtype()) {
                return Err(PyValueError::new_err(format!(
                    "Tensor conversion requested dtype {} for Tensor with dtype {}",
                    d.name(),
                    t.dtype().name()
                )));
            }
            t
        } else {
            to_tensor(&value, dtype.or(dtype_hint.map(|d| d.0)))?
        };
    } => (t.numel()) [t] match dtype {
        Some(d) => ops::cast(&t, d),
        None => Ok(t.clone()),
    };

    #[pyo3(signature = (shape, minval=0.0, maxval=None, dtype=None, seed=None, name=None))]
    fn random_uniform(shape: Shape, minval: f64, maxval: Option<f64>, dtype: Option<DTypeArg>, seed: Option<Seed>, name: Option<Name>) -> Tensor {
        let dtype = dtype_or(dtype, DType::F32);
        let maxval = match maxval {
            Some(m) => m,
            None if dtype.is_float() => 1.0,
            None => return Err(PyValueError::new_err("Must specify maxval for integer dtype")),
        };
    } => (shape.0.iter().product()) [] ops::random::uniform(&shape.0, minval, maxval, dtype, self::seed(seed));

    #[pyo3(signature = (seed))]
    fn set_seed(seed: Option<i64>) -> () => (0) [] {
        ops::random::set_seed(seed.map(|s| s as u64));
        Ok(())
    };

    #[pyo3(signature = (input, axis=None, keepdims=None, dtype=None, name=None))]
    fn count_nonzero(input: Operand, axis: Option<Axes>, keepdims: Option<bool>, dtype: Option<DTypeArg>, name: Option<Name>) -> Tensor
        => (input.numel()) [input] ops::count_nonzero(&input, axes(&axis), keepdims.unwrap_or(false), dtype_or(dtype, DType::I64));

    #[pyo3(
        signature = (values, axis=Axis(-1), direction=Direction::Ascending, name=None),
        text_signature = "(values, axis=-1, direction='ASCENDING', name=None)"
    )]
    fn sort(values: Operand, axis: Axis, direction: Direction, name: Option<Name>) -> Tensor
        => (values.numel()) [values] ops::sort(&values, axis.0, direction.descending());

    #[pyo3(
        signature = (values, axis=Axis(-1), direction=Direction::Ascending, stable=false, name=None),
        text_signature = "(values, axis=-1, direction='ASCENDING', stable=False, name=None)"
    )]
    fn argsort(values: Operand, axis: Axis, direction: Direction, stable: bool, name: Option<Name>) -> Tensor
        // (always stable)
        => (values.numel()) [values] ops::cast(&ops::argsort(&values, axis.0, direction.descending())?, DType::I32);

    #[pyo3(signature = (input, k=1, sorted=true, index_type=None, name=None))]
    fn top_k(input: Operand, k: usize, sorted: bool, index_type: Option<DTypeArg>, name: Option<Name>) -> (Tensor, Tensor)
        // (always sorted)
        => (input.numel()) [input] {
            let (values, indices) = ops::top_k(&input, k)?;
            Ok((values, ops::cast(&indices, dtype_or(index_type, DType::I32))?))
        };

    #[pyo3(signature = (t, clip_value_min, clip_value_max, name=None))]
    fn clip_by_value(t: TensorLike<'_>, clip_value_min: TensorLike<'_>, clip_value_max: TensorLike<'_>, name: Option<Name>) -> Tensor {
        let xs = operands(&[&t, &clip_value_min, &clip_value_max])?;
    } => (xs[0].numel()) [xs] ops::clip_by_value(&xs[0], &xs[1], &xs[2]);

    #[pyo3(signature = (input, axis, name=None))]
    fn expand_dims(input: Operand, axis: Axis, name: Option<Name>) -> Tensor
        => (input.numel()) [input] ops::expand_dims(&input, axis.0);

    #[pyo3(signature = (input, axis=None, name=None))]
    fn squeeze(input: Operand, axis: Option<Axes>, name: Option<Name>) -> Tensor
        => (input.numel()) [input] ops::squeeze(&input, axes(&axis));

    #[pyo3(signature = (values, axis, name=None))]
    fn concat(values: OperandList, axis: Axis, name: Option<Name>) -> Tensor
        => (values.0.iter().map(Tensor::numel).sum()) [values] ops::concat(&values.0, axis.0);

    #[pyo3(signature = (values, axis=0, name=None))]
    fn stack(values: OperandList, axis: i64, name: Option<Name>) -> Tensor
        => (values.0.iter().map(Tensor::numel).sum()) [values] ops::stack(&values.0, axis);

    #[pyo3(signature = (value, num=None, axis=0, name=None))]
    fn unstack(value: Operand, num: Option<usize>, axis: i64, name: Option<Name>) -> Vec<Tensor>
        => (value.numel()) [value] ops::unstack_num(&value, axis, num);

    #[pyo3(signature = (value, num_or_size_splits, axis=None, num=None, name=None))]
    fn split(value: Operand, num_or_size_splits: TensorLike<'_>, axis: Option<Axis>, num: Option<usize>, name: Option<Name>) -> Vec<Tensor> {
        let axis = axis_or(axis, 0);
        let sizes = match num_or_size_splits.extract::<i64>() {
            Ok(n) => ops::even_split_sizes(&value, n, axis)?,
            Err(_) => int_list(&num_or_size_splits)?,
        };
    } => (value.numel()) [value] ops::split(&value, &sizes, axis);

    #[pyo3(signature = (input, multiples, name=None))]
    fn tile(input: Operand, multiples: Axes, name: Option<Name>) -> Tensor
        => (input.numel()) [input] ops::tile(&input, &multiples.0);

    #[pyo3(signature = (tensor, paddings, mode="CONSTANT", constant_values=0.0, name=None))]
    fn pad(tensor: Operand, paddings: Operand, mode: &str, constant_values: f64, name: Option<Name>) -> Tensor {
        if !mode.eq_ignore_ascii_case("constant") {
            let msg = format!("mode {mode:?} is not supported (only 'CONSTANT')");
            return Err(Error::unimplemented("Pad", msg).into());
        }
        if !paddings.dtype().is_int() {
            return Err(PyTypeError::new_err("paddings must be integers"));
        }
    } => (tensor.numel()) [tensor, paddings] ops::pad(&tensor, &ops::padding_pairs(&paddings)?, constant_values);

    #[pyo3(signature = (tensor, axis, name=None))]
    fn reverse(tensor: Operand, axis: Axes, name: Option<Name>) -> Tensor
        => (tensor.numel()) [tensor] ops::reverse(&tensor, &axis.0);

    #[pyo3(signature = (params, indices, validate_indices=None, axis=None, batch_dims=0, name=None))]
    fn gather(params: Operand, indices: Operand, validate_indices: Option<Ignored>, axis: Option<Axis>, batch_dims: i64, name: Option<Name>) -> Tensor
        => (params.numel().max(indices.numel())) [params, indices] ops::gather(&params, &indices, axis_or(axis, batch_dims), batch_dims);

    #[pyo3(signature = (params, indices, batch_dims=0, name=None))]
    fn gather_nd(params: Operand, indices: Operand, batch_dims: usize, name: Option<Name>) -> Tensor
        => (params.numel().max(indices.numel())) [params, indices] ops::gather_nd(&params, &indices, batch_dims);

    #[pyo3(signature = (tensor, indices, updates, mode))]
    fn tensor_scatter_nd(tensor: Operand, indices: Operand, updates: Operand, mode: String) -> Tensor
        => (tensor.numel().max(updates.numel())) [tensor, indices, updates] ops::tensor_scatter_nd(&mode, &tensor, &indices, &updates);

    #[pyo3(signature = (indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None))]
    fn one_hot(indices: Operand, depth: usize, on_value: Option<Operand>, off_value: Option<Operand>, axis: Option<i64>, dtype: Option<DTypeArg>, name: Option<Name>) -> Tensor {
        let inferred = on_value.as_ref().or(off_value.as_ref()).map(|t| t.dtype());
        let dtype = dtype_or(dtype, inferred.unwrap_or(DType::F32));
        let scalar = |t: Option<Operand>, default: f64| t.and_then(|t| { crate::trace::guard_value(&t); t.item_f64() }).unwrap_or(default);
        let (on, off) = (scalar(on_value, 1.0), scalar(off_value, 0.0));
    } => (indices.numel() * depth) [indices] ops::one_hot(&indices, depth, on, off, axis.unwrap_or(-1), dtype);

    #[pyo3(signature = (tensor, mask, axis=None, name=None))]
    fn boolean_mask(tensor: Operand, mask: TensorLike<'_>, axis: Option<i64>, name: Option<Name>) -> Tensor {
        let mask = to_tensor(&mask, Some(DType::Bool))?;
    } => (tensor.numel()) [tensor, mask] ops::boolean_mask(&tensor, &mask, axis.unwrap_or(0));

    #[pyo3(signature = (input, out_type=None, name=None))]
    fn shape(input: Operand, out_type: Option<IntDType>, name: Option<Name>) -> Tensor
        => (0) [input] ops::cast(&Tensor::from_vec(&[input.rank()], input.shape().iter().map(|&d| d as i64).collect())?, out_type.map_or(DType::I32, |d| d.0));

    #[pyo3(signature = (input, out_type=None, name=None))]
    fn size(input: Operand, out_type: Option<IntDType>, name: Option<Name>) -> Tensor
        => (0) [input] ops::cast(&Tensor::scalar(input.numel() as i64), out_type.map_or(DType::I32, |d| d.0));

    #[pyo3(signature = (input, name=None))]
    fn rank(input: Operand, name: Option<Name>) -> Tensor
        => (0) [input] Ok(Tensor::scalar(input.rank() as i32));

    #[pyo3(signature = (dims, value, name=None))]
    fn fill(dims: Shape, value: Operand, name: Option<Name>) -> Tensor
        => (dims.0.iter().product()) [value] ops::fill(&dims.0, &value);

    #[pyo3(name = "range", signature = (start, limit=None, delta=None, dtype=None, name=None))]
    fn range_(start: Scalar, limit: Option<Scalar>, delta: Option<Scalar>, dtype: Option<DTypeArg>, name: Option<Name>) -> Tensor {
        let (s, l, d, dtype) = ops::range_args(start.0, limit.map(|l| l.0), delta.map(|d| d.0), dtype.map(|d| d.0));
        let work = ((l - s) / d).clamp(0.0, usize::MAX as f64) as usize;
    } => (work) [] ops::range(s, l, d, dtype);

    #[pyo3(signature = (start, stop, num, name=None, axis=0))]
    fn linspace(start: Scalar, stop: Scalar, num: i64, name: Option<Name>, axis: i64) -> Tensor {
        let ((s, ds), (e, _)) = (start.0, stop.0);
        let dtype = if ds.is_float() { ds } else { DType::F32 };
    } => (num.max(0) as usize) [] ops::linspace(s, e, num, dtype);

    #[pyo3(signature = (num_rows, num_columns=None, batch_shape=None, dtype=None, name=None))]
    fn eye(num_rows: usize, num_columns: Option<usize>, batch_shape: Option<Shape>, dtype: Option<DTypeArg>, name: Option<Name>) -> Tensor {
        let batch = batch_shape.map(|b| b.0).unwrap_or_default();
        let cols = num_columns.unwrap_or(num_rows);
        let work = batch.iter().product::<usize>().saturating_mul(num_rows.saturating_mul(cols));
    } => (work) [] ops::eye(num_rows, cols, &batch, dtype_or(dtype, DType::F32));

    #[pyo3(signature = (labels, logits, name=None))]
    fn sparse_softmax_cross_entropy_with_logits(labels: Operand, logits: Operand, name: Option<Name>) -> Tensor
        => (logits.numel()) [labels, logits] ops::sparse_softmax_cross_entropy_with_logits(&labels, &logits);

    #[pyo3(
        signature = (labels, logits, axis=-1, name=None),
        text_signature = "(labels, logits, axis=-1, name=None)"
    )]
    fn softmax_cross_entropy_with_logits(labels: TensorLike<'_>, logits: TensorLike<'_>, axis: i64, name: Option<Name>) -> Tensor {
        let [logits, labels] = operand_pair(&logits, &labels)?;
    } => (logits.numel()) [labels, logits] ops::softmax_cross_entropy_with_logits(&labels, &logits, axis);

    #[pyo3(signature = (labels=None, logits=None, name=None))]
    fn sigmoid_cross_entropy_with_logits(labels: Option<TensorLike<'_>>, logits: Option<TensorLike<'_>>, name: Option<Name>) -> Tensor {
        let (Some(labels), Some(logits)) = (labels, logits) else {
            return Err(PyValueError::new_err("Both `labels` and `logits` must be provided for sigmoid_cross_entropy_with_logits"));
        };
        let [logits, labels] = operand_pair(&logits, &labels)?;
    } => (logits.numel()) [labels, logits] ops::sigmoid_cross_entropy_with_logits(&labels, &logits);

    #[pyo3(signature = (features, alpha=0.2, name=None))]
    fn leaky_relu(features: Operand, alpha: f64, name: Option<Name>) -> Tensor
        => (features.numel()) [features] ops::leaky_relu(&features, alpha);

    #[pyo3(signature = (features, approximate=false, name=None))]
    fn gelu(features: Operand, approximate: bool, name: Option<Name>) -> Tensor
        => (features.numel()) [features] if approximate { ops::gelu_approximate(&features) } else { ops::gelu(&features) };

    #[pyo3(signature = (x, rate, noise_shape=None, seed=None, name=None))]
    fn dropout(x: Operand, rate: f64, noise_shape: Option<Shape>, seed: Option<Seed>, name: Option<Name>) -> Tensor
        => (x.numel()) [x] ops::dropout(&x, rate, noise_shape.as_ref().map(|s| s.0.as_slice()), self::seed(seed));

    #[pyo3(signature = (value, bias, data_format=None, name=None))]
    fn bias_add(value: TensorLike<'_>, bias: TensorLike<'_>, data_format: Option<&str>, name: Option<Name>) -> Tensor {
        let [value, bias] = operand_pair(&value, &bias)?;
        let channels_first = data_format.is_some_and(|f| f.starts_with("NC"));
    } => (value.numel()) [value, bias] ops::bias_add(&value, &bias, channels_first);

    #[pyo3(signature = (x, axes, shift=None, keepdims=false, name=None))]
    fn moments(x: Operand, axes: Axes, shift: Option<Ignored>, keepdims: bool, name: Option<Name>) -> (Tensor, Tensor)
        => (x.numel()) [x] ops::moments(&x, &axes.0, keepdims);

    #[pyo3(signature = (input, filters, strides, padding, data_format=None, dilations=None, name=None))]
    fn conv2d(input: TensorLike<'_>, filters: TensorLike<'_>, strides: Axes, padding: &str, data_format: Option<&str>, dilations: Option<Axes>, name: Option<Name>) -> Tensor {
        let op = "Conv2D";
        let [input, filters] = operand_pair(&input, &filters)?;
        let strides = ops::window_2d(op, "strides", &strides.0)?;
        let dilations = dilations.map_or(Ok([1, 1]), |d| ops::window_2d(op, "dilations", &d.0))?;
        let padding = ops::Padding::for_nhwc(op, padding, data_format)?;
    } => (input.numel()) [input, filters] ops::conv2d(&input, &filters, strides, padding, dilations);

    #[pyo3(signature = (a, b, axes, name=None))]
    fn tensordot(a: TensorLike<'_>, b: TensorLike<'_>, axes: TensorLike<'_>, name: Option<Name>) -> Tensor {
        let [a, b] = operand_pair(&a, &b)?;
        let (axes_a, axes_b) = contraction_axes(&a, &b, &axes)?;
    } => (a.numel().max(b.numel())) [a, b] ops::tensordot(&a, &b, &axes_a, &axes_b);

    #[pyo3(signature = (a, b, transpose_a=false, adjoint_a=false, a_is_sparse=false, b_is_sparse=false, name=None))]
    fn matvec(a: TensorLike<'_>, b: TensorLike<'_>, transpose_a: bool, adjoint_a: bool, a_is_sparse: bool, b_is_sparse: bool, name: Option<Name>) -> Tensor {
        let [a, b] = operand_pair(&a, &b)?;
    } => (a.numel()) [a, b] ops::matvec(&a, &b, transpose_a || adjoint_a);

    #[pyo3(signature = (input, num_lower, num_upper, name=None))]
    fn band_part(input: Operand, num_lower: i64, num_upper: i64, name: Option<Name>) -> Tensor
        => (input.numel()) [input] ops::band_part(&input, num_lower, num_upper);

    #[pyo3(signature = (input, name=None, k=0))]
    fn diag_part(input: Operand, name: Option<Name>, k: i64) -> Tensor
        => (input.numel()) [input] ops::diag_part(&input, k);

    #[pyo3(signature = (input, adjoint=false, name=None))]
    fn inv(input: Operand, adjoint: bool, name: Option<Name>) -> Tensor
        => (input.numel()) [input] if adjoint { ops::inv(&ops::matrix_t(&input)?) } else { ops::inv(&input) };

    #[pyo3(signature = (matrix, rhs, adjoint=false, name=None))]
    fn solve(matrix: TensorLike<'_>, rhs: TensorLike<'_>, adjoint: bool, name: Option<Name>) -> Tensor {
        let [matrix, rhs] = operand_pair(&matrix, &rhs)?;
    } => (matrix.numel().max(rhs.numel())) [matrix, rhs] if adjoint {
        ops::solve(&ops::matrix_t(&matrix)?, &rhs)
    } else {
        ops::solve(&matrix, &rhs)
    };

    #[pyo3(signature = (value, seed=None, name=None))]
    fn shuffle(value: Operand, seed: Option<Seed>, name: Option<Name>) -> Tensor
        => (value.numel()) [value] ops::random::shuffle(&value, self::seed(seed));

    #[pyo3(signature = (logits, num_samples, dtype=None, seed=None, name=None))]
    fn categorical(logits: Operand, num_samples: usize, dtype: Option<DTypeArg>, seed: Option<Seed>, name: Option<Name>) -> Tensor
        => (logits.numel().saturating_mul(num_samples)) [logits] ops::random::categorical(&logits, num_samples, dtype_or(dtype, DType::I64), self::seed(seed));

    #[pyo3(signature = (equation, *inputs, optimize=None, name=None))]
    fn einsum(equation: String, inputs: OperandList, optimize: Option<Ignored>, name: Option<Name>) -> Tensor
        => (inputs.0.iter().map(Tensor::numel).max().unwrap_or(0)) [inputs] ops::einsum(&equation, &inputs.0);
}

/// Ops of one operand (and `name`), each named by its TF argument.
macro_rules! unary_bindings {
    ($($f:ident($x:ident);)*) => { bindings! { register register_unary_bindings; $(
        #[pyo3(signature = ($x, name=None))]
        fn $f($x: Operand, name: Option<Name>) -> Tensor => ($x.numel()) [$x] ops::$f(&$x);
    )*}};
}
unary_bindings! {
    identity(input);
    l2_loss(t);
    diag(diagonal);
    trace(x);
    det(input);
    cholesky(input);
    real(input);
    imag(input);
    conj(x);
    angle(input);
    adjoint(matrix);
}

/// Ops of two operands converted together (`x` leads the dtype), and `name`.
macro_rules! pair_bindings {
    ($($f:ident($x:ident, $y:ident);)*) => { bindings! { register register_pair_bindings; $(
        #[pyo3(signature = ($x, $y, name=None))]
        fn $f($x: TensorLike<'_>, $y: TensorLike<'_>, name: Option<Name>) -> Tensor {
            let [$x, $y] = operand_pair(&$x, &$y)?;
        } => ($x.numel().max($y.numel())) [$x, $y] ops::$f(&$x, &$y);
    )*}};
}
pair_bindings! {
    xlogy(x, y);
    xdivy(x, y);
    divide_no_nan(x, y);
    complex(real, imag);
}

/// Reductions sharing `tf.reduce_sum`'s signature.
macro_rules! reductions {
    ($($f:ident;)*) => { bindings! { register register_reductions; $(
        #[pyo3(signature = (input_tensor, axis=None, keepdims=false, name=None))]
        fn $f(input_tensor: Operand, axis: Option<Axes>, keepdims: bool, name: Option<Name>) -> Tensor
            => (input_tensor.numel()) [input_tensor] ops::$f(&input_tensor, axes(&axis), keepdims);
    )*}};
}
reductions! {
    reduce_sum;
    reduce_mean;
    reduce_euclidean_norm;
    reduce_max;
    reduce_min;
    reduce_prod;
    reduce_logsumexp;
    reduce_variance;
    reduce_std;
    reduce_any;
    reduce_all;
}

/// `argmax`/`argmin`: one axis (default 0), an int output dtype.
macro_rules! arg_reductions {
    ($($f:ident;)*) => { bindings! { register register_arg_reductions; $(
        #[pyo3(signature = (input, axis=None, output_type=None, name=None))]
        fn $f(input: Operand, axis: Option<Axis>, output_type: Option<DTypeArg>, name: Option<Name>) -> Tensor
            => (input.numel()) [input] ops::$f(&input, axis_or(axis, 0), dtype_or(output_type, DType::I64));
    )*}};
}
arg_reductions! {
    argmax;
    argmin;
}

/// Running sums and products (`tf.cumsum`'s signature).
macro_rules! scans {
    ($($f:ident;)*) => { bindings! { register register_scans; $(
        #[pyo3(signature = (x, axis=None, exclusive=false, reverse=false, name=None))]
        fn $f(x: Operand, axis: Option<Axis>, exclusive: bool, reverse: bool, name: Option<Name>) -> Tensor
            => (x.numel()) [x] ops::$f(&x, axis_or(axis, 0), exclusive, reverse);
    )*}};
}
scans! {
    cumsum;
    cumprod;
}

/// `tf.zeros`/`tf.ones`: a shape and a dtype (float32 by default).
macro_rules! filled {
    ($($f:ident;)*) => { bindings! { register register_filled; $(
        #[pyo3(signature = (shape, dtype=None, name=None))]
        fn $f(shape: Shape, dtype: Option<DTypeArg>, name: Option<Name>) -> Tensor
            => (shape.0.iter().product()) [] ops::$f(dtype_or(dtype, DType::F32), &shape.0);
    )*}};
}
filled! {
    zeros;
    ones;
}

/// `tf.zeros_like`/`tf.ones_like`: the shape and (default) dtype of `input`.
macro_rules! filled_like {
    ($($f:ident => $core:ident;)*) => { bindings! { register register_filled_like; $(
        #[pyo3(signature = (input, dtype=None, name=None))]
        fn $f(input: Operand, dtype: Option<DTypeArg>, name: Option<Name>) -> Tensor
            => (input.numel()) [input] ops::$core(dtype_or(dtype, input.dtype()), input.shape());
    )*}};
}
filled_like! {
    zeros_like => zeros;
    ones_like => ones;
}

/// Samplers of a normal distribution (`tf.random.normal`'s signature).
macro_rules! normals {
    ($($f:ident => $core:ident;)*) => { bindings! { register register_normals; $(
        #[pyo3(signature = (shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None))]
        fn $f(shape: Shape, mean: f64, stddev: f64, dtype: Option<DTypeArg>, seed: Option<Seed>, name: Option<Name>) -> Tensor
            => (shape.0.iter().product()) [] ops::random::$core(&shape.0, mean, stddev, dtype_or(dtype, DType::F32), self::seed(seed));
    )*}};
}
normals! {
    random_normal => normal;
    truncated_normal => truncated_normal;
}

/// `softmax`/`log_softmax`: one axis, the last by default.
macro_rules! softmaxes {
    ($($f:ident;)*) => { bindings! { register register_softmaxes; $(
        #[pyo3(signature = (logits, axis=None, name=None))]
        fn $f(logits: Operand, axis: Option<i64>, name: Option<Name>) -> Tensor
            => (logits.numel()) [logits] ops::$f(&logits, axis.unwrap_or(-1));
    )*}};
}
softmaxes! {
    softmax;
    log_softmax;
}

/// 2-D pooling over NHWC windows (`tf.nn.max_pool`'s signature).
macro_rules! pools {
    ($($f:ident $op:literal;)*) => { bindings! { register register_pools; $(
        #[pyo3(signature = (input, ksize, strides, padding, data_format=None, name=None))]
        fn $f(input: Operand, ksize: Axes, strides: Axes, padding: &str, data_format: Option<&str>, name: Option<Name>) -> Tensor {
            let k = ops::window_2d($op, "ksize", &ksize.0)?;
            let s = ops::window_2d($op, "strides", &strides.0)?;
            let padding = ops::Padding::for_nhwc($op, padding, data_format)?;
        } => (input.numel()) [input] ops::$f(&input, k, s, padding);
    )*}};
}
pools! {
    max_pool2d "MaxPool";
    avg_pool2d "AvgPool";
}

/// `tf.tensordot`'s `axes`: an int n (a's last n axes with b's first n) or
/// a pair of axis lists.
fn contraction_axes(
    a: &Tensor,
    b: &Tensor,
    axes: &Bound<'_, PyAny>,
) -> PyResult<(Vec<i64>, Vec<i64>)> {
    if let Ok(n) = axes.extract::<i64>() {
        return Ok(ops::tensordot_axes(a, b, n)?);
    }
    let pair: Vec<Bound<'_, PyAny>> = axes.try_iter()?.collect::<PyResult<_>>()?;
    if pair.len() != 2 {
        return Err(PyValueError::new_err(
            "axes must be an int or a pair of axis lists",
        ));
    }
    Ok((int_list(&pair[0])?, int_list(&pair[1])?))
}

// --- indexing by [] --------------------------------------------------------

/// One entry of a `[]` key, as the core's `KeyItem`.
fn key_item(obj: &Bound<'_, PyAny>) -> PyResult<ops::KeyItem> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PySlice};
    if obj.is_none() {
        return Ok(ops::KeyItem::NewAxis);
    }
    if obj.is(obj.py().Ellipsis().bind(obj.py())) {
        return Ok(ops::KeyItem::Ellipsis);
    }
    if let Ok(s) = obj.cast::<PySlice>() {
        let (mut start, mut stop, mut step) = (0, 0, 0);
        // SAFETY: `s` is a live slice object and the out-pointers are locals.
        // CPython's unpacking: open ends become ±isize::MAX, bounds are
        // clipped to isize (what the core's `KeyItem::Slice` takes), a zero
        // step raises ValueError.
        if unsafe { pyo3::ffi::PySlice_Unpack(s.as_ptr(), &mut start, &mut stop, &mut step) } < 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        let [start, stop, step] = [start, stop, step].map(|i| i as i64);
        return Ok(ops::KeyItem::Slice { start, stop, step });
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return Ok(ops::KeyItem::Index(obj.extract()?));
    }
    let invalid = || {
        PyTypeError::new_err(format!(
            "Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and integer tensors are valid indices, got {}",
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    };
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyFloat>() {
        return Err(invalid());
    }
    let t = to_tensor(obj, None).map_err(|_| invalid())?;
    let item = ops::KeyItem::from_tensor(t.clone()).ok_or_else(invalid)?;
    if let ops::KeyItem::Index(_) = item {
        crate::trace::guard_value(&t);
    }
    Ok(item)
}

/// `x[key]` (`ops::getitem` has the semantics).
pub fn getitem(x: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let (py, raw_key) = (key.py(), key);
    let key: Vec<ops::KeyItem> = match key.cast::<PyTuple>() {
        Ok(t) => t
            .iter()
            .map(|item| key_item(&item))
            .collect::<PyResult<_>>()?,
        Err(_) => vec![key_item(key)?],
    };
    // (Python's error class for this one, checked before the core's)
    if key
        .iter()
        .filter(|i| matches!(i, ops::KeyItem::Ellipsis))
        .count()
        > 1
    {
        return Err(PyValueError::new_err(
            "Multiple ellipses in slice spec not allowed",
        ));
    }
    super::describe(py, "getitem", || Ok(vec![("key", raw_key.clone())]))?;
    let mut inputs = vec![x.clone()];
    let key = crate::trace::Skeleton::of(&key, &mut inputs);
    let step = move |xs: &[Tensor]| match xs.split_first() {
        Some((x, rest)) => ops::getitem(x, &key.rebuild(&mut rest.iter())),
        None => Err(Error::invalid("StridedSlice", "no tensor to index")),
    };
    Ok(super::run_traced(py, x.numel(), "getitem", inputs, step)?.lift())
}

/// The rows of `x` (`for row in tensor`).
pub fn rows(py: Python<'_>, x: &Tensor) -> PyResult<Vec<PyTensor>> {
    if x.rank() == 0 {
        return Err(PyTypeError::new_err("Cannot iterate over a scalar tensor."));
    }
    let step = |xs: &[Tensor]| ops::unstack(&xs[0], 0);
    Ok(super::run_traced(py, x.numel(), "unstack", vec![x.clone()], step)?.lift())
}
