//! Op bindings: one callable per registry row, plus the irregular ops whose
//! arguments need parsing (axes, shapes, flags, dtypes).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::convert::{dtype_from_py, operands, to_tensor};
use super::run;
use super::tensor::PyTensor;
use crate::dtype::DType;
use crate::ops::{self, OpFn, OpInfo};
use crate::tensor::Tensor;

// A registry op as a Python callable: `tapegrad.exp(x)`, `tapegrad.add(x, y)`.
// Deliberately a `//` comment, not `///`: pyo3 stores a struct's doc comment
// as the type's `__doc__` entry, which shadows the `__doc__` getter below, so
// every op instance would report this text instead of its own `OpInfo.doc`.
#[pyclass(frozen, name = "Op", module = "tapegrad._core")]
pub struct PyOp {
    info: OpInfo,
}

#[pymethods]
impl PyOp {
    #[pyo3(signature = (*args, name=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let _ = name;
        if args.len() != self.info.arity {
            return Err(PyTypeError::new_err(format!(
                "{}() takes {} positional argument(s) but {} were given",
                self.info.name,
                self.info.arity,
                args.len()
            )));
        }
        let items: Vec<Bound<'_, PyAny>> = args.iter().collect();
        let refs: Vec<&Bound<'_, PyAny>> = items.iter().collect();
        let xs = operands(&refs)?;
        let work = xs.iter().map(Tensor::numel).max().unwrap_or(0);
        let out = match self.info.kernel {
            OpFn::Unary(f) => run(py, work, || f(&xs[0]))?,
            OpFn::Binary(f) => run(py, work, || f(&xs[0], &xs[1]))?,
        };
        Ok(PyTensor::new(out))
    }

    #[getter]
    fn __name__(&self) -> &'static str {
        self.info.name
    }

    #[getter]
    fn __doc__(&self) -> &'static str {
        self.info.doc
    }

    #[getter]
    fn arity(&self) -> usize {
        self.info.arity
    }

    #[getter]
    fn differentiable(&self) -> bool {
        self.info.differentiable
    }

    #[getter]
    fn domain(&self) -> &'static str {
        self.info.domain
    }

    #[getter]
    fn dtypes(&self) -> &'static str {
        self.info.dtypes
    }

    fn __repr__(&self) -> String {
        format!("<tapegrad op {}>", self.info.name)
    }
}

/// `{name: Op}` for every registry row.
pub fn registry(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for info in ops::registry() {
        d.set_item(info.name, Bound::new(py, PyOp { info })?)?;
    }
    Ok(d)
}

/// An axis or shape argument: an int, a sequence of ints, or an int tensor.
fn int_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if obj.is_instance_of::<pyo3::types::PyInt>()
        && let Ok(v) = obj.extract::<i64>()
    {
        return Ok(vec![v]);
    }
    // A list or tuple of plain ints (the usual shape argument) without a
    // detour through a tensor: that conversion was most of a reshape's cost.
    if let Ok(seq) = obj.cast::<pyo3::types::PyTuple>() {
        if let Some(v) = plain_ints(seq.iter()) {
            return Ok(v);
        }
    } else if let Ok(seq) = obj.cast::<pyo3::types::PyList>()
        && let Some(v) = plain_ints(seq.iter())
    {
        return Ok(v);
    }
    let t = to_tensor(obj, None)?;
    if t.numel() == 0 && t.rank() == 1 {
        return Ok(Vec::new()); // `[]` or `()`: the shape of a scalar
    }
    if !t.dtype().is_int() || t.rank() > 1 {
        return Err(PyTypeError::new_err(format!(
            "expected an int or a list of ints, got {} of dtype {}",
            obj.repr()?,
            t.dtype().name()
        )));
    }
    let t = ops::cast(&t, DType::I64)?;
    Ok(t.array::<i64>()
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default())
}

/// The values when every item is an exact Python int in i64 range.
fn plain_ints<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>) -> Option<Vec<i64>> {
    items
        .map(|item| {
            if item.is_exact_instance_of::<pyo3::types::PyInt>() {
                item.extract::<i64>().ok()
            } else {
                None
            }
        })
        .collect()
}

fn usize_shape(obj: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    int_list(obj)?
        .into_iter()
        .map(|d| {
            usize::try_from(d)
                .map_err(|_| PyValueError::new_err(format!("negative dimension {d} in shape")))
        })
        .collect()
}

fn axes(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i64>>> {
    obj.filter(|a| !a.is_none()).map(int_list).transpose()
}

fn dtype_or(obj: Option<&Bound<'_, PyAny>>, default: DType) -> PyResult<DType> {
    obj.filter(|d| !d.is_none())
        .map(dtype_from_py)
        .transpose()
        .map(|d| d.unwrap_or(default))
}

/// Matrix product of the last two axes, batch axes broadcast (TF's `tf.linalg.matmul`); `transpose_a/b` transpose first. d/da = g·bᵀ, d/db = aᵀ·g.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
/// >>> print(tf.matmul(a, a, transpose_b=True))
/// tapegrad.Tensor(
/// [[ 5. 11.]
///  [11. 25.]], shape=(2, 2), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (a, b, transpose_a=false, transpose_b=false, adjoint_a=false, adjoint_b=false, a_is_sparse=false, b_is_sparse=false, output_type=None, name=None))]
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    transpose_a: bool,
    transpose_b: bool,
    adjoint_a: bool,
    adjoint_b: bool,
    a_is_sparse: bool,
    b_is_sparse: bool,
    output_type: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    // sparsity hints change nothing here; adjoint = transpose for real dtypes
    let _ = (a_is_sparse, b_is_sparse, output_type, name);
    let xs = operands(&[a, b])?;
    let (ta, tb) = (transpose_a || adjoint_a, transpose_b || adjoint_b);
    let work = xs[0].numel().max(xs[1].numel());
    Ok(PyTensor::new(run(py, work, || {
        ops::matmul(&xs[0], &xs[1], ta, tb)
    })?))
}

/// Permutes the axes by `perm` (default: reversed).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.transpose(tf.constant([[1, 2, 3], [4, 5, 6]])))
/// tapegrad.Tensor(
/// [[1 4]
///  [2 5]
///  [3 6]], shape=(3, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (a, perm=None, conjugate=false, name=None))]
pub fn transpose(
    a: &Bound<'_, PyAny>,
    perm: Option<&Bound<'_, PyAny>>,
    conjugate: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = (conjugate, name);
    let x = to_tensor(a, None)?;
    let perm = axes(perm)?;
    Ok(PyTensor::new(ops::transpose(&x, perm.as_deref())?))
}

/// Same elements, new shape; one entry may be -1 (inferred).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.reshape(tf.range(6), [2, -1]))
/// tapegrad.Tensor(
/// [[0 1 2]
///  [3 4 5]], shape=(2, 3), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (tensor, shape, name=None))]
pub fn reshape(
    tensor: &Bound<'_, PyAny>,
    shape: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(tensor, None)?;
    Ok(PyTensor::new(ops::reshape(&x, &int_list(shape)?)?))
}

/// Sum over `axis` (all axes when None); `keepdims` keeps them as size 1.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> x = tf.constant([[1, 2], [3, 4]])
/// >>> print(tf.reduce_sum(x))
/// tapegrad.Tensor(10, shape=(), dtype=int32)
/// >>> print(tf.reduce_sum(x, axis=0))
/// tapegrad.Tensor([4 6], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input_tensor, axis=None, keepdims=false, name=None))]
pub fn reduce_sum(
    py: Python<'_>,
    input_tensor: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    keepdims: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input_tensor, None)?;
    let axis = axes(axis)?;
    Ok(PyTensor::new(run(py, x.numel(), || {
        ops::reduce_sum(&x, axis.as_deref(), keepdims)
    })?))
}

/// Mean over `axis` (all axes when None); integer tensors give a truncated integer mean, as in TF.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.reduce_mean(tf.constant([[1.0, 2.0], [3.0, 5.0]]), axis=1))
/// tapegrad.Tensor([1.5 4. ], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input_tensor, axis=None, keepdims=false, name=None))]
pub fn reduce_mean(
    py: Python<'_>,
    input_tensor: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    keepdims: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input_tensor, None)?;
    let axis = axes(axis)?;
    Ok(PyTensor::new(run(py, x.numel(), || {
        ops::reduce_mean(&x, axis.as_deref(), keepdims)
    })?))
}

/// `tf.norm`: ord 'euclidean'/'fro', 1, 2, inf or any p > 0 (vectors);
/// 'fro', 1 or inf over a pair of axes (matrices).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.norm(tf.constant([3.0, 4.0])))
/// tapegrad.Tensor(5.0, shape=(), dtype=float32)
/// >>> print(tf.norm(tf.constant([3.0, -4.0]), ord=1))
/// tapegrad.Tensor(7.0, shape=(), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (tensor, ord=None, axis=None, keepdims=None, name=None))]
pub fn norm(
    py: Python<'_>,
    tensor: &Bound<'_, PyAny>,
    ord: Option<&Bound<'_, PyAny>>,
    axis: Option<&Bound<'_, PyAny>>,
    keepdims: Option<bool>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(tensor, None)?;
    let axis = axes(axis)?;
    let keep = keepdims.unwrap_or(false);
    let ord = match ord.filter(|o| !o.is_none()) {
        None => ops::NormOrd::Euclidean,
        Some(o) => match o.extract::<String>() {
            Ok(s) if s == "euclidean" || s == "fro" => ops::NormOrd::Euclidean,
            Ok(s) => {
                return Err(PyValueError::new_err(format!(
                    "norm: ord={s:?} is not supported; use 'euclidean', 'fro', 1, 2, inf or a positive number"
                )));
            }
            Err(_) => match o.extract::<f64>()? {
                p if p == f64::INFINITY => ops::NormOrd::Inf,
                p => ops::NormOrd::P(p),
            },
        },
    };
    Ok(PyTensor::new(run(py, x.numel(), || {
        ops::norm(&x, ord, axis.as_deref(), keep)
    })?))
}

