//! `__dlpack__` / `__dlpack_device__`, built on numpy's DLPack exporter.
//! A consumer gets a private copy: torch ignores DLPack's read-only flag, and
//! a write through a shared buffer would change an immutable tensor, a tape's
//! saved values or a `Variable`. Only `copy=False` from a DLPack ≥ 1.0
//! consumer shares the buffer (the read-only view of `shared_view`, which
//! keeps it alive), marked read-only; legacy ones get `BufferError`.

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::to_numpy;
use super::interop::shared_view;
use super::tensor::PyTensor;

/// DLPack's `kDLCPU`; tensors live in host memory, device 0.
pub const CPU_DEVICE: (i32, i32) = (1, 0);

/// Whether the consumer understands versioned (DLPack >= 1.0) capsules.
fn wants_versioned(max_version: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    let Some(v) = max_version.filter(|v| !v.is_none()) else {
        return Ok(false);
    };
    let (major, _minor): (i64, i64) = v.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "__dlpack__: max_version must be a (major, minor) tuple of ints, got {}",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })?;
    Ok(major >= 1)
}

/// `__dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None)`.
pub fn export<'py>(
    owner: &Bound<'py, PyTensor>,
    stream: Option<&Bound<'py, PyAny>>,
    max_version: Option<&Bound<'py, PyAny>>,
    dl_device: Option<&Bound<'py, PyAny>>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = owner.py();
    if let Some(s) = stream.filter(|s| !s.is_none()) {
        return Err(PyBufferError::new_err(format!(
            "__dlpack__: tapegrad tensors live in CPU memory, which has no streams: \
             stream must be None, got {}",
            s.repr()?
        )));
    }
    // numpy checks that dl_device, if given, is the CPU (1, 0)
    let kwargs = PyDict::new(py);
    kwargs.set_item("dl_device", dl_device)?;
    let versioned = wants_versioned(max_version)?;
    if versioned {
        kwargs.set_item("max_version", max_version)?;
    }
    if copy != Some(false) {
        return to_numpy(py, owner.get().tensor())?.call_method("__dlpack__", (), Some(&kwargs));
    }
    if !versioned {
        return Err(PyBufferError::new_err(format!(
            "__dlpack__: cannot export a tensor of shape {:?} without a copy to a consumer \
             of legacy (unversioned) DLPack, which cannot mark memory read-only; \
             pass max_version=(1, 0) or allow a copy",
            owner.get().tensor().shape()
        )));
    }
    kwargs.set_item("copy", false)?;
    shared_view(owner)?.call_method("__dlpack__", (), Some(&kwargs))
}
