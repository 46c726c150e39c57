//! `tapegrad.Tensor`, and the Python protocol shared with `Variable`
//! (operators, conversions, repr), generated once by `tensor_protocol!`.

use pyo3::prelude::*;

use crate::tensor::Tensor;

// Frozen: every method takes `&self` without a lock.
/// An immutable n-dimensional array of any tapegrad dtype, with numpy-style
/// operators; ops on it are recorded by any active `GradientTape` watching it.
///
/// Example:
///     >>> import tapegrad as tf
///     >>> x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
///     >>> x.shape, x.dtype
///     (TensorShape([2, 2]), tapegrad.float32)
///     >>> print(x @ x + 1.0)
///     tapegrad.Tensor(
///     [[ 8. 11.]
///      [16. 23.]], shape=(2, 2), dtype=float32)
///     >>> x.numpy()[1]
///     array([3., 4.], dtype=float32)
#[pyclass(frozen, name = "Tensor", module = "tapegrad", weakref)]
pub struct PyTensor {
    tensor: Tensor,
}

impl PyTensor {
    pub fn new(tensor: Tensor) -> PyTensor {
        PyTensor { tensor }
    }

    pub fn tensor(&self) -> &Tensor {
        &self.tensor
    }

    /// The value operators and conversions act on (borrowed: no handle copy).
    pub(crate) fn current(&self) -> std::borrow::Cow<'_, Tensor> {
        std::borrow::Cow::Borrowed(&self.tensor)
    }

    /// A tensor is immutable, so numpy may view its own buffer.
    pub(crate) fn numpy_owner<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTensor>> {
        Ok(slf.clone())
    }
}