/// Converts to `dtype`; float → int truncates toward zero. The gradient flows between float dtypes only.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.cast(tf.constant([1.7, -1.7]), tf.int32))
/// tapegrad.Tensor([ 1 -1], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (x, dtype, name=None))]
pub fn cast(
    x: &Bound<'_, PyAny>,
    dtype: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let t = to_tensor(x, None)?;
    Ok(PyTensor::new(ops::cast(&t, dtype_from_py(dtype)?)?))
}

/// A tensor with the same value; the gradient passes through unchanged.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.identity(tf.constant([1, 2])))
/// tapegrad.Tensor([1 2], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, name=None))]
pub fn identity(input: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::identity(&to_tensor(input, None)?)?))
}

/// The same value, but no gradient flows back through it.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> x = tf.constant(3.0)
/// >>> with tf.GradientTape() as tape:
/// ...     tape.watch(x)
/// ...     y = x * tf.stop_gradient(x)
/// ...
/// >>> print(tape.gradient(y, x))
/// tapegrad.Tensor(3.0, shape=(), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, name=None))]
pub fn stop_gradient(
    input: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::stop_gradient(&to_tensor(input, None)?)))
}

/// Broadcasts to `shape` by numpy rules; the gradient sums back over the broadcast axes.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.broadcast_to(tf.constant([1, 2]), [2, 2]))
/// tapegrad.Tensor(
/// [[1 2]
///  [1 2]], shape=(2, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, shape, name=None))]
pub fn broadcast_to(
    input: &Bound<'_, PyAny>,
    shape: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(ops::broadcast_to(&x, &usize_shape(shape)?)?))
}

/// `tf.where(condition, x, y)`: elementwise select with broadcasting.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> c = tf.constant([True, False, True])
/// >>> print(tf.where(c, tf.constant([1, 2, 3]), tf.constant([-1, -2, -3])))
/// tapegrad.Tensor([ 1 -2  3], shape=(3,), dtype=int32)
/// >>> print(tf.where(c))
/// tapegrad.Tensor(
/// [[0]
///  [2]], shape=(2, 1), dtype=int64)
///
/// ```
#[pyfunction]
#[pyo3(name = "where", signature = (condition, x=None, y=None, name=None))]
pub fn where_(
    condition: &Bound<'_, PyAny>,
    x: Option<&Bound<'_, PyAny>>,
    y: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let (x, y) = (x.filter(|v| !v.is_none()), y.filter(|v| !v.is_none()));
    let (Some(x), Some(y)) = (x, y) else {
        if x.is_some() || y.is_some() {
            return Err(PyValueError::new_err(
                "where: x and y must both be given, or neither",
            ));
        }
        // one argument: the coordinates of the true elements
        return Ok(PyTensor::new(ops::nonzero(&to_tensor(condition, None)?)?));
    };
    let c = to_tensor(condition, Some(DType::Bool))?;
    let xs = operands(&[x, y])?;
    Ok(PyTensor::new(ops::where_(&c, &xs[0], &xs[1])?))
}

/// `tf.constant` / `tf.convert_to_tensor`: TF's dtype inference; with
/// `dtype`, values are cast (a float to an int dtype is refused).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.constant([[1.0, 2.0]]))
/// tapegrad.Tensor([[1. 2.]], shape=(1, 2), dtype=float32)
/// >>> print(tf.constant(7, shape=[2], dtype=tf.int64))
/// tapegrad.Tensor([7 7], shape=(2,), dtype=int64)
///
/// ```
#[pyfunction]
#[pyo3(signature = (value, dtype=None, shape=None, name=None))]
pub fn constant(
    value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    shape: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let dtype = dtype
        .filter(|d| !d.is_none())
        .map(dtype_from_py)
        .transpose()?;
    let mut t = crate::tape::without_recording(|| to_tensor(value, dtype))?;
    if let Some(d) = dtype {
        t = ops::cast(&t, d)?;
    }
    // a constant is a new tensor, never a handle on the value it came from
    t = ops::stop_gradient(&t);
    if let Some(shape) = shape.filter(|s| !s.is_none()) {
        let shape = usize_shape(shape)?;
        t = if t.numel() == 1 {
            ops::broadcast_to(&ops::reshape_to(&t, &[])?, &shape)?
        } else {
            ops::reshape_to(&t, &shape)?
        };
    }
    Ok(PyTensor::new(t))
}

/// `value` as a Tensor (tensors and variables pass through); `dtype_hint` is used only when the value has no dtype of its own.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.convert_to_tensor([1, 2], dtype_hint=tf.float64))
/// tapegrad.Tensor([1. 2.], shape=(2,), dtype=float64)
///
/// ```
#[pyfunction]
#[pyo3(signature = (value, dtype=None, dtype_hint=None, name=None))]
pub fn convert_to_tensor(
    value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    dtype_hint: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    if let Ok(t) = value.cast::<PyTensor>() {
        let t = t.get().tensor();
        if let Some(d) = dtype.filter(|d| !d.is_none()) {
            let d = dtype_from_py(d)?;
            if d != t.dtype() {
                return Err(PyValueError::new_err(format!(
                    "Tensor conversion requested dtype {} for Tensor with dtype {}",
                    d.name(),
                    t.dtype().name()
                )));
            }
        }
        return Ok(PyTensor::new(t.clone()));
    }
    let dtype = dtype
        .filter(|d| !d.is_none())
        .map(dtype_from_py)
        .transpose()?;
    let hint = dtype_hint
        .filter(|d| !d.is_none())
        .map(dtype_from_py)
        .transpose()?;
    let t = to_tensor(value, dtype.or(hint))?;
    Ok(PyTensor::new(match dtype {
        Some(d) => ops::cast(&t, d)?,
        None => t,
    }))
}

/// A tensor of zeros of `shape` (float32 by default).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.zeros([2, 2]))
/// tapegrad.Tensor(
/// [[0. 0.]
///  [0. 0.]], shape=(2, 2), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (shape, dtype=None, name=None))]
pub fn zeros(
    shape: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::zeros(
        dtype_or(dtype, DType::F32)?,
        &usize_shape(shape)?,
    )?))
}

/// A tensor of ones of `shape` (float32 by default).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.ones([3], dtype=tf.int32))
/// tapegrad.Tensor([1 1 1], shape=(3,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (shape, dtype=None, name=None))]
pub fn ones(
    shape: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::ones(
        dtype_or(dtype, DType::F32)?,
        &usize_shape(shape)?,
    )?))
}

fn seed_arg(seed: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    seed.filter(|s| !s.is_none())
        .map(|s| s.extract::<i64>().map(|v| v as u64))
        .transpose()
}

/// Samples from N(mean, stddev²); repeatable after `tf.random.set_seed`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> tf.random.set_seed(0)
/// >>> x = tf.random.normal([2, 3], dtype=tf.float64)
/// >>> print(x.shape, x.dtype)
/// (2, 3) <dtype: 'float64'>
///
/// ```
#[pyfunction]
#[pyo3(signature = (shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None))]
pub fn random_normal(
    py: Python<'_>,
    shape: &Bound<'_, PyAny>,
    mean: f64,
    stddev: f64,
    dtype: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    normal_like(py, shape, mean, stddev, dtype, seed, ops::random::normal)
}

/// A normal-distribution sampler of `ops::random`: shape, mean, stddev, dtype, seed.
type NormalSampler = fn(&[usize], f64, f64, DType, Option<u64>) -> crate::error::Result<Tensor>;

/// The argument handling shared by the normal-distribution samplers.
fn normal_like(
    py: Python<'_>,
    shape: &Bound<'_, PyAny>,
    mean: f64,
    stddev: f64,
    dtype: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
    sample: NormalSampler,
) -> PyResult<PyTensor> {
    let shape = usize_shape(shape)?;
    let dtype = dtype_or(dtype, DType::F32)?;
    let seed = seed_arg(seed)?;
    let n = shape.iter().product();
    Ok(PyTensor::new(run(py, n, || {
        sample(&shape, mean, stddev, dtype, seed)
    })?))
}

/// Samples uniformly from [minval, maxval); repeatable after `tf.random.set_seed`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> tf.random.set_seed(0)
/// >>> x = tf.random.uniform([1000], minval=2.0, maxval=3.0)
/// >>> print(bool(tf.reduce_all((x >= 2.0) & (x < 3.0))))
/// True
///
/// ```
#[pyfunction]
#[pyo3(signature = (shape, minval=0.0, maxval=None, dtype=None, seed=None, name=None))]
pub fn random_uniform(
    py: Python<'_>,
    shape: &Bound<'_, PyAny>,
    minval: f64,
    maxval: Option<f64>,
    dtype: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let shape = usize_shape(shape)?;
    let dtype = dtype_or(dtype, DType::F32)?;
    let maxval = match maxval {
        Some(m) => m,
        None if dtype.is_float() => 1.0,
        None => {
            return Err(PyValueError::new_err(
                "Must specify maxval for integer dtype",
            ));
        }
    };
    let seed = seed_arg(seed)?;
    let n = shape.iter().product();
    Ok(PyTensor::new(run(py, n, || {
        ops::random::uniform(&shape, minval, maxval, dtype, seed)
    })?))
}

/// Seeds the global generator: the random ops that follow repeat their values.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> tf.random.set_seed(42)
/// >>> a = tf.random.uniform([3])
/// >>> tf.random.set_seed(42)
/// >>> b = tf.random.uniform([3])
/// >>> print(bool(tf.reduce_all(a == b)))
/// True
///
/// ```
#[pyfunction]
pub fn set_seed(seed: Option<i64>) {
    ops::random::set_seed(seed.map(|s| s as u64));
}

