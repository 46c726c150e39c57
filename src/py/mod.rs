//! The Python bindings: the only code that imports pyo3. Each binding
//! converts arguments, calls the core, and maps errors through the one
//! bridge in `errors.rs`; heavy calls release the GIL through `run`.

mod args;
mod convert;
mod dlpack;
mod errors;
mod interop;
mod ops;
mod optim;
mod protocol;
mod tape;
mod tensor;
mod trace;
mod variable;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::error::Result;
use crate::kernels::PAR_MIN_LEN;

/// Run a core call, releasing the GIL when it touches enough elements to be
/// worth it (`work` elements); core errors become Python exceptions.
pub(crate) fn run<T: Send>(
    py: Python<'_>,
    work: usize,
    f: impl FnOnce() -> Result<T> + Send,
) -> PyResult<T> {
    let out = if work >= PAR_MIN_LEN {
        py.detach(|| crate::fork::outside_fork(f))
    } else {
        f()
    };
    let out = out?;
    match crate::tape::take_numerics_error() {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// `run` for a core call that a trace records as one step: `f` maps the
/// `inputs` (and, at every replay, the replay's tensors) to the result.
pub(crate) fn run_traced<O: crate::trace::Outputs + Send>(
    py: Python<'_>,
    work: usize,
    name: &'static str,
    inputs: Vec<crate::tensor::Tensor>,
    f: impl Fn(&[crate::tensor::Tensor]) -> Result<O> + Send + Sync + 'static,
) -> PyResult<O> {
    if !crate::trace::is_tracing() {
        return run(py, work, || f(&inputs));
    }
    let kernel = crate::trace::kernel(move |xs| f(xs).map(O::flat));
    crate::trace::clear_notes();
    let out = run(py, work, || kernel(&inputs))?;
    crate::trace::record_op(name, &inputs, &out, kernel);
    Ok(O::unflat(out))
}

/// While `tf.saved_model.save` traces, hand a call's arguments to its describer.
pub(crate) fn describe<'py>(
    py: Python<'py>,
    name: &str,
    args: impl FnOnce() -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>>,
) -> PyResult<()> {
    static DESCRIBER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if crate::trace::describing() {
        python_attr(py, &DESCRIBER, "tapegrad._saved_model", "_describe")?
            .call1((name, args()?))?;
    }
    Ok(())
}

/// `module.name`, imported once per process into `cell`.
pub(crate) fn python_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let obj = cell.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import(module)?.getattr(name)?.unbind())
    })?;
    Ok(obj.bind(py).clone())
}

/// Every Rust allocation of the extension goes through the buffer cache.
#[global_allocator]
static ALLOCATOR: crate::alloc::CachingAllocator<crate::alloc::MiMalloc> =
    crate::alloc::CachingAllocator::new(crate::alloc::MiMalloc);

/// Give cached and kept buffers and mimalloc's free pages back; returns their bytes.
#[pyfunction]
fn _release_cached_memory() -> usize {
    let freed = crate::reuse::release() + ALLOCATOR.release();
    crate::alloc::return_mimalloc_pages();
    freed
}

/// Pending signals (Ctrl-C) surface as their Python exception mid-backward.
fn check_signals() -> Result<()> {
    Ok(Python::attach(|py| py.check_signals())?)
}

/// `tf.debugging.enable_check_numerics` / `disable_check_numerics`.
#[pyfunction]
fn _set_check_numerics(on: bool) {
    crate::tape::set_check_numerics(on);
}

/// `os.register_at_fork`'s hooks "before"/"parent"/"child" (`crate::fork`).
#[pyfunction]
fn _at_fork(py: Python<'_>, stage: &str) {
    match stage {
        "before" => py.detach(crate::fork::before_fork),
        _ => crate::fork::after_fork(stage == "child"),
    }
}

/// The extension module: every name `tapegrad` builds on, declared here once.
#[pymodule(gil_used = false)]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::{
        _at_fork, _release_cached_memory, _set_check_numerics,
        interop::_fill_new,
        ops::PyOp,
        optim::{PyFusedOptimizer, PyOptimizerRule},
        tape::{PyForwardAccumulator, PySuspension, PyTape, record_custom},
        tensor::PyTensor,
        trace::{
            _is_tracing, _trace_abort, _trace_begin, _trace_callback, _trace_created,
            _trace_describe, _trace_finish, _trace_slots, _trace_unsupported, PyPlan,
        },
        variable::PyVariable,
    };

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::tape::set_interrupt_hook(super::check_signals);
        super::ops::register(m)?;
        m.add("ops", super::ops::registry(m.py())?)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
