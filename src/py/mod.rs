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

/// The extension module: every name `tapegrad` builds on, declared here once.
#[pymodule(gil_used = false)]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::{_after_fork_in_child, _release_cached_memory};

    #[pymodule_export]
    use super::optim::{PyFusedOptimizer, PyOptimizerRule};
    #[pymodule_export]
    use super::tape::{PyForwardAccumulator, PySuspension, PyTape, record_custom};
    #[pymodule_export]
    use super::tensor::PyTensor;
    #[pymodule_export]
    use super::variable::PyVariable;

    #[pymodule_export]
    use super::ops::{
        PyOp, argmax, argmin, argsort, avg_pool2d, bias_add, boolean_mask, broadcast_to, cast,
        categorical, cholesky, clip_by_value, concat, constant, conv2d, convert_to_tensor,
        count_nonzero, cumprod, cumsum, det, diag, diag_part, dropout, einsum, expand_dims, eye,
        fill, gather, gather_nd, gelu, identity, inv, l2_loss, leaky_relu, linspace, log_softmax,
        matmul, matvec, max_pool2d, moments, norm, one_hot, ones, ones_like, pad, random_normal,
        random_uniform, range_, rank, reduce_all, reduce_any, reduce_euclidean_norm,
        reduce_logsumexp, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_std, reduce_sum,
        reduce_variance, reshape, reverse, set_seed, shape, shuffle,
        sigmoid_cross_entropy_with_logits, size, softmax, softmax_cross_entropy_with_logits, solve,
        sort, sparse_softmax_cross_entropy_with_logits, split, squeeze, stack, stop_gradient,
        tensordot, tile, top_k, trace, transpose, truncated_normal, unstack, where_, zeros,
        zeros_like,
    };

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::tape::set_interrupt_hook(super::check_signals);
        m.add("ops", super::ops::registry(m.py())?)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