/// Reductions sharing `tf.reduce_sum`'s signature.
macro_rules! reductions {
    ($($(#[doc = $doc:literal])* $name:ident),*) => {$(
        $(#[doc = $doc])*
        #[pyfunction]
        #[pyo3(signature = (input_tensor, axis=None, keepdims=false, name=None))]
        pub fn $name(
            py: Python<'_>,
            input_tensor: &Bound<'_, PyAny>,
            axis: Option<&Bound<'_, PyAny>>,
            keepdims: bool,
            name: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<PyTensor> {
            let _ = name;
            let x = to_tensor(input_tensor, None)?;
            let axis = axes(axis)?;
            Ok(PyTensor::new(run(py, x.numel(), || {
                ops::$name(&x, axis.as_deref(), keepdims)
            })?))
        }
    )*};
}
reductions!(
    /// √(Σ x²) over `axis` (all axes when None).
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.math.reduce_euclidean_norm(tf.constant([[3.0, 4.0], [6.0, 8.0]]), axis=1))
    /// tapegrad.Tensor([ 5. 10.], shape=(2,), dtype=float32)
    ///
    /// ```
    reduce_euclidean_norm,
    /// Maximum over `axis` (all axes when None); the gradient is shared equally among tied maxima, as in TF.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> x = tf.constant([[1, 5], [7, 2]])
    /// >>> print(tf.reduce_max(x))
    /// tapegrad.Tensor(7, shape=(), dtype=int32)
    /// >>> print(tf.reduce_max(x, axis=1, keepdims=True))
    /// tapegrad.Tensor(
    /// [[5]
    ///  [7]], shape=(2, 1), dtype=int32)
    ///
    /// ```
    reduce_max,
    /// Minimum over `axis` (all axes when None); the gradient is shared equally among tied minima.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.reduce_min(tf.constant([[1, 5], [7, 2]]), axis=0))
    /// tapegrad.Tensor([1 2], shape=(2,), dtype=int32)
    ///
    /// ```
    reduce_min,
    /// Product over `axis` (all axes when None).
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.reduce_prod(tf.constant([[1.0, 2.0], [3.0, 4.0]]), axis=1))
    /// tapegrad.Tensor([ 2. 12.], shape=(2,), dtype=float32)
    ///
    /// ```
    reduce_prod,
    /// log Σ eˣ over `axis`, computed as m + log Σ e^(x − m) with m the max, so large inputs do not overflow; the gradient is softmax(x).
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.reduce_logsumexp(tf.constant([1000.0, 1000.0])))
    /// tapegrad.Tensor(1000.6932, shape=(), dtype=float32)
    ///
    /// ```
    reduce_logsumexp,
    /// Population variance (divides by n) over `axis`.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.math.reduce_variance(tf.constant([1.0, 2.0, 3.0, 4.0])))
    /// tapegrad.Tensor(1.25, shape=(), dtype=float32)
    ///
    /// ```
    reduce_variance,
    /// Population standard deviation (√ of `reduce_variance`) over `axis`.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.math.reduce_std(tf.constant([1.0, 3.0])))
    /// tapegrad.Tensor(1.0, shape=(), dtype=float32)
    ///
    /// ```
    reduce_std,
    /// Logical or over `axis` of a bool tensor.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.reduce_any(tf.constant([[True, False], [False, False]]), axis=1))
    /// tapegrad.Tensor([ True False], shape=(2,), dtype=bool)
    ///
    /// ```
    reduce_any,
    /// Logical and over `axis` of a bool tensor.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> print(tf.reduce_all(tf.constant([[True, True], [True, False]]), axis=1))
    /// tapegrad.Tensor([ True False], shape=(2,), dtype=bool)
    ///
    /// ```
    reduce_all
);

/// The number of nonzero (or true) elements over `axis`, as int64.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.math.count_nonzero(tf.constant([[0, 1], [2, 0]]), axis=1))
/// tapegrad.Tensor([1 1], shape=(2,), dtype=int64)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, axis=None, keepdims=None, dtype=None, name=None))]
pub fn count_nonzero(
    input: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    keepdims: Option<bool>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(ops::count_nonzero(
        &x,
        axes(axis)?.as_deref(),
        keepdims.unwrap_or(false),
        dtype_or(dtype, DType::I64)?,
    )?))
}

/// Apply a last-axis op along `axis` by swapping that axis last and back.
fn along_axis(
    x: &Tensor,
    axis: i64,
    f: impl FnOnce(&Tensor) -> crate::error::Result<Tensor>,
) -> PyResult<Tensor> {
    let r = x.rank();
    let ax = crate::shape::normalize_axis("sort", axis, r.max(1))?;
    if r == 0 || ax == r - 1 {
        return Ok(f(x)?);
    }
    let mut perm: Vec<i64> = (0..r as i64).collect();
    perm.swap(ax, r - 1);
    let out = f(&ops::transpose(x, Some(&perm))?)?;
    Ok(ops::transpose(&out, Some(&perm))?)
}

fn descending(direction: &str) -> PyResult<bool> {
    match direction {
        "ASCENDING" => Ok(false),
        "DESCENDING" => Ok(true),
        _ => Err(PyValueError::new_err(format!(
            "`direction` must be 'ASCENDING' or 'DESCENDING', got {direction:?}"
        ))),
    }
}

/// Sorted values along `axis` (ascending, or `direction="DESCENDING"`); the gradient scatters back to the original positions.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.sort(tf.constant([3, 1, 2]), direction="DESCENDING"))
/// tapegrad.Tensor([3 2 1], shape=(3,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(
    signature = (values, axis=-1, direction="ASCENDING", name=None),
    text_signature = "(values, axis=-1, direction='ASCENDING', name=None)"
)]
pub fn sort(
    values: &Bound<'_, PyAny>,
    axis: i64,
    direction: &str,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(values, None)?;
    let desc = descending(direction)?;
    Ok(PyTensor::new(along_axis(&x, axis, |t| ops::sort(t, desc))?))
}

/// Indices (int32) that sort `values` along `axis`; stable.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.argsort(tf.constant([3.0, 1.0, 2.0])))
/// tapegrad.Tensor([1 2 0], shape=(3,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(
    signature = (values, axis=-1, direction="ASCENDING", stable=false, name=None),
    text_signature = "(values, axis=-1, direction='ASCENDING', stable=False, name=None)"
)]
pub fn argsort(
    values: &Bound<'_, PyAny>,
    axis: i64,
    direction: &str,
    stable: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = (name, stable); // always stable
    let x = to_tensor(values, None)?;
    let desc = descending(direction)?;
    let idx = along_axis(&x, axis, |t| ops::argsort(t, desc))?;
    Ok(PyTensor::new(ops::cast(&idx, DType::I32)?))
}

/// The `k` largest values along the last axis and their int32 indices, largest first.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> values, indices = tf.math.top_k(tf.constant([1.0, 5.0, 3.0]), k=2)
/// >>> print(values)
/// tapegrad.Tensor([5. 3.], shape=(2,), dtype=float32)
/// >>> print(indices)
/// tapegrad.Tensor([1 2], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, k=1, sorted=true, index_type=None, name=None))]
pub fn top_k(
    input: &Bound<'_, PyAny>,
    k: usize,
    sorted: bool,
    index_type: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<(PyTensor, PyTensor)> {
    let _ = (name, sorted); // always sorted
    let x = to_tensor(input, None)?;
    let (v, i) = ops::top_k(&x, k)?;
    let i = ops::cast(&i, dtype_or(index_type, DType::I32)?)?;
    Ok((PyTensor::new(v), PyTensor::new(i)))
}

/// One axis argument (an int, or a one-element list or tensor).
fn one_axis(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    match int_list(obj)?.as_slice() {
        [a] => Ok(*a),
        other => Err(PyValueError::new_err(format!(
            "expected a single axis, got {other:?}"
        ))),
    }
}

fn opt_axis(obj: Option<&Bound<'_, PyAny>>, default: i64) -> PyResult<i64> {
    match obj.filter(|a| !a.is_none()) {
        Some(a) => one_axis(a),
        None => Ok(default),
    }
}

/// Index (int64 by default) of the largest value along `axis` (default 0); the first one on ties.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.argmax(tf.constant([[1, 9], [8, 2]])))
/// tapegrad.Tensor([1 0], shape=(2,), dtype=int64)
/// >>> print(tf.argmax(tf.constant([[1, 9], [8, 2]]), axis=1))
/// tapegrad.Tensor([1 0], shape=(2,), dtype=int64)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, axis=None, output_type=None, name=None))]
pub fn argmax(
    input: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    output_type: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    let dtype = dtype_or(output_type, DType::I64)?;
    Ok(PyTensor::new(ops::argmax(&x, opt_axis(axis, 0)?, dtype)?))
}

/// Index (int64 by default) of the smallest value along `axis` (default 0); the first one on ties.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.argmin(tf.constant([[1, 9], [8, 2]]), axis=1))
/// tapegrad.Tensor([0 1], shape=(2,), dtype=int64)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, axis=None, output_type=None, name=None))]
pub fn argmin(
    input: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    output_type: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    let dtype = dtype_or(output_type, DType::I64)?;
    Ok(PyTensor::new(ops::argmin(&x, opt_axis(axis, 0)?, dtype)?))
}

/// Running sum along `axis`; `exclusive` starts from 0, `reverse` runs from the end.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.cumsum(tf.constant([1, 2, 3])))
/// tapegrad.Tensor([1 3 6], shape=(3,), dtype=int32)
/// >>> print(tf.cumsum(tf.constant([1, 2, 3]), exclusive=True))
/// tapegrad.Tensor([0 1 3], shape=(3,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (x, axis=None, exclusive=false, reverse=false, name=None))]
pub fn cumsum(
    x: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    exclusive: bool,
    reverse: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let t = to_tensor(x, None)?;
    Ok(PyTensor::new(ops::cumsum(
        &t,
        opt_axis(axis, 0)?,
        exclusive,
        reverse,
    )?))
}

/// Running product along `axis`; `exclusive` starts from 1, `reverse` runs from the end.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.math.cumprod(tf.constant([1.0, 2.0, 3.0])))
/// tapegrad.Tensor([1. 2. 6.], shape=(3,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (x, axis=None, exclusive=false, reverse=false, name=None))]
pub fn cumprod(
    x: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    exclusive: bool,
    reverse: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let t = to_tensor(x, None)?;
    Ok(PyTensor::new(ops::cumprod(
        &t,
        opt_axis(axis, 0)?,
        exclusive,
        reverse,
    )?))
}

/// Clips to [clip_value_min, clip_value_max] elementwise; the gradient flows where the value was not clipped.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.clip_by_value(tf.constant([-2.0, 0.5, 3.0]), 0.0, 1.0))
/// tapegrad.Tensor([0.  0.5 1. ], shape=(3,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (t, clip_value_min, clip_value_max, name=None))]
pub fn clip_by_value(
    t: &Bound<'_, PyAny>,
    clip_value_min: &Bound<'_, PyAny>,
    clip_value_max: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = operands(&[t, clip_value_min, clip_value_max])?;
    Ok(PyTensor::new(ops::clip_by_value(&xs[0], &xs[1], &xs[2])?))
}

/// Inserts an axis of size 1 at `axis` (negative counts from the end).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.expand_dims(tf.constant([1, 2]), 0).shape)
/// (1, 2)
/// >>> print(tf.expand_dims(tf.constant([1, 2]), -1).shape)
/// (2, 1)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, axis, name=None))]
pub fn expand_dims(
    input: &Bound<'_, PyAny>,
    axis: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(ops::expand_dims(&x, one_axis(axis)?)?))
}

