//! Python values → tensors (TF's conversion rules) and tensors → numpy.

use ndarray::ArrayD;
use numpy::{
    PyArrayDescrMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods, ToPyArray,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use std::borrow::{Borrow, Cow};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

use super::tensor::PyTensor;
use super::variable::PyVariable;
use crate::dtype::DType;
use crate::infer::{self, Number, Refusal};
use crate::kernels::strided;
use crate::tensor::{Element, Tensor, check_alloc};
use crate::trace::Arg;
use crate::with_data;

/// A dtype argument: a `tapegrad` dtype, a numpy dtype or scalar type, or a name.
pub fn dtype_from_py(obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    let name: String = if let Ok(s) = obj.cast::<PyString>() {
        s.to_string()
    } else if let Ok(n) = obj.getattr("name").and_then(|n| n.extract::<String>()) {
        n
    } else {
        let np = obj.py().import("numpy")?;
        np.call_method1("dtype", (obj,))?
            .getattr("name")?
            .extract()?
    };
    let d = DType::from_name(&name)
        .ok_or_else(|| PyTypeError::new_err(format!("unsupported dtype {name:?}")))?;
    numpy_knows(obj.py(), d)?;
    Ok(d)
}

/// numpy has `bfloat16` once `ml_dtypes` registered it: imported on first
/// need, not with tapegrad (its ufunc registration is most of an import).
pub fn numpy_knows(py: Python<'_>, d: DType) -> PyResult<()> {
    if d == DType::BF16 {
        py.import("ml_dtypes")?;
    }
    Ok(())
}

use crate::dtype::ALL_DTYPES as DTYPES;
static DTYPE_OBJECTS: PyOnceLock<Vec<Py<PyAny>>> = PyOnceLock::new();

/// The `tapegrad.dtypes` object for a dtype (`tapegrad.float32`, …).
pub fn dtype_to_py(py: Python<'_>, d: DType) -> PyResult<Bound<'_, PyAny>> {
    let all = DTYPE_OBJECTS.get_or_try_init(py, || -> PyResult<_> {
        let m = py.import("tapegrad.dtypes")?;
        DTYPES
            .iter()
            .map(|d| Ok(m.getattr(d.name())?.unbind()))
            .collect()
    })?;
    Ok(all[d.index()].bind(py).clone())
}

/// The tensor a Python value stands for. `hint` is the dtype of the other
/// operand (TF's rule: Python scalars and arrays adopt it; a float that
/// would have to become an int is a `TypeError`). Variables are read.
pub fn to_tensor(obj: &Bound<'_, PyAny>, hint: Option<DType>) -> PyResult<Tensor> {
    tensor_arg(obj, hint).map(Cow::into_owned)
}

/// `to_tensor`, borrowing a tensor instead of copying its handle.
pub fn tensor_arg<'a>(obj: &'a Bound<'_, PyAny>, hint: Option<DType>) -> PyResult<Cow<'a, Tensor>> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(Cow::Borrowed(t.get().tensor()));
    }
    if let Ok(v) = obj.cast::<PyVariable>() {
        return Ok(Cow::Owned(v.get().read()));
    }
    let t = host_tensor(obj, hint)?;
    crate::trace::constant(&t); // (fixed while a trace captures)
    Ok(Cow::Owned(t))
}

/// A tensor or a variable as the core takes a source, target or traced
/// input: a variable stays itself (tapes and traces know it by its handle).
/// Anything else is converted (`to_tensor`) when `convert`, else refused.
pub fn arg_of(obj: &Bound<'_, PyAny>, convert: bool) -> PyResult<Arg> {
    if let Ok(v) = obj.cast::<PyVariable>() {
        return Ok(Arg::Variable(v.get().variable().clone()));
    }
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(Arg::Tensor(t.get().tensor().clone()));
    }
    if convert {
        return Ok(Arg::Tensor(to_tensor(obj, None)?));
    }
    let got = obj.get_type().name()?;
    Err(PyTypeError::new_err(format!(
        "expected a Tensor or a Variable, got {got}"
    )))
}

