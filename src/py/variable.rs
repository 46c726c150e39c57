//! `tapegrad.Variable`: a named, lockable holder of a tensor value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::args::DTypeArg;
use super::convert::to_tensor;
use super::run;
use super::tensor::{PyTensor, tensor_protocol};
use crate::ops;
use crate::tensor::{Tensor, TensorId};
use crate::trace::Update;
use crate::variable::{self, Variable};

pub struct VarInner {
    var: Arc<Variable>,
    name: String,
}

// Python wrappers share one `VarInner`; `watched_variables()` hands out new
// wrappers of the same variable.
/// A mutable tensor (`tf.Variable`): `assign`, `assign_add` and `assign_sub`
/// change it in place, and a `GradientTape` watches trainable variables
/// automatically.
///
/// Example:
///     >>> import tapegrad as tf
///     >>> v = tf.Variable([1.0, 2.0])
///     >>> with tf.GradientTape() as tape:
///     ...     y = tf.reduce_sum(v * v)
///     >>> print(tape.gradient(y, v))
///     tapegrad.Tensor([2. 4.], shape=(2,), dtype=float32)
///     >>> _ = v.assign_sub([0.5, 0.5])
///     >>> print(v.numpy())
///     [0.5 1.5]
#[pyclass(frozen, name = "Variable", module = "tapegrad", weakref)]
pub struct PyVariable {
    inner: Arc<VarInner>,
}

/// Live variables by handle, so a tape can hand back the ones it watched.
static LIVE: Mutex<Option<HashMap<TensorId, Weak<VarInner>>>> = Mutex::new(None);
impl PyVariable {
    /// The current value (a step of an active trace, recorded by tapes).
    pub fn read(&self) -> Tensor {
        crate::trace::read_variable(&self.inner.var)
    }

    pub fn dtype(&self) -> crate::DType {
        self.inner.var.dtype()
    }

    pub fn handle_meta(&self) -> crate::tensor::TensorMeta {
        self.inner.var.handle_meta()
    }

    pub fn trainable(&self) -> bool {
        self.inner.var.trainable()
    }

    /// The core variable (optimizers update it in place).
    pub(crate) fn variable(&self) -> &Arc<Variable> {
        &self.inner.var
    }

    /// The variable's name, as `Variable.name` ("w:0").
    pub(crate) fn var_name(&self) -> &str {
        &self.inner.name
    }

    /// Operators and conversions read the variable (recorded under a tape).
    pub(crate) fn current(&self) -> std::borrow::Cow<'_, Tensor> {
        std::borrow::Cow::Owned(self.read())
    }

    /// numpy views and DLPack capsules of a variable hold a snapshot of its
    /// current value, unrecorded: `assign` replaces the value's buffer rather
    /// than writing into it, so a snapshot never sees later updates.
    pub(crate) fn numpy_owner<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTensor>> {
        // (a trace records the read: the value is the replay's, not the trace's)
        let value = match crate::trace::is_tracing() {
            true => slf.get().read(),
            false => slf.get().inner.var.peek(),
        };
        Bound::new(slf.py(), PyTensor::new(value))
    }

    /// `rebuild_variable` and its arguments: a new variable equal to this one.
    fn rebuild_args<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, pyo3::types::PyTuple>)> {
        crate::py::interop::variable_state(
            py,
            &self.inner.var.peek(),
            &self.inner.name,
            self.trainable(),
        )
    }

    /// `assign`, `assign_add` or `assign_sub` (`apply`) with `value`
    /// converted to the variable's dtype; returns the variable if asked.
    fn update(
        slf: &Bound<'_, Self>,
        value: &Bound<'_, PyAny>,
        read_value: bool,
        how: Update,
    ) -> PyResult<Option<Py<Self>>> {
        let var = &slf.get().inner.var;
        let t = to_tensor(value, Some(var.dtype()))?;
        run(slf.py(), t.numel(), || {
            crate::trace::update_variable(var, how, &t)
        })?;
        Ok(read_value.then(|| slf.clone().unbind()))
    }

    /// A wrapper of the live variable with this handle, if any.
    pub fn lookup(handle: TensorId) -> Option<PyVariable> {
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let inner = live.as_ref()?.get(&handle)?.upgrade()?;
        Some(PyVariable { inner })
    }
}

impl Drop for PyVariable {
    fn drop(&mut self) {
        // The last wrapper of a variable takes it out of the live table.
        if Arc::strong_count(&self.inner) == 1 {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = live.as_mut() {
                m.remove(&self.inner.var.handle());
            }
        }
    }
}

static STATE: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// A function of `tapegrad._state`: sliced assignment and the `scatter_*`
/// methods are written in Python over `tensor_scatter_nd`.
pub(crate) fn state_fn<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    super::python_attr(py, &STATE, "tapegrad", "_state")?.getattr(name)
}