/// Removes the size-1 axes (all, or those listed in `axis`).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.squeeze(tf.zeros([1, 3, 1])).shape)
/// (3,)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, axis=None, name=None))]
pub fn squeeze(
    input: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(ops::squeeze(&x, axes(axis)?.as_deref())?))
}

/// A list (or tuple) of tensor-likes, converted with TF's dtype hint rule.
fn tensor_list(values: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    if values.cast::<PyTensor>().is_ok() {
        // a tensor passed as the list: its rows
        let t = to_tensor(values, None)?;
        return Ok(ops::unstack(&t, 0)?);
    }
    let items: Vec<Bound<'_, PyAny>> = values.try_iter()?.collect::<PyResult<_>>()?;
    let refs: Vec<&Bound<'_, PyAny>> = items.iter().collect();
    operands(&refs)
}

/// Joins tensors along an existing `axis`; the gradient splits back.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.concat([tf.constant([[1, 2]]), tf.constant([[3, 4]])], axis=0))
/// tapegrad.Tensor(
/// [[1 2]
///  [3 4]], shape=(2, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (values, axis, name=None))]
pub fn concat(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    axis: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = tensor_list(values)?;
    let axis = one_axis(axis)?;
    let work = xs.iter().map(Tensor::numel).sum();
    Ok(PyTensor::new(run(py, work, || ops::concat(&xs, axis))?))
}

/// Joins same-shape tensors along a new `axis`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.stack([tf.constant([1, 2]), tf.constant([3, 4])], axis=1))
/// tapegrad.Tensor(
/// [[1 3]
///  [2 4]], shape=(2, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (values, axis=0, name=None))]
pub fn stack(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    axis: i64,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = tensor_list(values)?;
    let work = xs.iter().map(Tensor::numel).sum();
    Ok(PyTensor::new(run(py, work, || ops::stack(&xs, axis))?))
}

/// Splits a tensor along `axis` (default 0) into a list of tensors of one rank less.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> for row in tf.unstack(tf.constant([[1, 2], [3, 4]])):
/// ...     print(row)
/// ...
/// tapegrad.Tensor([1 2], shape=(2,), dtype=int32)
/// tapegrad.Tensor([3 4], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (value, num=None, axis=0, name=None))]
pub fn unstack(
    value: &Bound<'_, PyAny>,
    num: Option<usize>,
    axis: i64,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<PyTensor>> {
    let _ = name;
    let x = to_tensor(value, None)?;
    let parts = ops::unstack(&x, axis)?;
    if let Some(n) = num.filter(|&n| n != parts.len()) {
        return Err(crate::error::Error::invalid(
            "Unpack",
            format!(
                "num = {n} does not match the dimension {} being unstacked",
                parts.len()
            ),
        )
        .into());
    }
    Ok(parts.into_iter().map(PyTensor::new).collect())
}

/// Splits along `axis` into `num_or_size_splits` equal parts, or parts of the listed sizes.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> a, b = tf.split(tf.range(5), [2, 3])
/// >>> print(a)
/// tapegrad.Tensor([0 1], shape=(2,), dtype=int32)
/// >>> print(b)
/// tapegrad.Tensor([2 3 4], shape=(3,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (value, num_or_size_splits, axis=None, num=None, name=None))]
pub fn split(
    value: &Bound<'_, PyAny>,
    num_or_size_splits: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    num: Option<usize>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<PyTensor>> {
    let _ = (name, num);
    let x = to_tensor(value, None)?;
    let axis = opt_axis(axis, 0)?;
    let sizes = if let Ok(n) = num_or_size_splits.extract::<i64>() {
        // an even split into n pieces
        let ax = crate::shape::normalize_axis("Split", axis, x.rank().max(1))?;
        let d = x.shape().get(ax).copied().unwrap_or(0) as i64;
        // (an empty axis divides evenly any number of ways; cap the count of
        // outputs so that a huge one is an error, not an allocation abort)
        if n <= 0 || d % n != 0 || (d == 0 && n > 1 << 16) {
            return Err(crate::error::Error::invalid(
                "Split",
                format!("Number of ways to split should evenly divide the split dimension, but got split_dim {ax} (size = {d}) and num_split {n}"),
            )
            .into());
        }
        vec![d / n; n as usize]
    } else {
        int_list(num_or_size_splits)?
    };
    Ok(ops::split(&x, &sizes, axis)?
        .into_iter()
        .map(PyTensor::new)
        .collect())
}

/// Repeats the tensor `multiples[i]` times along axis i; the gradient sums the copies.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.tile(tf.constant([[1, 2]]), [2, 2]))
/// tapegrad.Tensor(
/// [[1 2 1 2]
///  [1 2 1 2]], shape=(2, 4), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, multiples, name=None))]
pub fn tile(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    multiples: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    let m = int_list(multiples)?;
    Ok(PyTensor::new(run(py, x.numel(), || ops::tile(&x, &m))?))
}

/// Pads with `constant_values` (only mode 'CONSTANT'): `paddings[i] = [before, after]` for axis i.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.pad(tf.constant([[1, 2]]), [[1, 0], [0, 1]]))
/// tapegrad.Tensor(
/// [[0 0 0]
///  [1 2 0]], shape=(2, 3), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (tensor, paddings, mode="CONSTANT", constant_values=0.0, name=None))]
pub fn pad(
    tensor: &Bound<'_, PyAny>,
    paddings: &Bound<'_, PyAny>,
    mode: &str,
    constant_values: f64,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    if !mode.eq_ignore_ascii_case("constant") {
        return Err(crate::error::Error::Unimplemented {
            op: "Pad",
            msg: format!("mode {mode:?} is not supported (only 'CONSTANT')"),
        }
        .into());
    }
    let x = to_tensor(tensor, None)?;
    let p = to_tensor(paddings, None)?;
    if !p.dtype().is_int() {
        return Err(PyTypeError::new_err("paddings must be integers"));
    }
    let flat: Vec<i64> = ops::cast(&p, DType::I64)?
        .array::<i64>()
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default();
    if p.rank() != 2 || p.shape()[1] != 2 || flat.iter().any(|&v| v < 0) {
        return Err(crate::error::Error::invalid(
            "Pad",
            format!(
                "paddings must be a non-negative matrix of shape [rank, 2], got shape {:?}",
                p.shape()
            ),
        )
        .into());
    }
    let pairs: Vec<(usize, usize)> = flat
        .chunks(2)
        .map(|c| (c[0] as usize, c[1] as usize))
        .collect();
    Ok(PyTensor::new(ops::pad(&x, &pairs, constant_values)?))
}

/// Reverses the order of elements along each axis in `axis`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.reverse(tf.constant([[1, 2], [3, 4]]), axis=[1]))
/// tapegrad.Tensor(
/// [[2 1]
///  [4 3]], shape=(2, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (tensor, axis, name=None))]
pub fn reverse(
    tensor: &Bound<'_, PyAny>,
    axis: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(tensor, None)?;
    Ok(PyTensor::new(ops::reverse(&x, &int_list(axis)?)?))
}

/// Slices of `params` at `indices` along `axis`; out-of-range indices raise InvalidArgumentError. The gradient scatter-adds back.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.gather(tf.constant([10, 20, 30]), [2, 0, 2]))
/// tapegrad.Tensor([30 10 30], shape=(3,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (params, indices, validate_indices=None, axis=None, batch_dims=0, name=None))]
pub fn gather(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    validate_indices: Option<&Bound<'_, PyAny>>,
    axis: Option<&Bound<'_, PyAny>>,
    batch_dims: i64,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = (name, validate_indices);
    let p = to_tensor(params, None)?;
    let i = to_tensor(indices, None)?;
    let axis = opt_axis(axis, batch_dims)?;
    let work = p.numel().max(i.numel());
    Ok(PyTensor::new(run(py, work, || {
        ops::gather(&p, &i, axis, batch_dims)
    })?))
}

/// Elements or slices of `params` at the index tuples in the last axis of `indices`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.gather_nd(tf.constant([[1, 2], [3, 4]]), [[1, 0], [0, 1]]))
/// tapegrad.Tensor([3 2], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (params, indices, batch_dims=0, name=None))]
pub fn gather_nd(
    params: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    batch_dims: usize,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let p = to_tensor(params, None)?;
    let i = to_tensor(indices, None)?;
    Ok(PyTensor::new(ops::gather_nd(&p, &i, batch_dims)?))
}

/// `on_value` at each index along a new axis of size `depth`, `off_value` elsewhere (float32 by default); out-of-range indices give all `off_value`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.one_hot(tf.constant([0, 2]), 3))
/// tapegrad.Tensor(
/// [[1. 0. 0.]
///  [0. 0. 1.]], shape=(2, 3), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None))]
#[allow(clippy::too_many_arguments)]
pub fn one_hot(
    indices: &Bound<'_, PyAny>,
    depth: usize,
    on_value: Option<&Bound<'_, PyAny>>,
    off_value: Option<&Bound<'_, PyAny>>,
    axis: Option<i64>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let i = to_tensor(indices, None)?;
    let value = |v: Option<&Bound<'_, PyAny>>| -> PyResult<Option<Tensor>> {
        v.filter(|v| !v.is_none())
            .map(|v| to_tensor(v, None))
            .transpose()
    };
    let (on, off) = (value(on_value)?, value(off_value)?);
    let inferred = on.as_ref().or(off.as_ref()).map(Tensor::dtype);
    let dtype = dtype_or(dtype, inferred.unwrap_or(DType::F32))?;
    let scalar = |t: Option<Tensor>, default: f64| t.and_then(|t| t.item_f64()).unwrap_or(default);
    Ok(PyTensor::new(ops::one_hot(
        &i,
        depth,
        scalar(on, 1.0),
        scalar(off, 0.0),
        axis.unwrap_or(-1),
        dtype,
    )?))
}

/// The elements (or slices) of `tensor` where `mask` is true, flattened over the mask's axes.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.boolean_mask(tf.constant([1, 2, 3]), tf.constant([True, False, True])))
/// tapegrad.Tensor([1 3], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (tensor, mask, axis=None, name=None))]
pub fn boolean_mask(
    tensor: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    axis: Option<i64>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(tensor, None)?;
    let m = to_tensor(mask, Some(DType::Bool))?;
    Ok(PyTensor::new(ops::boolean_mask(&x, &m, axis.unwrap_or(0))?))
}

fn int_tensor(values: Vec<i64>, shape: &[usize], dtype: DType) -> PyResult<Tensor> {
    if !dtype.is_int() {
        return Err(PyTypeError::new_err(format!(
            "out_type must be int32 or int64, got {}",
            dtype.name()
        )));
    }
    Ok(ops::cast(&Tensor::from_vec(shape, values)?, dtype)?)
}

/// The shape as a 1-D int32 tensor.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.shape(tf.zeros([2, 3])))
/// tapegrad.Tensor([2 3], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, out_type=None, name=None))]
pub fn shape(
    input: &Bound<'_, PyAny>,
    out_type: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    let dims: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
    let n = dims.len();
    Ok(PyTensor::new(int_tensor(
        dims,
        &[n],
        dtype_or(out_type, DType::I32)?,
    )?))
}

/// The number of elements as an int32 scalar tensor.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.size(tf.zeros([2, 3])))
/// tapegrad.Tensor(6, shape=(), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, out_type=None, name=None))]
pub fn size(
    input: &Bound<'_, PyAny>,
    out_type: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(int_tensor(
        vec![x.numel() as i64],
        &[],
        dtype_or(out_type, DType::I32)?,
    )?))
}

