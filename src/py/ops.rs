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

/// A registry op as a Python callable: `tapegrad.exp(x)`, `tapegrad.add(x, y)`.
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
    if let Ok(v) = obj.extract::<i64>() {
        return Ok(vec![v]);
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

/// `tf.norm` for `ord` in {'euclidean', 'fro', 2 (vectors), 1}.
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
    let ord_text = match ord {
        Some(o) if !o.is_none() => o.str()?.to_string(),
        _ => "euclidean".to_string(),
    };
    let out = match ord_text.as_str() {
        "euclidean" | "fro" | "2" | "2.0" => run(py, x.numel(), || {
            ops::norm_euclidean(&x, axis.as_deref(), keep)
        })?,
        "1" | "1.0" => run(py, x.numel(), || {
            ops::reduce_sum(&ops::abs(&x)?, axis.as_deref(), keep)
        })?,
        other => {
            return Err(PyValueError::new_err(format!(
                "norm: ord={other} is not supported; use 'euclidean', 'fro', 1 or 2"
            )));
        }
    };
    Ok(PyTensor::new(out))
}

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

#[pyfunction]
#[pyo3(signature = (input, name=None))]
pub fn identity(input: &Bound<'_, PyAny>, name: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::identity(&to_tensor(input, None)?)?))
}

#[pyfunction]
#[pyo3(signature = (input, name=None))]
pub fn stop_gradient(
    input: &Bound<'_, PyAny>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    Ok(PyTensor::new(ops::stop_gradient(&to_tensor(input, None)?)))
}

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
#[pyfunction]
#[pyo3(name = "where", signature = (condition, x=None, y=None, name=None))]
pub fn where_(
    condition: &Bound<'_, PyAny>,
    x: Option<&Bound<'_, PyAny>>,
    y: Option<&Bound<'_, PyAny>>,
    name: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let _ = name;
    let (Some(x), Some(y)) = (x, y) else {
        return Err(PyValueError::new_err(
            "where: x and y must both be given (index mode is not supported yet)",
        ));
    };
    let c = to_tensor(condition, Some(DType::Bool))?;
    let xs = operands(&[x, y])?;
    Ok(PyTensor::new(ops::where_(&c, &xs[0], &xs[1])?))
}

/// `tf.constant` / `tf.convert_to_tensor`: TF's dtype inference; with
/// `dtype`, values are cast (a float to an int dtype is refused).
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
    let shape = usize_shape(shape)?;
    let dtype = dtype_or(dtype, DType::F32)?;
    let seed = seed_arg(seed)?;
    let n = shape.iter().product();
    Ok(PyTensor::new(run(py, n, || {
        ops::random::normal(&shape, mean, stddev, dtype, seed)
    })?))
}

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

#[pyfunction]
pub fn set_seed(seed: Option<i64>) {
    ops::random::set_seed(seed.map(|s| s as u64));
}