pub fn args_of(objs: &[Bound<'_, PyAny>], convert: bool) -> PyResult<Vec<Arg>> {
    objs.iter().map(|o| arg_of(o, convert)).collect()
}

/// `to_tensor` of a host value (not a tensor or variable).
fn host_tensor(obj: &Bound<'_, PyAny>, hint: Option<DType>) -> PyResult<Tensor> {
    // exact types: numpy scalars (np.float64 subclasses float) keep their dtype
    if let Some(n) = python_number(obj) {
        return infer::scalar(n, hint).map_err(|r| refused(obj, r));
    }
    if obj.is_exact_instance_of::<pyo3::types::PyRange>() {
        // sized before it is read item by item (range(2**62) would eat memory)
        check_alloc("constant", DType::I64, &[obj.len().unwrap_or(usize::MAX)])?;
    }
    if let Some(t) = plain_nested_numbers(obj, hint) {
        return Ok(t);
    }
    let py = obj.py();
    let np = py.import("numpy")?;
    let is_numpy =
        obj.is_instance(&np.getattr("ndarray")?)? || obj.is_instance(&np.getattr("generic")?)?;
    // (numpy alone reads [0, 2**64 - 1] as float64)
    let wanted = (hint == Some(DType::U64) && !is_numpy).then_some("uint64");
    let arr = np
        .call_method1("asarray", (obj, wanted))
        .map_err(|e| ragged_or(obj, e))?;
    let arr = arr.cast::<PyUntypedArray>()?;
    crate::shape::check_rank("constant", arr.ndim())?;
    let (kind, itemsize) = (arr.dtype().kind() as char, arr.dtype().itemsize());
    let natural = match DType::from_numpy(kind, itemsize) {
        Some(d) => d,
        None if arr.getattr("dtype")?.getattr("name")?.extract::<String>()? == "bfloat16" => {
            DType::BF16
        }
        None => {
            return Err(PyValueError::new_err(format!(
                "Attempt to convert a value ({}) with an unsupported type ({}) to a Tensor.",
                short_repr(obj),
                obj.get_type().name()?
            )));
        }
    };
    let target =
        infer::array(natural, is_numpy, hint, || fits_i32(arr)).map_err(|r| refused(obj, r))?;
    // (not ascontiguousarray: it would turn a 0-d array into a 1-d one)
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", target.numpy_name())?;
    kwargs.set_item("order", "C")?;
    let arr = np.call_method("asarray", (arr,), Some(&kwargs))?;
    crate::with_dtype!(target, T => copy_in::<T>(&arr), str => { // (str as UTF-8, as TF)
        let flat = py.import("tapegrad._strings")?.call_method1("_flat_bytes", (obj, hint.is_some()))?;
        let (shape, items): (Vec<usize>, Vec<Bound<'_, PyBytes>>) = flat.extract()?;
        Ok(crate::ops::strings::from_bytes(&shape, items.iter().map(|b| b.as_bytes()))?)
    })
}

/// Tensors own their data: numpy input is copied so later writes to the
/// array cannot change what a tape recorded.
fn copy_in<T: Element + numpy::Element>(arr: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let a: PyReadonlyArrayDyn<'_, T> = arr.extract()?;
    let view = a.as_array();
    // (the copy below cannot fail softly: probe its size first)
    check_alloc("constant", T::DTYPE, view.shape())?;
    if view.is_empty() {
        // Trap: ndarray's `to_owned` keeps an empty view's strides (numpy's,
        // e.g. (36, 12, 4) for shape (0, 3, 3)) and then panics on them.
        return Ok(Tensor::from_array(ArrayD::from_elem(
            view.raw_dim(),
            T::default(),
        )));
    }
    // (through the strided engine, not `to_owned`: fallible, parallel and
    // interruptible for gigabytes, e.g. a broadcast numpy view)
    // SAFETY: pointer and strides of the numpy view borrowed above.
    let data = unsafe { strided::map1(view.shape(), view.as_ptr(), view.strides(), |x: T| x) }?;
    let copy = ArrayD::from_shape_vec(view.raw_dim(), data)
        .map_err(|e| crate::error::Error::invalid("constant", e.to_string()))?;
    Ok(Tensor::from_array(copy))
}

/// An exact Python bool, int or float (not a numpy scalar), as `infer` reads it.
fn python_number(obj: &Bound<'_, PyAny>) -> Option<Number> {
    if obj.is_exact_instance_of::<PyBool>() {
        return Some(Number::Bool(obj.is_truthy().ok()?));
    }
    if obj.is_exact_instance_of::<PyInt>() {
        // (i64 first: the common case, and the cheaper conversion)
        let v = obj
            .extract::<i64>()
            .map(i128::from)
            .or_else(|_| obj.extract::<i128>());
        let saturated = || match obj.lt(0) {
            Ok(true) => i128::MIN,
            _ => i128::MAX,
        };
        return Some(Number::Int(v.unwrap_or_else(|_| saturated())));
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        return obj.extract().ok().map(Number::Float);
    }
    None
}

/// Rectangular nested lists/tuples/ranges of exact Python ints and floats
/// (`[[1.0, 2.0], [3.0, 4.0]]`, `range(4)`), read without a detour through
/// numpy, which cost ~8 µs per small constant; `infer::nested` has the
/// rules. `None` for anything else — empty, ragged, bools, numpy scalars —
/// and the numpy path then decides.
fn plain_nested_numbers(obj: &Bound<'_, PyAny>, hint: Option<DType>) -> Option<Tensor> {
    fn walk(
        obj: &Bound<'_, PyAny>,
        depth: usize,
        shape: &mut Vec<usize>,
        out: &mut Vec<Number>,
    ) -> Option<()> {
        let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<pyo3::types::PyList>() {
            l.iter().collect()
        } else if let Ok(t) = obj.cast::<pyo3::types::PyTuple>() {
            t.iter().collect()
        } else if obj.is_exact_instance_of::<pyo3::types::PyRange>() && depth == 0 {
            obj.try_iter().ok()?.collect::<PyResult<_>>().ok()?
        } else {
            return None;
        };
        if items.is_empty() || depth >= 8 {
            return None;
        }
        match shape.get(depth) {
            Some(&n) if n != items.len() => return None, // ragged
            Some(_) => {}
            None if depth == shape.len() && out.is_empty() => shape.push(items.len()),
            None => return None, // deeper here than the first element was
        }
        for item in &items {
            match python_number(item) {
                Some(Number::Bool(_)) => return None,
                Some(n) if shape.len() == depth + 1 => out.push(n),
                Some(_) => return None, // a scalar where the first element was a list
                None => walk(item, depth + 1, shape, out)?,
            }
        }
        Some(())
    }
    let (mut shape, mut values) = (Vec::new(), Vec::new());
    walk(obj, 0, &mut shape, &mut values)?;
    infer::nested(&shape, &values, hint)
}

fn fits_i32(arr: &Bound<'_, PyUntypedArray>) -> bool {
    let Ok(a) = arr.extract::<PyReadonlyArrayDyn<'_, i64>>() else {
        return false;
    };
    a.as_array().iter().all(|&v| i32::try_from(v).is_ok())
}

/// The object's repr, cut to 60 characters for messages.
/// numpy's text for a ragged nested list ("… inhomogeneous shape …") names
/// numpy's internals, not the fix.
fn ragged_or(obj: &Bound<'_, PyAny>, err: PyErr) -> PyErr {
    let py = obj.py();
    if err.is_instance_of::<PyValueError>(py) && err.value(py).to_string().contains("inhomogeneous")
    {
        return PyValueError::new_err(format!(
            "Can't convert non-rectangular Python sequence to Tensor: {} has rows of different \
             lengths (or mixes numbers and lists); every row along an axis needs the same \
             length: pad the rows, or convert each row to its own tensor",
            short_repr(obj)
        ));
    }
    err
}

fn short_repr(obj: &Bound<'_, PyAny>) -> String {
    let r = obj.repr().map_or_else(|_| "?".into(), |r| r.to_string());
    match r.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &r[..cut]),
        None => r,
    }
}

