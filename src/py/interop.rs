//! numpy's array protocol, ufunc hook, pickling and `ref()` for `Tensor`
//! and `Variable` (DLPack is in `dlpack.rs`). The Python halves (the ufunc
//! table, `Reference`, the unpickling functions) live in `tapegrad._ufunc`
//! and `tapegrad._interop`; this side converts and forwards.

use numpy::{PyArray, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCapsule, PyDict, PyTuple};

use super::args::DTypeArg;
use super::convert::{dtype_from_py, to_numpy};
use super::python_attr;
use super::tensor::PyTensor;
use crate::tensor::{Tensor, check_alloc};
use crate::with_data;

/// A read-only numpy array over the buffer of `owner`'s tensor, with `owner`
/// as its base (so the buffer lives as long as the array). Any strided
/// layout is representable in numpy, so this never copies.
pub fn shared_view<'py>(owner: &Bound<'py, PyTensor>) -> PyResult<Bound<'py, PyAny>> {
    let t = owner.get().tensor();
    // numpy refuses (and rust-numpy would panic on) shapes whose extents
    // overflow, even when the array is empty
    check_alloc("numpy", t.dtype(), t.shape())?;
    super::convert::numpy_knows(owner.py(), t.dtype())?;
    let view = with_data!(t.data(), a => {
        // SAFETY: `owner` becomes the array's base and holds a clone of the
        // `Arc` owning this buffer. Tensors are never written after creation,
        // and a copy-on-write update of the `Arc` (a `Variable` assign, say)
        // sees a shared buffer while the base lives and copies: the memory
        // neither moves nor changes under the array.
        let arr = unsafe { PyArray::borrow_from_array(a, owner.clone().into_any()) };
        // a fresh array has no other borrow; clearing WRITEABLE is final,
        // since numpy refuses to set it again on an array whose base (a
        // Tensor) does not export a writable buffer
        drop(arr.try_readwrite()?.make_nonwriteable());
        arr.into_any()
    }, str _ => return to_numpy(owner.py(), t)); // (bytes objects: a copy)
    Ok(view)
}

/// A new tensor that `fill(array)` overwrites first (MPI receives into it): zeros or a
/// buffer nothing holds any more (`crate::reuse`). The writable array lives only during
/// the call: keeping it, or a view of it, is refused, since tensors never change.
#[pyfunction]
pub fn _fill_new(
    dtype: DTypeArg,
    shape: Vec<usize>,
    fill: &Bound<'_, PyAny>,
) -> PyResult<PyTensor> {
    let fresh = crate::reuse::receive_buffer("fill_new", dtype.0, &shape)?;
    check_alloc("numpy", dtype.0, &shape)?;
    let owner = PyCapsule::new_with_value(fill.py(), fresh.data().clone(), c"tapegrad.fill_new")?;
    let array = with_data!(fresh.data(), a => {
        // SAFETY: the base `owner` co-owns the buffer, so it outlives the
        // array; the tensor is returned only if no array over it survives.
        unsafe { PyArray::borrow_from_array(a, owner.clone().into_any()) }.into_any()
    });
    fill.call1((&array,))?;
    // SAFETY: live objects; one reference each: ours, and the array's base
    let (array_refs, owner_refs) = unsafe {
        (
            pyo3::ffi::Py_REFCNT(array.as_ptr()),
            pyo3::ffi::Py_REFCNT(owner.as_ptr()),
        )
    };
    if array_refs > 1 || owner_refs > 2 {
        return Err(PyValueError::new_err(
            "_fill_new: the fill function kept the array it was given (or a view of it); \
             it may only write into it",
        ));
    }
    crate::reuse::keep(&fresh);
    Ok(PyTensor::new(fresh))
}

/// The numpy dtype a `dtype=` argument asks for (numpy's spellings, or ours).
fn numpy_dtype<'py>(d: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let np = d.py().import("numpy")?;
    match np.call_method1("dtype", (d,)) {
        Ok(dt) => Ok(dt),
        Err(_) => np.call_method1("dtype", (dtype_from_py(d)?.name(),)),
    }
}

/// `__array__(dtype=None, copy=None)`, numpy 2's protocol: `copy=None` shares
/// the buffer (read-only) unless a dtype change forces a copy; `copy=True`
/// is a fresh writable array; `copy=False` refuses to copy with `ValueError`.
pub fn array<'py>(
    owner: &Bound<'py, PyTensor>,
    dtype: Option<&Bound<'py, PyAny>>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = owner.py();
    let t = owner.get().tensor();
    let cast_to = match dtype.filter(|d| !d.is_none()) {
        Some(d) => {
            let wanted = numpy_dtype(d)?;
            (!wanted.eq(t.dtype().name())?).then_some(wanted)
        }
        None => None,
    };
    match (cast_to, copy) {
        (Some(wanted), Some(false)) => Err(PyValueError::new_err(format!(
            "Unable to avoid copy while creating an array as requested: a tensor of dtype {} \
             and shape {:?} cannot be viewed as {} (pass copy=None to allow the cast)",
            t.dtype().name(),
            t.shape(),
            wanted.str()?
        ))),
        (Some(wanted), _) => shared_view(owner)?.call_method1("astype", (wanted,)),
        (None, Some(true)) => to_numpy(py, t),
        (None, _) => shared_view(owner),
    }
}

static ARRAY_UFUNC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `__array_ufunc__`: the policy and the ufunc→op table are in `tapegrad._ufunc`.
pub fn array_ufunc<'py>(
    ufunc: &Bound<'py, PyAny>,
    method: &Bound<'py, PyAny>,
    inputs: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = ufunc.py();
    let dispatch = python_attr(py, &ARRAY_UFUNC, "tapegrad._ufunc", "array_ufunc")?;
    let kwargs = match kwargs {
        Some(k) => k.clone(),
        None => PyDict::new(py),
    };
    dispatch.call1((ufunc, method, inputs, kwargs))
}

static REFERENCE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `x.ref()`: a hashable `tapegrad._interop.Reference` to `x`.
pub fn reference<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    python_attr(obj.py(), &REFERENCE, "tapegrad._interop", "Reference")?.call1((obj,))
}

static REBUILD_TENSOR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static REBUILD_VARIABLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `Tensor.__reduce__`: rebuilt from a numpy copy, which keeps dtype and shape exactly.
pub fn reduce_tensor<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyTuple>> {
    let rebuild = python_attr(py, &REBUILD_TENSOR, "tapegrad._interop", "rebuild_tensor")?;
    PyTuple::new(
        py,
        [rebuild, PyTuple::new(py, [to_numpy(py, t)?])?.into_any()],
    )
}

/// The arguments of `rebuild_variable` for a variable's value, name and flag.
/// `name` is the full name (`w:0`): the constructor appends the `:0` again.
pub fn variable_state<'py>(
    py: Python<'py>,
    value: &Tensor,
    name: &str,
    trainable: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
    let rebuild = python_attr(
        py,
        &REBUILD_VARIABLE,
        "tapegrad._interop",
        "rebuild_variable",
    )?;
    let base_name = name.strip_suffix(":0").unwrap_or(name);
    let args = (to_numpy(py, value)?, base_name, trainable).into_pyobject(py)?;
    Ok((rebuild, args))
}