/// The number of axes as an int32 scalar tensor.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.rank(tf.zeros([2, 3])))
/// tapegrad.Tensor(2, shape=(), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, name=None))]
pub fn rank(input: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(Tensor::scalar(x.rank() as i32)))
}

/// A tensor of shape `dims` filled with `value` (its dtype follows the value).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.fill([2, 2], 7))
/// tapegrad.Tensor(
/// [[7 7]
///  [7 7]], shape=(2, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (dims, value, name=None))]
pub fn fill(
    dims: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let v = to_tensor(value, None)?;
    Ok(PyTensor::new(ops::fill(&usize_shape(dims)?, &v)?))
}

/// Zeros with the shape and dtype of `input` (or `dtype`).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.zeros_like(tf.constant([1.5, 2.5])))
/// tapegrad.Tensor([0. 0.], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, dtype=None, name=None))]
pub fn zeros_like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(ops::zeros(
        dtype_or(dtype, x.dtype())?,
        x.shape(),
    )?))
}

/// Ones with the shape and dtype of `input` (or `dtype`).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.ones_like(tf.constant([[1, 2]])))
/// tapegrad.Tensor([[1 1]], shape=(1, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, dtype=None, name=None))]
pub fn ones_like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(input, None)?;
    Ok(PyTensor::new(ops::ones(
        dtype_or(dtype, x.dtype())?,
        x.shape(),
    )?))
}

/// A scalar argument as (value, dtype): Python ints are int32, floats float32.
fn scalar_arg(obj: &Bound<'_, PyAny>) -> PyResult<(f64, DType)> {
    let t = to_tensor(obj, None)?;
    let v = t.item_f64().filter(|_| t.rank() == 0).ok_or_else(|| {
        PyValueError::new_err(format!("expected a scalar, got shape {:?}", t.shape()))
    })?;
    Ok((v, t.dtype()))
}

/// `start, start + delta, …` up to but excluding `limit` (`tf.range(n)` counts from 0); int32 for ints, float32 for floats.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.range(5))
/// tapegrad.Tensor([0 1 2 3 4], shape=(5,), dtype=int32)
/// >>> print(tf.range(1.0, 2.0, 0.25))
/// tapegrad.Tensor([1.   1.25 1.5  1.75], shape=(4,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(name = "range", signature = (start, limit=None, delta=None, dtype=None, name=None))]
pub fn range_(
    start: &Bound<'_, PyAny>,
    limit: Option<&Bound<'_, PyAny>>,
    delta: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let (mut s, mut inferred) = scalar_arg(start)?;
    let l = match limit.filter(|l| !l.is_none()) {
        Some(l) => {
            let (l, d) = scalar_arg(l)?;
            inferred = wider(inferred, d);
            l
        }
        None => std::mem::replace(&mut s, 0.0),
    };
    let d = match delta.filter(|d| !d.is_none()) {
        Some(d) => {
            let (d, t) = scalar_arg(d)?;
            inferred = wider(inferred, t);
            d
        }
        None => 1.0,
    };
    let dtype = dtype_or(dtype, inferred)?;
    Ok(PyTensor::new(ops::range(s, l, d, dtype)?))
}

/// TF's `range` dtype inference: the widest of the arguments' dtypes.
fn wider(a: DType, b: DType) -> DType {
    let rank = |d: DType| match d {
        DType::I32 => 0,
        DType::I64 => 1,
        DType::F32 => 2,
        DType::F64 => 3,
        DType::Bool => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// `num` evenly spaced values from `start` to `stop`, both included.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linspace(0.0, 1.0, 5))
/// tapegrad.Tensor([0.   0.25 0.5  0.75 1.  ], shape=(5,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (start, stop, num, name=None, axis=0))]
pub fn linspace(
    start: &Bound<'_, PyAny>,
    stop: &Bound<'_, PyAny>,
    num: i64,
    name: Option<&Bound<'_, PyAny>>,
    axis: i64,
) -> PyResult<PyTensor> {
    let _ = (name, axis);
    let (s, ds) = scalar_arg(start)?;
    let (e, _) = scalar_arg(stop)?;
    let dtype = if ds.is_float() { ds } else { DType::F32 };
    Ok(PyTensor::new(ops::linspace(s, e, num, dtype)?))
}

/// The identity matrix of `num_rows` × `num_columns` (square by default), float32 by default.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.eye(2))
/// tapegrad.Tensor(
/// [[1. 0.]
///  [0. 1.]], shape=(2, 2), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (num_rows, num_columns=None, batch_shape=None, dtype=None, name=None))]
pub fn eye(
    num_rows: usize,
    num_columns: Option<usize>,
    batch_shape: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let batch = match batch_shape.filter(|b| !b.is_none()) {
        Some(b) => usize_shape(b)?,
        None => Vec::new(),
    };
    Ok(PyTensor::new(ops::eye(
        num_rows,
        num_columns.unwrap_or(num_rows),
        &batch,
        dtype_or(dtype, DType::F32)?,
    )?))
}

// --- nn ---------------------------------------------------------------

/// e^x / Σ e^x along `axis` (default last), computed from x − max(x) so it never overflows.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.softmax(tf.constant([0.0, 0.0, 0.0, 0.0])))
/// tapegrad.Tensor([0.25 0.25 0.25 0.25], shape=(4,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (logits, axis=None, name=None))]
pub fn softmax(
    py: Python<'_>,
    logits: &Bound<'_, PyAny>,
    axis: Option<i64>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(logits, None)?;
    Ok(PyTensor::new(run(py, x.numel(), || {
        ops::softmax(&x, axis.unwrap_or(-1))
    })?))
}

/// x − logsumexp(x) along `axis` (default last), stable for large logits.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.log_softmax(tf.constant([0.0, 0.0]), axis=-1))
/// tapegrad.Tensor([-0.6931472 -0.6931472], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (logits, axis=None, name=None))]
pub fn log_softmax(
    py: Python<'_>,
    logits: &Bound<'_, PyAny>,
    axis: Option<i64>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(logits, None)?;
    Ok(PyTensor::new(run(py, x.numel(), || {
        ops::log_softmax(&x, axis.unwrap_or(-1))
    })?))
}

fn required<'a, 'py>(
    arg: Option<&'a Bound<'py, PyAny>>,
    what: &str,
) -> PyResult<&'a Bound<'py, PyAny>> {
    arg.ok_or_else(|| PyValueError::new_err(format!("`{what}` must be given")))
}

/// Per-example −log softmax(logits)[label] for integer class `labels`; out-of-range labels raise InvalidArgumentError.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> logits = tf.constant([[0.0, 0.0], [0.0, 0.0]])
/// >>> print(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([0, 1]), logits=logits))
/// tapegrad.Tensor([0.6931472 0.6931472], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (labels=None, logits=None, name=None))]
pub fn sparse_softmax_cross_entropy_with_logits(
    py: Python<'_>,
    labels: Option<&Bound<'_, PyAny>>,
    logits: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let y = to_tensor(required(labels, "labels")?, None)?;
    let x = to_tensor(required(logits, "logits")?, None)?;
    Ok(PyTensor::new(run(py, x.numel(), || {
        ops::sparse_softmax_cross_entropy_with_logits(&y, &x)
    })?))
}

/// Per-example −Σ labels · log softmax(logits) along `axis` (default last), for probability `labels`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.softmax_cross_entropy_with_logits(labels=tf.constant([[1.0, 0.0]]), logits=tf.constant([[0.0, 0.0]])))
/// tapegrad.Tensor([0.6931472], shape=(1,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(
    signature = (labels, logits, axis=-1, name=None),
    text_signature = "(labels, logits, axis=-1, name=None)"
)]
pub fn softmax_cross_entropy_with_logits(
    py: Python<'_>,
    labels: &Bound<'_, PyAny>,
    logits: &Bound<'_, PyAny>,
    axis: i64,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = operands(&[logits, labels])?;
    Ok(PyTensor::new(run(py, xs[0].numel(), || {
        ops::softmax_cross_entropy_with_logits(&xs[1], &xs[0], axis)
    })?))
}