fn refused(obj: &Bound<'_, PyAny>, refusal: Refusal) -> PyErr {
    match refusal {
        Refusal::OutOfInt64 => PyValueError::new_err(format!(
            "Can't convert Python int {obj} to a tensor: out of int64 range"
        )),
        Refusal::Cannot(d) => PyTypeError::new_err(format!(
            "Cannot convert {} to EagerTensor of dtype {}",
            short_repr(obj),
            d.name()
        )),
    }
}

/// A fresh numpy array holding a copy of the tensor.
pub fn to_numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    // numpy refuses (and rust-numpy would panic on) shapes whose extents
    // overflow, even when the array is empty
    check_alloc("numpy", t.dtype(), t.shape())?;
    numpy_knows(py, t.dtype())?;
    with_data!(t.data(), a => Ok(a.to_pyarray(py).into_any()), str a => {
        let bytes = a.map(|b| PyBytes::new(py, b).unbind()); // TF: an array of bytes objects
        Ok(numpy::PyArray::from_owned_object_array(py, bytes).into_any())
    })
}

/// The dtype of the first tensor-like argument, which every other argument
/// of an op adopts (TF converts the rest with it as the dtype hint).
fn leading_dtype<'py>(args: &[impl Borrow<Bound<'py, PyAny>>]) -> Option<DType> {
    args.iter()
        .map(Borrow::borrow)
        .find_map(|a| match a.cast::<PyTensor>() {
            Ok(t) => Some(t.get().tensor().dtype()),
            Err(_) => a.cast::<PyVariable>().ok().map(|v| v.get().dtype()),
        })
}

/// Convert the operands of an n-ary op with TF's hint rule.
/// `operands` of two arguments, as a pair (no length to check).
pub fn operand_pair<'py, A: Borrow<Bound<'py, PyAny>>>(a: &A, b: &A) -> PyResult<[Tensor; 2]> {
    let mut hint = leading_dtype(&[a.borrow(), b.borrow()]);
    let a = to_tensor(a.borrow(), hint)?;
    hint.get_or_insert(a.dtype());
    Ok([a, to_tensor(b.borrow(), hint)?])
}

pub fn operands<'py>(args: &[impl Borrow<Bound<'py, PyAny>>]) -> PyResult<Vec<Tensor>> {
    let mut hint = leading_dtype(args);
    args.iter()
        .map(|a| {
            let a = a.borrow();
            let t = to_tensor(a, hint)?;
            hint.get_or_insert(t.dtype());
            Ok(t)
        })
        .collect()
}
