//! The Python bindings: the only code that imports pyo3. Each binding
//! converts arguments, calls the core, and maps errors through the one
//! bridge in `errors.rs`; heavy calls release the GIL through `run`.

mod convert;
mod dlpack;
mod errors;
mod interop;
mod ops;
mod optim;
mod protocol;
mod tape;
mod tensor;
mod variable;

use pyo3::prelude::*;

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
        py.detach(f)
    } else {
        f()
    };
    Ok(out?)
}

/// Every Rust allocation of the extension goes through the buffer cache.
#[global_allocator]
static ALLOCATOR: crate::alloc::CachingAllocator<mimalloc::MiMalloc> =
    crate::alloc::CachingAllocator::new(mimalloc::MiMalloc);

/// Give the cached tensor buffers back to the system; returns the bytes freed.
#[pyfunction]
fn _release_cached_memory() -> usize {
    ALLOCATOR.release()
}

/// Pending signals (Ctrl-C) surface as their Python exception mid-backward.
fn check_signals() -> Result<()> {
    Python::attach(|py| py.check_signals())
        .map_err(|e| crate::error::Error::Foreign(std::sync::Arc::new(e)))
}

/// Called by `os.register_at_fork` in a forked child: no rayon pool there.
#[pyfunction]
fn _after_fork_in_child() {
    crate::kernels::after_fork_in_child();
}

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::tape::set_interrupt_hook(check_signals);
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(_release_cached_memory, m)?)?;
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<variable::PyVariable>()?;
    m.add_class::<tape::PyTape>()?;
    m.add_class::<tape::PyForwardAccumulator>()?;
    m.add_class::<tape::PySuspension>()?;
    m.add_function(wrap_pyfunction!(tape::record_custom, m)?)?;
    m.add_class::<ops::PyOp>()?;
    m.add("ops", ops::registry(m.py())?)?;
    m.add_function(wrap_pyfunction!(ops::matmul, m)?)?;
    m.add_function(wrap_pyfunction!(ops::transpose, m)?)?;
    m.add_function(wrap_pyfunction!(ops::reshape, m)?)?;
    m.add_function(wrap_pyfunction!(ops::reduce_sum, m)?)?;
    m.add_function(wrap_pyfunction!(ops::reduce_mean, m)?)?;
    m.add_function(wrap_pyfunction!(ops::norm, m)?)?;
    m.add_function(wrap_pyfunction!(ops::cast, m)?)?;
    m.add_function(wrap_pyfunction!(ops::identity, m)?)?;
    m.add_function(wrap_pyfunction!(ops::stop_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(ops::broadcast_to, m)?)?;
    m.add_function(wrap_pyfunction!(ops::where_, m)?)?;
    m.add_function(wrap_pyfunction!(ops::constant, m)?)?;
    m.add_function(wrap_pyfunction!(ops::convert_to_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(ops::zeros, m)?)?;
    m.add_function(wrap_pyfunction!(ops::ones, m)?)?;
    m.add_function(wrap_pyfunction!(ops::random_normal, m)?)?;
    m.add_function(wrap_pyfunction!(ops::random_uniform, m)?)?;
    m.add_function(wrap_pyfunction!(ops::set_seed, m)?)?;
    ops::register(m)?;
    m.add_class::<optim::PyFusedOptimizer>()?;
    m.add_class::<optim::PyOptimizerRule>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