/// Elementwise binary cross-entropy from logits, computed stably as max(x, 0) − x·z + log(1 + e^(−|x|)).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant([1.0, 0.0]), logits=tf.constant([0.0, 0.0])))
/// tapegrad.Tensor([0.6931472 0.6931472], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (labels=None, logits=None, name=None))]
pub fn sigmoid_cross_entropy_with_logits(
    py: Python<'_>,
    labels: Option<&Bound<'_, PyAny>>,
    logits: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = operands(&[required(logits, "logits")?, required(labels, "labels")?])?;
    Ok(PyTensor::new(run(py, xs[0].numel(), || {
        ops::sigmoid_cross_entropy_with_logits(&xs[1], &xs[0])
    })?))
}

/// Σ x² / 2 over all elements (no square root).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.l2_loss(tf.constant([1.0, 2.0, 3.0])))
/// tapegrad.Tensor(7.0, shape=(), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (t, name=None))]
pub fn l2_loss(t: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::l2_loss(&to_tensor(t, None)?)?))
}

/// x if x > 0 else `alpha`·x (alpha 0.2 by default, as in TF).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.leaky_relu(tf.constant([-1.0, 2.0]), alpha=0.5))
/// tapegrad.Tensor([-0.5  2. ], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (features, alpha=0.2, name=None))]
pub fn leaky_relu(
    features: &Bound<'_, PyAny>,
    alpha: f64,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::leaky_relu(
        &to_tensor(features, None)?,
        alpha,
    )?))
}

/// GELU: exact x·Φ(x), or the tanh approximation with `approximate=True`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.gelu(tf.constant([0.0, 1.0]), approximate=True))
/// tapegrad.Tensor([0.       0.841192], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (features, approximate=false, name=None))]
pub fn gelu(
    features: &Bound<'_, PyAny>,
    approximate: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(features, None)?;
    Ok(PyTensor::new(if approximate {
        ops::gelu_approximate(&x)?
    } else {
        ops::gelu(&x)?
    }))
}

/// Zeroes each element with probability `rate` and scales the survivors by 1/(1 − rate), so the expectation is unchanged; repeatable after `tf.random.set_seed`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> tf.random.set_seed(0)
/// >>> y = tf.nn.dropout(tf.ones([1000]), rate=0.5)
/// >>> print(sorted(set(y.numpy().tolist())))
/// [0.0, 2.0]
///
/// ```
#[pyfunction]
#[pyo3(signature = (x, rate, noise_shape=None, seed=None, name=None))]
pub fn dropout(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    rate: f64,
    noise_shape: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let t = to_tensor(x, None)?;
    let noise = noise_shape
        .filter(|n| !n.is_none())
        .map(usize_shape)
        .transpose()?;
    let seed = seed_arg(seed)?;
    Ok(PyTensor::new(run(py, t.numel(), || {
        ops::dropout(&t, rate, noise.as_deref(), seed)
    })?))
}

/// Adds a 1-D `bias` along the last (channel) axis.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.nn.bias_add(tf.zeros([2, 3]), tf.constant([1.0, 2.0, 3.0])))
/// tapegrad.Tensor(
/// [[1. 2. 3.]
///  [1. 2. 3.]], shape=(2, 3), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (value, bias, data_format=None, name=None))]
pub fn bias_add(
    value: &Bound<'_, PyAny>,
    bias: &Bound<'_, PyAny>,
    data_format: Option<&str>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = operands(&[value, bias])?;
    let channels_first = data_format.is_some_and(|f| f.starts_with("NC"));
    Ok(PyTensor::new(ops::bias_add(
        &xs[0],
        &xs[1],
        channels_first,
    )?))
}

/// (mean, variance) over `axes`; the variance is the population one (divides by n).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> mean, variance = tf.nn.moments(tf.constant([1.0, 2.0, 3.0, 4.0]), axes=[0])
/// >>> print(mean, variance)
/// tapegrad.Tensor(2.5, shape=(), dtype=float32) tapegrad.Tensor(1.25, shape=(), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (x, axes, shift=None, keepdims=false, name=None))]
pub fn moments(
    x: &Bound<'_, PyAny>,
    axes: &Bound<'_, PyAny>,
    shift: Option<&Bound<'_, PyAny>>,
    keepdims: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<(PyTensor, PyTensor)> {
    let _ = (name, shift);
    let t = to_tensor(x, None)?;
    let (m, v) = ops::moments(&t, &int_list(axes)?, keepdims)?;
    Ok((PyTensor::new(m), PyTensor::new(v)))
}

/// A 2-D window argument (ksize, strides, dilations): an int, `[h, w]`, or
/// the NHWC form `[1, h, w, 1]`.
fn window_arg(
    op: &'static str,
    what: &str,
    obj: Option<&Bound<'_, PyAny>>,
) -> PyResult<[usize; 2]> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok([1, 1]);
    };
    let v = int_list(obj)?;
    let pair = match *v.as_slice() {
        [k] => [k, k],
        [h, w] => [h, w],
        [1, h, w, 1] => [h, w],
        _ => [-1, -1],
    };
    if pair.iter().any(|&k| k < 1) {
        return Err(crate::error::Error::invalid(
            op,
            format!("{what} must be a positive int, [h, w] or [1, h, w, 1], got {v:?}"),
        )
        .into());
    }
    Ok([pair[0] as usize, pair[1] as usize])
}

fn padding_arg(
    op: &'static str,
    padding: &str,
    data_format: Option<&str>,
) -> PyResult<ops::Padding> {
    if data_format.is_some_and(|f| f != "NHWC") {
        return Err(crate::error::Error::Unimplemented {
            op,
            msg: format!(
                "data_format {:?} is not supported (only NHWC)",
                data_format.unwrap_or("")
            ),
        }
        .into());
    }
    match padding.to_ascii_uppercase().as_str() {
        "SAME" => Ok(ops::Padding::Same),
        "VALID" => Ok(ops::Padding::Valid),
        _ => Err(crate::error::Error::invalid(
            op,
            format!("padding must be 'SAME' or 'VALID', got {padding:?}"),
        )
        .into()),
    }
}

/// 2-D cross-correlation of an NHWC `input` with an HWIO `filters` kernel, with `strides`, 'VALID'/'SAME' `padding` and `dilations`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> x = tf.reshape(tf.range(9.0), [1, 3, 3, 1])
/// >>> k = tf.ones([2, 2, 1, 1])
/// >>> print(tf.reshape(tf.nn.conv2d(x, k, strides=1, padding="VALID"), [2, 2]))
/// tapegrad.Tensor(
/// [[ 8. 12.]
///  [20. 24.]], shape=(2, 2), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, filters, strides, padding, data_format=None, dilations=None, name=None))]
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    filters: &Bound<'_, PyAny>,
    strides: &Bound<'_, PyAny>,
    padding: &str,
    data_format: Option<&str>,
    dilations: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let op = "Conv2D";
    let xs = operands(&[input, filters])?;
    let strides = window_arg(op, "strides", Some(strides))?;
    let dilations = window_arg(op, "dilations", dilations)?;
    let padding = padding_arg(op, padding, data_format)?;
    Ok(PyTensor::new(run(py, xs[0].numel(), || {
        ops::conv2d(&xs[0], &xs[1], strides, padding, dilations)
    })?))
}