tensor_protocol!(PyVariable, "Variable", "variable.ref()", {
    /// `v[key]`: a tensor whose `.assign(x)` writes `x` into that slice of `v`.
    fn __getitem__<'py>(
        slf: &Bound<'py, Self>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sliced = crate::py::ops::getitem(&slf.get().current(), key)?;
        state_fn(slf.py(), "remember_slice")?.call1((slf, key, sliced))
    }

    /// `scatter_nd_update`, `scatter_update`, … (`tapegrad._state`).
    fn __getattr__<'py>(slf: &Bound<'py, Self>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        state_fn(slf.py(), "variable_attr")?.call1((slf, name))
    }

    #[new]
    #[pyo3(signature = (
        initial_value, trainable=None, validate_shape=true, caching_device=None, name=None,
        variable_def=None, dtype=None, import_scope=None, constraint=None,
        synchronization=None, aggregation=None, shape=None
    ))]
    // (graph-mode and distribution arguments have no meaning in eager mode)
    #[allow(clippy::too_many_arguments, unused_variables)]
    fn py_new(
        initial_value: &Bound<'_, PyAny>,
        trainable: Option<bool>,
        validate_shape: bool,
        caching_device: Option<&Bound<'_, PyAny>>,
        name: Option<String>,
        variable_def: Option<&Bound<'_, PyAny>>,
        dtype: Option<DTypeArg>,
        import_scope: Option<&Bound<'_, PyAny>>,
        constraint: Option<&Bound<'_, PyAny>>,
        synchronization: Option<&Bound<'_, PyAny>>,
        aggregation: Option<&Bound<'_, PyAny>>,
        shape: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyVariable> {
        if constraint.is_some_and(|c| !c.is_none()) {
            return Err(PyValueError::new_err(
                "Variable constraints are not supported",
            ));
        }
        let dtype = dtype.map(|d| d.0);
        let initial = if initial_value.is_callable() {
            initial_value.call0()?
        } else {
            initial_value.clone()
        };
        // Initial values are computed off the tape, as TF does.
        let mut value = crate::tape::without_recording(|| to_tensor(&initial, dtype))?;
        if let Some(d) = dtype {
            value = run(initial.py(), value.numel(), || ops::cast(&value, d))?;
        }
        let name = variable::scoped_name(name);
        crate::trace::created_variable();
        let inner = Arc::new(VarInner {
            var: Arc::new(Variable::new(value, trainable.unwrap_or(true))),
            name: format!("{name}:0"),
        });
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(inner.var.handle(), Arc::downgrade(&inner));
        Ok(PyVariable { inner })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        crate::py::protocol::variable_repr(py, &self.inner.var.peek(), &self.inner.name)
    }

    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        self.__repr__(py)
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    #[getter(trainable)]
    fn py_trainable(&self) -> bool {
        self.inner.var.trainable()
    }

    /// The current value as a tensor (recorded as a read under a tape).
    fn read_value(&self) -> PyTensor {
        PyTensor::new(self.read())
    }

    #[pyo3(name = "value")]
    fn py_value(&self) -> PyTensor {
        PyTensor::new(self.read())
    }

    /// Set the value (same dtype and shape); returns the variable.
    #[pyo3(signature = (value, use_locking=false, name=None, read_value=true))]
    fn assign(
        slf: &Bound<'_, Self>,
        value: &Bound<'_, PyAny>,
        use_locking: bool,
        name: Option<&str>,
        read_value: bool,
    ) -> PyResult<Option<Py<Self>>> {
        let _ = (use_locking, name);
        Self::update(slf, value, read_value, Update::Assign)
    }

    #[pyo3(signature = (delta, use_locking=false, name=None, read_value=true))]
    fn assign_add(
        slf: &Bound<'_, Self>,
        delta: &Bound<'_, PyAny>,
        use_locking: bool,
        name: Option<&str>,
        read_value: bool,
    ) -> PyResult<Option<Py<Self>>> {
        let _ = (use_locking, name);
        Self::update(slf, delta, read_value, Update::Add)
    }

    #[pyo3(signature = (delta, use_locking=false, name=None, read_value=true))]
    fn assign_sub(
        slf: &Bound<'_, Self>,
        delta: &Bound<'_, PyAny>,
        use_locking: bool,
        name: Option<&str>,
        read_value: bool,
    ) -> PyResult<Option<Py<Self>>> {
        let _ = (use_locking, name);
        Self::update(slf, delta, read_value, Update::Sub)
    }

    /// `copy.copy(v)` is `v` itself, as in TF: a shallow copy shares the state.
    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// A new, distinct variable with this name, dtype, shape, value and
    /// trainable flag (assigning one leaves the other alone; `copy.deepcopy`
    /// records the result in `_memo`).
    fn __deepcopy__<'py>(
        &self,
        py: Python<'py>,
        _memo: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (rebuild, args) = self.rebuild_args(py)?;
        rebuild.call1(args)
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, pyo3::types::PyTuple>)> {
        self.rebuild_args(py)
    }

    /// Make `prefix` ("" or ending in '/') this thread's active name scope,
    /// which new variables' names start with; returns the previous one
    /// (`tapegrad.name_scope`'s binding: `__enter__` and `__exit__` swap).
    #[staticmethod]
    fn _swap_name_scope(prefix: String) -> String {
        variable::swap_name_scope(prefix)
    }

    /// This thread's active name scope ("" or "outer/inner/").
    #[staticmethod]
    fn _current_name_scope() -> String {
        variable::current_name_scope()
    }

    /// The handle id that stands for this variable on tapes.
    #[getter]
    fn _handle_id(&self) -> u64 {
        self.inner.var.handle()
    }
});