/// The `#[pymethods]` block of a tensor-like class: `$ty` must have
/// `fn current(&self) -> Cow<Tensor>` (what operators act on) and
/// `fn numpy_owner(slf) -> PyResult<Bound<PyTensor>>` (the immutable tensor
/// that numpy views and DLPack capsules keep alive); `$kind` and `$key` name
/// the class and its `ref()` in messages; `$extra` holds its own methods.
macro_rules! tensor_protocol {
    ($ty:ident, $kind:literal, $key:literal, { $($extra:tt)* }) => {
        // The operators: [binary: method, reflected, core op], [unary: method,
        // core op], [`**`, which also takes Python's `modulo`: method, reflected].
        $crate::py::tensor::tensor_protocol!(@methods $ty, $kind, $key, { $($extra)* }, [
            __add__ false $crate::ops::add; __radd__ true $crate::ops::add;
            __sub__ false $crate::ops::subtract; __rsub__ true $crate::ops::subtract;
            __mul__ false $crate::ops::multiply; __rmul__ true $crate::ops::multiply;
            __truediv__ false $crate::ops::truediv; __rtruediv__ true $crate::ops::truediv;
            __matmul__ false $crate::py::protocol::matmul;
            __rmatmul__ true $crate::py::protocol::matmul;
            __floordiv__ false $crate::ops::floordiv; __rfloordiv__ true $crate::ops::floordiv;
            __mod__ false $crate::ops::floormod; __rmod__ true $crate::ops::floormod;
            __and__ false $crate::ops::logical_and; __rand__ true $crate::ops::logical_and;
            __or__ false $crate::ops::logical_or; __ror__ true $crate::ops::logical_or;
            __lt__ false $crate::ops::less; __le__ false $crate::ops::less_equal;
            __gt__ false $crate::ops::greater; __ge__ false $crate::ops::greater_equal;
        ], [
            __invert__ $crate::ops::logical_not; __neg__ $crate::ops::negative;
            __abs__ $crate::ops::abs;
        ], [__pow__ false; __rpow__ true;]);
    };
    (
        @methods $ty:ident, $kind:literal, $key:literal, { $($extra:tt)* },
        [$($binary:ident $reflected:literal $binary_op:path;)*],
        [$($unary:ident $unary_op:path;)*],
        [$($power:ident $power_reflected:literal;)*]
    ) => {
        #[pymethods]
        impl $ty {
            $($extra)*

            /// A copy of the values as a numpy array; a 0-d value gives a numpy
            /// scalar (`np.float32(2.0)`), as TF's `numpy()` does.
            fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let value = self.current();
                $crate::tape::record_escape("numpy()", value.id(), None);
                $crate::trace::guard_value(&value);
                let array = $crate::py::convert::to_numpy(py, &value)?;
                if value.rank() == 0 {
                    array.get_item(pyo3::types::PyTuple::empty(py))
                } else {
                    Ok(array)
                }
            }

            /// TF's name of the device holding the values: always the host CPU.
            #[getter]
            fn device(&self) -> &'static str {
                "/job:localhost/replica:0/task:0/device:CPU:0"
            }

            /// Could converting this value to numpy cut a gradient? True when it is
            /// floating and a tape records on this thread (`tapegrad._ufunc`'s warning).
            fn _may_be_recorded(&self) -> bool {
                self.current().dtype().is_float() && $crate::tape::is_recording()
            }

            /// numpy functions (`np.sum`, `np.concatenate`, …) convert tensors to
            /// arrays, as in TF; the policy is `tapegrad._ufunc.array_function`.
            fn __array_function__<'py>(
                &self,
                py: Python<'py>,
                func: &Bound<'py, PyAny>,
                types: &Bound<'py, PyAny>,
                args: &Bound<'py, PyAny>,
                kwargs: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                py.import("tapegrad._ufunc")?
                    .getattr("array_function")?
                    .call1((func, types, args, kwargs))
            }

            #[getter(shape)]
            fn py_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::protocol::shape_object(py, self.current().shape())
            }

            #[getter(dtype)]
            fn py_dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::convert::dtype_to_py(py, self.current().dtype())
            }

            #[getter]
            fn ndim(&self) -> usize {
                self.current().rank()
            }

            /// The rows, as in `for row in tensor`.
            fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let rows = $crate::py::ops::rows(py, &self.current())?;
                Ok(pyo3::types::PyList::new(py, rows)?.into_any().try_iter()?.into_any())
            }

            fn __len__(&self) -> PyResult<usize> {
                $crate::py::protocol::len(&self.current())
            }

            fn __bool__(&self) -> PyResult<bool> {
                $crate::py::protocol::truth(&self.current())
            }

            fn __float__(&self) -> PyResult<f64> {
                let t = self.current();
                $crate::tape::record_escape("float()", t.id(), None);
                $crate::py::protocol::scalar(&t, "float")
            }

            fn __int__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let t = self.current();
                $crate::tape::record_escape("int()", t.id(), None);
                $crate::py::protocol::int(py, &t)
            }

            fn __index__(&self) -> PyResult<i128> {
                $crate::py::protocol::index(&self.current())
            }

            fn __hash__(&self) -> PyResult<isize> {
                Err(pyo3::exceptions::PyTypeError::new_err(concat!(
                    $kind,
                    " is unhashable. Instead, use ",
                    $key,
                    " as the key."
                )))
            }

            /// A hashable reference to this object, for dict keys and sets.
            #[pyo3(name = "ref")]
            fn py_ref<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::interop::reference(slf.as_any())
            }

            /// TF's older name of `ref()`.
            fn experimental_ref<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::interop::reference(slf.as_any())
            }

            /// numpy 2's `__array__`: without `copy=True`, a read-only array
            /// sharing the tensor's memory (see `interop::array`).
            #[pyo3(signature = (dtype=None, copy=None))]
            fn __array__<'py>(
                slf: &Bound<'py, Self>,
                dtype: Option<&Bound<'py, PyAny>>,
                copy: Option<bool>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let owner = Self::numpy_owner(slf)?;
                $crate::tape::record_escape("a numpy array (np.asarray or a numpy function)", owner.get().tensor().id(), None);
                $crate::trace::guard_value(owner.get().tensor());
                $crate::py::interop::array(&owner, dtype, copy)
            }

            #[classattr]
            fn __array_priority__() -> i32 {
                100
            }

            /// numpy ufuncs run as tapegrad ops (so gradients flow) or raise;
            /// the table and the policy are in `tapegrad._ufunc`.
            #[pyo3(signature = (ufunc, method, *inputs, **kwargs))]
            fn __array_ufunc__<'py>(
                &self,
                ufunc: &Bound<'py, PyAny>,
                method: &Bound<'py, PyAny>,
                inputs: &Bound<'py, pyo3::types::PyTuple>,
                kwargs: Option<&Bound<'py, pyo3::types::PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::interop::array_ufunc(ufunc, method, inputs, kwargs)
            }

            #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
            fn __dlpack__<'py>(
                slf: &Bound<'py, Self>,
                stream: Option<&Bound<'py, PyAny>>,
                max_version: Option<&Bound<'py, PyAny>>,
                dl_device: Option<&Bound<'py, PyAny>>,
                copy: Option<bool>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let owner = Self::numpy_owner(slf)?;
                $crate::trace::guard_value(owner.get().tensor());
                $crate::py::dlpack::export(&owner, stream, max_version, dl_device, copy)
            }

            fn __dlpack_device__(&self) -> (i32, i32) {
                $crate::py::dlpack::CPU_DEVICE
            }

            fn __format__(&self, py: Python<'_>, spec: &str) -> PyResult<String> {
                $crate::py::protocol::format(py, &self.current(), spec)
            }

            $(
                fn $binary(&self, o: &Bound<'_, PyAny>) -> PyResult<$crate::py::tensor::PyTensor> {
                    $crate::py::protocol::binary(stringify!($binary), &self.current(), o, $reflected, $binary_op)
                }
            )*
            $(
                fn $unary(&self, py: Python<'_>) -> PyResult<$crate::py::tensor::PyTensor> {
                    $crate::py::protocol::unary(py, stringify!($unary), self.current().into_owned(), $unary_op)
                }
            )*
            $(
                fn $power(
                    &self,
                    o: &Bound<'_, PyAny>,
                    _modulo: Option<&Bound<'_, PyAny>>,
                ) -> PyResult<$crate::py::tensor::PyTensor> {
                    $crate::py::protocol::binary(stringify!($power), &self.current(), o, $power_reflected, $crate::ops::pow)
                }
            )*
            fn __pos__(&self) -> PyResult<$crate::py::tensor::PyTensor> {
                Ok($crate::py::tensor::PyTensor::new(self.current().into_owned()))
            }
            fn __eq__<'py>(&self, py: Python<'py>, o: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::protocol::equality(py, self.current().into_owned(), o, true)
            }
            fn __ne__<'py>(&self, py: Python<'py>, o: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::protocol::equality(py, self.current().into_owned(), o, false)
            }
        }
    };
}
pub(crate) use tensor_protocol;

tensor_protocol!(PyTensor, "Tensor", "tensor.ref()", {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        crate::py::protocol::repr(py, &self.tensor, "tapegrad.Tensor")
    }

    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        crate::py::protocol::str(py, &self.tensor)
    }

    fn __getitem__(&self, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        crate::py::ops::getitem(&self.tensor, key)
    }

    /// Only a slice of a Variable has an attribute beyond the class's:
    /// `.assign`, which writes through the slice (TF; `tapegrad._state`).
    fn __getattr__<'py>(slf: &Bound<'py, Self>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        if name != "assign" {
            let msg = format!("'tapegrad.Tensor' object has no attribute '{name}'");
            return Err(pyo3::exceptions::PyAttributeError::new_err(msg));
        }
        crate::py::variable::state_fn(slf.py(), "slice_assign")?.call1((slf,))
    }

    /// A unique id for this tensor (TF's `Tensor._id`).
    #[getter]
    fn _id(&self) -> u64 {
        self.tensor.id()
    }

    /// Tensors are immutable: a copy, shallow or deep, is the tensor itself (TF).
    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __deepcopy__(slf: Py<Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
        slf
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        crate::trace::guard_value(&self.tensor);
        crate::py::interop::reduce_tensor(py, &self.tensor)
    }
});