macro_rules! pools {
    ($($(#[doc = $doc:literal])* $name:ident $op:literal $f:ident;)*) => {$(
        $(#[doc = $doc])*
        #[pyfunction]
        #[pyo3(signature = (input, ksize, strides, padding, data_format=None, name=None))]
        pub fn $name(
            py: Python<'_>,
            input: &Bound<'_, PyAny>,
            ksize: &Bound<'_, PyAny>,
            strides: &Bound<'_, PyAny>,
            padding: &str,
            data_format: Option<&str>,
            name: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<PyTensor> {
            let _ = name;
            let x = to_tensor(input, None)?;
            let k = window_arg($op, "ksize", Some(ksize))?;
            let s = window_arg($op, "strides", Some(strides))?;
            let padding = padding_arg($op, padding, data_format)?;
            Ok(PyTensor::new(run(py, x.numel(), || ops::$f(&x, k, s, padding))?))
        }
    )*};
}
pools! {
    /// Max over each `ksize` window of an NHWC tensor, moving by `strides`, with 'VALID' or 'SAME' padding; the gradient goes to the window's first maximum.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
    /// >>> print(tf.reshape(tf.nn.max_pool(x, ksize=2, strides=2, padding="VALID"), [2, 2]))
    /// tapegrad.Tensor(
    /// [[ 5.  7.]
    ///  [13. 15.]], shape=(2, 2), dtype=float32)
    ///
    /// ```
    max_pool2d "MaxPool" max_pool2d;
    /// Mean over each `ksize` window of an NHWC tensor, moving by `strides`; with 'SAME' padding the mean counts only the in-bounds elements, as in TF.
    ///
    /// Example:
    /// ```text
    /// >>> import tapegrad as tf
    /// >>> x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
    /// >>> print(tf.reshape(tf.nn.avg_pool(x, ksize=2, strides=2, padding="VALID"), [2, 2]))
    /// tapegrad.Tensor(
    /// [[ 2.5  4.5]
    ///  [10.5 12.5]], shape=(2, 2), dtype=float32)
    ///
    /// ```
    avg_pool2d "AvgPool" avg_pool2d;
}

// --- linalg ------------------------------------------------------------

/// Contracts `a` and `b` over `axes`: an int n pairs a's last n axes with b's first n; a pair of lists names them.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
/// >>> print(tf.tensordot(a, a, axes=1))
/// tapegrad.Tensor(
/// [[ 7. 10.]
///  [15. 22.]], shape=(2, 2), dtype=float32)
/// >>> print(tf.tensordot(a, a, axes=2))
/// tapegrad.Tensor(30.0, shape=(), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (a, b, axes, name=None))]
pub fn tensordot(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    axes: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = operands(&[a, b])?;
    let (ax_a, ax_b) = if let Ok(n) = axes.extract::<i64>() {
        let ra = xs[0].rank() as i64;
        if n < 0 || n > ra || n > xs[1].rank() as i64 {
            return Err(crate::error::Error::invalid(
                "tensordot",
                format!(
                    "axes = {n} must be in [0, min rank of {:?} and {:?}]",
                    xs[0].shape(),
                    xs[1].shape()
                ),
            )
            .into());
        }
        ((ra - n..ra).collect(), (0..n).collect())
    } else {
        let pair: Vec<Bound<'_, PyAny>> = axes.try_iter()?.collect::<PyResult<_>>()?;
        if pair.len() != 2 {
            return Err(PyValueError::new_err(
                "axes must be an int or a pair of axis lists",
            ));
        }
        (int_list(&pair[0])?, int_list(&pair[1])?)
    };
    let work = xs[0].numel().max(xs[1].numel());
    Ok(PyTensor::new(run(py, work, || {
        ops::tensordot(&xs[0], &xs[1], &ax_a, &ax_b)
    })?))
}

/// Einstein summation over the subscripts in `equation` (e.g. 'ij,jk->ik'; no ellipsis).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
/// >>> print(tf.einsum("ij,ij->i", a, a))
/// tapegrad.Tensor([ 5. 25.], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (equation, *inputs, **kwargs))]
pub fn einsum(
    py: Python<'_>,
    equation: &str,
    inputs: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyTensor> {
    let _ = kwargs;
    let items: Vec<Bound<'_, PyAny>> = inputs.iter().collect();
    let refs: Vec<&Bound<'_, PyAny>> = items.iter().collect();
    let xs = operands(&refs)?;
    let work = xs.iter().map(Tensor::numel).max().unwrap_or(0);
    Ok(PyTensor::new(run(py, work, || ops::einsum(equation, &xs))?))
}

/// Matrix × vector over the last axes, batch axes broadcast: `a @ b[..., None]` squeezed.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.matvec(tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.constant([1.0, 1.0])))
/// tapegrad.Tensor([3. 7.], shape=(2,), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (a, b, transpose_a=false, adjoint_a=false, a_is_sparse=false, b_is_sparse=false, name=None))]
#[allow(clippy::too_many_arguments)]
pub fn matvec(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    transpose_a: bool,
    adjoint_a: bool,
    a_is_sparse: bool,
    b_is_sparse: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = (a_is_sparse, b_is_sparse, name);
    let xs = operands(&[a, b])?;
    Ok(PyTensor::new(ops::matvec(
        &xs[0],
        &xs[1],
        transpose_a || adjoint_a,
    )?))
}

/// The main diagonal of the last two axes.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.diag_part(tf.constant([[1, 2], [3, 4]])))
/// tapegrad.Tensor([1 4], shape=(2,), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, name=None, k=0))]
pub fn diag_part(
    input: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
    k: i64,
) -> PyResult<PyTensor> {
    let _ = name;
    if k != 0 {
        return Err(crate::error::Error::Unimplemented {
            op: "MatrixDiagPart",
            msg: "only the main diagonal (k = 0) is supported".into(),
        }
        .into());
    }
    Ok(PyTensor::new(ops::diag_part(&to_tensor(input, None)?)?))
}

/// A (batch of) square matrices with `diagonal` on the main diagonal, zeros elsewhere.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.diag(tf.constant([1, 2])))
/// tapegrad.Tensor(
/// [[1 0]
///  [0 2]], shape=(2, 2), dtype=int32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (diagonal, name=None))]
pub fn diag(diagonal: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::diag(&to_tensor(diagonal, None)?)?))
}

/// Sum of the main diagonal of the last two axes.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.trace(tf.constant([[1.0, 2.0], [3.0, 4.0]])))
/// tapegrad.Tensor(5.0, shape=(), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (x, name=None))]
pub fn trace(x: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::trace(&to_tensor(x, None)?)?))
}

/// Inverse of each square matrix (LU with partial pivoting); a singular matrix raises InvalidArgumentError. d = −A⁻ᵀ g A⁻ᵀ.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.inv(tf.constant([[2.0, 0.0], [0.0, 4.0]])))
/// tapegrad.Tensor(
/// [[0.5  0.  ]
///  [0.   0.25]], shape=(2, 2), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, adjoint=false, name=None))]
pub fn inv(
    input: &Bound<'_, PyAny>,
    adjoint: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let a = to_tensor(input, None)?;
    let a = if adjoint { adjoint_of(&a)? } else { a };
    Ok(PyTensor::new(ops::inv(&a)?))
}

/// The transpose of the last two axes (the adjoint of a real matrix stack).
fn adjoint_of(a: &Tensor) -> PyResult<Tensor> {
    let r = a.rank() as i64;
    if r < 2 {
        return Err(crate::error::Error::invalid(
            "adjoint",
            format!(
                "input must be at least 2-dimensional, got shape {:?}",
                a.shape()
            ),
        )
        .into());
    }
    let perm: Vec<i64> = (0..r - 2).chain([r - 1, r - 2]).collect();
    Ok(ops::transpose(a, Some(&perm))?)
}

/// Determinant of each square matrix (LU with partial pivoting).
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.det(tf.constant([[1.0, 2.0], [3.0, 4.0]], dtype=tf.float64)))
/// tapegrad.Tensor(-2.0, shape=(), dtype=float64)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, name=None))]
pub fn det(input: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::det(&to_tensor(input, None)?)?))
}

/// X with `matrix` · X = `rhs` (LU with partial pivoting); a singular matrix raises InvalidArgumentError.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.solve(tf.constant([[2.0, 0.0], [0.0, 4.0]]), tf.constant([[2.0], [8.0]])))
/// tapegrad.Tensor(
/// [[1.]
///  [2.]], shape=(2, 1), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (matrix, rhs, adjoint=false, name=None))]
pub fn solve(
    matrix: &Bound<'_, PyAny>,
    rhs: &Bound<'_, PyAny>,
    adjoint: bool,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let xs = operands(&[matrix, rhs])?;
    let a = if adjoint {
        adjoint_of(&xs[0])?
    } else {
        xs[0].clone()
    };
    Ok(PyTensor::new(ops::solve(&a, &xs[1])?))
}

/// Lower-triangular L with L·Lᵀ = the (symmetric positive-definite) input; a matrix that is not positive definite raises InvalidArgumentError.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> print(tf.linalg.cholesky(tf.constant([[4.0, 2.0], [2.0, 5.0]])))
/// tapegrad.Tensor(
/// [[2. 0.]
///  [1. 2.]], shape=(2, 2), dtype=float32)
///
/// ```
#[pyfunction]
#[pyo3(signature = (input, name=None))]
pub fn cholesky(input: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::cholesky(&to_tensor(input, None)?)?))
}

// --- random ------------------------------------------------------------

/// Samples from N(mean, stddev²) re-drawn until within two standard deviations of the mean; repeatable after `tf.random.set_seed`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> tf.random.set_seed(0)
/// >>> x = tf.random.truncated_normal([1000], stddev=1.0)
/// >>> print(bool(tf.reduce_all(tf.abs(x) <= 2.0)))
/// True
///
/// ```
#[pyfunction]
#[pyo3(signature = (shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None))]
pub fn truncated_normal(
    py: Python<'_>,
    shape: &Bound<'_, PyAny>,
    mean: f64,
    stddev: f64,
    dtype: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    normal_like(
        py,
        shape,
        mean,
        stddev,
        dtype,
        seed,
        ops::random::truncated_normal,
    )
}

/// A random permutation of `value` along its first axis; repeatable after `tf.random.set_seed`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> tf.random.set_seed(0)
/// >>> print(sorted(tf.random.shuffle(tf.range(5)).numpy().tolist()))
/// [0, 1, 2, 3, 4]
///
/// ```
#[pyfunction]
#[pyo3(signature = (value, seed=None, name=None))]
pub fn shuffle(
    value: &Bound<'_, PyAny>,
    seed: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(value, None)?;
    Ok(PyTensor::new(ops::random::shuffle(&x, seed_arg(seed)?)?))
}

