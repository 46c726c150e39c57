//! The Python protocol of tensor-like objects (operators, conversions,
//! repr), shared by `Tensor` and `Variable` through `tensor_protocol!`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyTuple};

use super::convert::{tensor_arg, to_numpy, to_tensor};
use super::tensor::PyTensor;
use super::{python_attr, run, run_traced};
use crate::error::Result;
use crate::ops;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

/// `a ∘ o`, or `o ∘ a` when `reflected` (for `__radd__` and friends);
/// `name`, the operator's method, names the trace's step.
pub fn binary(
    name: &'static str,
    a: &Tensor,
    o: &Bound<'_, PyAny>,
    reflected: bool,
    f: impl Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync + Copy + 'static,
) -> PyResult<PyTensor> {
    let b = tensor_arg(o, Some(a.dtype()))?;
    let (x, y) = if reflected { (&*b, a) } else { (a, &*b) };
    let work = x.numel().max(y.numel());
    if crate::trace::is_tracing() {
        let step = move |xs: &[Tensor]| f(&xs[0], &xs[1]);
        let out = run_traced(o.py(), work, name, vec![x.clone(), y.clone()], step)?;
        return Ok(PyTensor::new(out));
    }
    Ok(PyTensor::new(run(o.py(), work, || f(x, y))?))
}

pub type UnaryFn = fn(&Tensor) -> Result<Tensor>;

pub fn unary(py: Python<'_>, name: &'static str, a: Tensor, f: UnaryFn) -> PyResult<PyTensor> {
    let step = move |xs: &[Tensor]| f(&xs[0]);
    let out = run_traced(py, a.numel(), name, vec![a], step)?;
    Ok(PyTensor::new(out))
}

/// Python's `@`: a plain matrix product.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    ops::matmul(a, b, false, false)
}

/// `==`/`!=`: elementwise when the operands are compatible; otherwise (None,
/// another dtype, unbroadcastable shapes) a plain `False`/`True`, as in TF.
pub fn equality<'py>(
    py: Python<'py>,
    a: Tensor,
    o: &Bound<'py, PyAny>,
    eq: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let plain = || PyBool::new(py, !eq).to_owned().into_any();
    if o.is_none() {
        return Ok(plain());
    }
    let Ok(b) = to_tensor(o, Some(a.dtype())) else {
        return Ok(plain());
    };
    if b.dtype() != a.dtype() || broadcast_shapes("Equal", a.shape(), b.shape()).is_err() {
        return Ok(plain());
    }
    let f = if eq { ops::equal } else { ops::not_equal };
    let step = move |xs: &[Tensor]| f(&xs[0], &xs[1]);
    let name = if eq { "__eq__" } else { "__ne__" };
    let out = run_traced(py, a.numel().max(b.numel()), name, vec![a, b], step)?;
    Ok(Bound::new(py, PyTensor::new(out))?.into_any())
}

static TENSOR_SHAPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `tapegrad.TensorShape(dims)`: a tuple with TF's `as_list()`, `rank`, ….
pub fn shape_object<'py>(py: Python<'py>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    python_attr(py, &TENSOR_SHAPE, "tapegrad._shape", "TensorShape")?
        .call1((PyTuple::new(py, shape)?,))
}

pub fn len(t: &Tensor) -> PyResult<usize> {
    match t.shape().first() {
        Some(&n) => Ok(n),
        None => Err(PyTypeError::new_err("Scalar tensor has no `len()`")),
    }
}

/// Truth of a tensor: its one element; False when empty (TF); numpy's
/// error when there are several.
pub fn truth(t: &Tensor) -> PyResult<bool> {
    let truth = match t.numel() {
        0 => false,
        1 => t.item_truth().unwrap_or(false),
        _ => Err(PyValueError::new_err(
            "The truth value of an array with more than one element is ambiguous. Use a.any() or a.all()",
        ))?,
    };
    crate::trace::guard_truth(t, truth);
    Ok(truth)
}

pub fn scalar(t: &Tensor, to: &str) -> PyResult<f64> {
    crate::trace::guard_value(t);
    t.item_f64()
        .ok_or_else(|| PyTypeError::new_err(format!("only a single number converts to a Python scalar (asked for {to}() of a {} tensor of shape {:?})", t.dtype().name(), t.shape())))
}

/// `int(t)`: integers exactly; a float as Python's `int(float)` (NaN raises
/// `ValueError`, ±inf `OverflowError`).
pub fn int<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    crate::trace::guard_value(t);
    match t.item_int() {
        Some(v) => Ok(v.into_pyobject(py)?.into_any()),
        None => pyo3::types::PyFloat::new(py, scalar(t, "int")?).call_method0("__int__"),
    }
}

pub fn index(t: &Tensor) -> PyResult<i128> {
    crate::trace::guard_value(t);
    match (t.dtype().is_int(), t.rank(), t.item_int()) {
        (true, 0, Some(v)) => Ok(v),
        _ => Err(PyTypeError::new_err(
            "only integer scalar arrays can be converted to a scalar index",
        )),
    }
}

pub fn format(py: Python<'_>, t: &Tensor, spec: &str) -> PyResult<String> {
    crate::trace::guard_value(t);
    let arr = to_numpy(py, t)?;
    let value = if t.rank() == 0 {
        arr.get_item(())?
    } else {
        arr.str()?.into_any()
    };
    py.import("builtins")?
        .call_method1("format", (value, spec))?
        .extract()
}

/// The numpy text inside a repr: the scalar itself for rank 0, else numpy's
/// array repr (or str) on its own line when it spans several.
fn numpy_text(py: Python<'_>, t: &Tensor, as_repr: bool) -> PyResult<String> {
    let arr = to_numpy(py, t)?;
    let text = if t.rank() == 0 {
        arr.get_item(())?.str()?.to_string()
    } else if as_repr {
        arr.repr()?.to_string()
    } else {
        arr.str()?.to_string()
    };
    Ok(if text.contains('\n') {
        format!("\n{text}")
    } else {
        text
    })
}

/// Python's text of the shape tuple: `(2,)`, `(2, 3)`, `()`.
fn shape_text(py: Python<'_>, shape: &[usize]) -> PyResult<String> {
    Ok(PyTuple::new(py, shape)?.repr()?.to_string())
}

/// `<tapegrad.Tensor: shape=(2,), dtype=float32, numpy=array([1., 2.], dtype=float32)>`
pub fn repr(py: Python<'_>, t: &Tensor, name: &str) -> PyResult<String> {
    Ok(format!(
        "<{name}: shape={}, dtype={}, numpy={}>",
        shape_text(py, t.shape())?,
        t.dtype().name(),
        numpy_text(py, t, true)?
    ))
}

/// `tapegrad.Tensor([1. 2.], shape=(2,), dtype=float32)`
pub fn str(py: Python<'_>, t: &Tensor) -> PyResult<String> {
    Ok(format!(
        "tapegrad.Tensor({}, shape={}, dtype={})",
        numpy_text(py, t, false)?,
        shape_text(py, t.shape())?,
        t.dtype().name()
    ))
}

/// `<tapegrad.Variable 'w:0' shape=(2,) dtype=float32, numpy=array(…)>`
pub fn variable_repr(py: Python<'_>, t: &Tensor, name: &str) -> PyResult<String> {
    Ok(format!(
        "<tapegrad.Variable '{name}' shape={} dtype={}, numpy={}>",
        shape_text(py, t.shape())?,
        t.dtype().name(),
        numpy_text(py, t, true)?
    ))
}