/// `num_samples` class indices (int64) per row, drawn with probabilities softmax(`logits`); repeatable after `tf.random.set_seed`.
///
/// Example:
/// ```text
/// >>> import tapegrad as tf
/// >>> tf.random.set_seed(0)
/// >>> samples = tf.random.categorical(tf.math.log(tf.constant([[0.0, 1.0]]) + 1e-30), 4)
/// >>> print(samples)
/// tapegrad.Tensor([[1 1 1 1]], shape=(1, 4), dtype=int64)
///
/// ```
#[pyfunction]
#[pyo3(signature = (logits, num_samples, dtype=None, seed=None, name=None))]
pub fn categorical(
    logits: &Bound<'_, PyAny>,
    num_samples: usize,
    dtype: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let x = to_tensor(logits, None)?;
    Ok(PyTensor::new(ops::random::categorical(
        &x,
        num_samples,
        dtype_or(dtype, DType::I64)?,
        seed_arg(seed)?,
    )?))
}

// --- indexing by [] --------------------------------------------------------

/// One entry of a `[]` key.
enum KeyItem<'py> {
    Index(i64),
    Slice(Bound<'py, pyo3::types::PySlice>),
    NewAxis,
    Ellipsis,
    Gather(Tensor),
}

fn key_item<'py>(obj: &Bound<'py, PyAny>) -> PyResult<KeyItem<'py>> {
    use pyo3::types::{PyBool, PyInt, PySlice};
    if obj.is_none() {
        return Ok(KeyItem::NewAxis);
    }
    if obj.is(obj.py().Ellipsis().bind(obj.py())) {
        return Ok(KeyItem::Ellipsis);
    }
    if let Ok(s) = obj.cast::<PySlice>() {
        return Ok(KeyItem::Slice(s.clone()));
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return Ok(KeyItem::Index(obj.extract()?));
    }
    let invalid = || {
        PyTypeError::new_err(format!(
            "Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and integer tensors are valid indices, got {}",
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    };
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<pyo3::types::PyFloat>() {
        return Err(invalid());
    }
    let t = to_tensor(obj, None).map_err(|_| invalid())?;
    match (t.dtype().is_int(), t.rank()) {
        (true, 0) => Ok(KeyItem::Index(t.item_f64().unwrap_or(0.0) as i64)),
        (true, 1) => Ok(KeyItem::Gather(t)),
        _ => Err(invalid()),
    }
}

/// `x[key]` with numpy/TF semantics for ints, slices (any step), `...`,
/// `None`, and one 1-D integer tensor (a gather along its axis).
pub fn getitem(x: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    use crate::ops::AxisSlice;
    let op = "StridedSlice";
    let items: Vec<Bound<'_, PyAny>> = match key.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => vec![key.clone()],
    };
    let items: Vec<KeyItem<'_>> = items.iter().map(key_item).collect::<PyResult<_>>()?;
    let consumed = items
        .iter()
        .filter(|i| !matches!(i, KeyItem::NewAxis | KeyItem::Ellipsis))
        .count();
    let ellipses = items
        .iter()
        .filter(|i| matches!(i, KeyItem::Ellipsis))
        .count();
    let rank = x.rank();
    if ellipses > 1 {
        return Err(PyValueError::new_err(
            "Multiple ellipses in slice spec not allowed",
        ));
    }
    if consumed > rank {
        return Err(crate::error::Error::invalid(
            op,
            format!(
                "Index out of range: {consumed} indices for a tensor of rank {rank} (shape {:?})",
                x.shape()
            ),
        )
        .into());
    }
    let mut spec: Vec<AxisSlice> = x.shape().iter().map(|&d| AxisSlice::full(d)).collect();
    let mut shape: Vec<usize> = Vec::new();
    let mut gather: Option<(usize, Tensor)> = None;
    let mut ax = 0;
    for item in items {
        match item {
            KeyItem::Ellipsis => {
                for _ in 0..rank - consumed {
                    shape.push(x.shape()[ax]);
                    ax += 1;
                }
            }
            KeyItem::NewAxis => shape.push(1),
            KeyItem::Index(i) => {
                let d = x.shape()[ax] as i64;
                let k = if i < 0 { i + d } else { i };
                if !(0..d).contains(&k) {
                    return Err(crate::error::Error::invalid(
                        op,
                        format!(
                            "slice index {i} of dimension {ax} out of bounds (shape {:?})",
                            x.shape()
                        ),
                    )
                    .into());
                }
                spec[ax] = AxisSlice::range(k as usize, 1);
                ax += 1;
            }
            KeyItem::Slice(s) => {
                use pyo3::types::PySliceMethods;
                let d = x.shape()[ax];
                let ix = s.indices(d as isize)?;
                spec[ax] = if ix.slicelength == 0 {
                    AxisSlice::range(0, 0)
                } else {
                    AxisSlice {
                        start: ix.start as usize,
                        step: ix.step,
                        len: ix.slicelength,
                    }
                };
                shape.push(ix.slicelength);
                ax += 1;
            }
            KeyItem::Gather(t) => {
                if gather.is_some() {
                    return Err(crate::error::Error::Unimplemented {
                        op,
                        msg: "indexing with more than one integer tensor is not supported".into(),
                    }
                    .into());
                }
                gather = Some((shape.len(), t));
                shape.push(x.shape()[ax]);
                ax += 1;
            }
        }
    }
    shape.extend(&x.shape()[ax..]);
    let out = (|| {
        let y = ops::reshape_to(&ops::strided_slice(x, &spec)?, &shape)?;
        match &gather {
            Some((at, idx)) => ops::gather(&y, idx, *at as i64, 0),
            None => Ok(y),
        }
    })()?;
    Ok(PyTensor::new(out))
}

/// The rows of `x` (`for row in tensor`).
pub fn rows(x: &Tensor) -> PyResult<Vec<PyTensor>> {
    if x.rank() == 0 {
        return Err(PyTypeError::new_err("Cannot iterate over a scalar tensor."));
    }
    Ok(ops::unstack(x, 0)?.into_iter().map(PyTensor::new).collect())
}

/// Register the op-library bindings above on the extension module.
pub fn register(m: &Bound<'_, pyo3::types::PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(reduce_max, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_min, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_prod, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_logsumexp, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_variance, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_std, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_any, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_all, m)?)?;
    m.add_function(wrap_pyfunction!(argmax, m)?)?;
    m.add_function(wrap_pyfunction!(argmin, m)?)?;
    m.add_function(wrap_pyfunction!(cumsum, m)?)?;
    m.add_function(wrap_pyfunction!(cumprod, m)?)?;
    m.add_function(wrap_pyfunction!(clip_by_value, m)?)?;
    m.add_function(wrap_pyfunction!(expand_dims, m)?)?;
    m.add_function(wrap_pyfunction!(squeeze, m)?)?;
    m.add_function(wrap_pyfunction!(concat, m)?)?;
    m.add_function(wrap_pyfunction!(stack, m)?)?;
    m.add_function(wrap_pyfunction!(unstack, m)?)?;
    m.add_function(wrap_pyfunction!(split, m)?)?;
    m.add_function(wrap_pyfunction!(tile, m)?)?;
    m.add_function(wrap_pyfunction!(pad, m)?)?;
    m.add_function(wrap_pyfunction!(reverse, m)?)?;
    m.add_function(wrap_pyfunction!(gather, m)?)?;
    m.add_function(wrap_pyfunction!(gather_nd, m)?)?;
    m.add_function(wrap_pyfunction!(one_hot, m)?)?;
    m.add_function(wrap_pyfunction!(boolean_mask, m)?)?;
    m.add_function(wrap_pyfunction!(shape, m)?)?;
    m.add_function(wrap_pyfunction!(size, m)?)?;
    m.add_function(wrap_pyfunction!(rank, m)?)?;
    m.add_function(wrap_pyfunction!(fill, m)?)?;
    m.add_function(wrap_pyfunction!(zeros_like, m)?)?;
    m.add_function(wrap_pyfunction!(ones_like, m)?)?;
    m.add_function(wrap_pyfunction!(range_, m)?)?;
    m.add_function(wrap_pyfunction!(linspace, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(softmax, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(
        sparse_softmax_cross_entropy_with_logits,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(softmax_cross_entropy_with_logits, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid_cross_entropy_with_logits, m)?)?;
    m.add_function(wrap_pyfunction!(l2_loss, m)?)?;
    m.add_function(wrap_pyfunction!(leaky_relu, m)?)?;
    m.add_function(wrap_pyfunction!(gelu, m)?)?;
    m.add_function(wrap_pyfunction!(dropout, m)?)?;
    m.add_function(wrap_pyfunction!(bias_add, m)?)?;
    m.add_function(wrap_pyfunction!(moments, m)?)?;
    m.add_function(wrap_pyfunction!(tensordot, m)?)?;
    m.add_function(wrap_pyfunction!(einsum, m)?)?;
    m.add_function(wrap_pyfunction!(matvec, m)?)?;
    m.add_function(wrap_pyfunction!(diag_part, m)?)?;
    m.add_function(wrap_pyfunction!(diag, m)?)?;
    m.add_function(wrap_pyfunction!(trace, m)?)?;
    m.add_function(wrap_pyfunction!(truncated_normal, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(count_nonzero, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_euclidean_norm, m)?)?;
    m.add_function(wrap_pyfunction!(sort, m)?)?;
    m.add_function(wrap_pyfunction!(argsort, m)?)?;
    m.add_function(wrap_pyfunction!(top_k, m)?)?;
    m.add_function(wrap_pyfunction!(inv, m)?)?;
    m.add_function(wrap_pyfunction!(det, m)?)?;
    m.add_function(wrap_pyfunction!(solve, m)?)?;
    m.add_function(wrap_pyfunction!(cholesky, m)?)?;
    m.add_function(wrap_pyfunction!(max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(shuffle, m)?)?;
    m.add_function(wrap_pyfunction!(categorical, m)?)?;
    Ok(())
}
