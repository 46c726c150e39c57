//! The one bridge from core errors to Python exceptions: each variant maps
//! onto a class of `tapegrad.errors` (themselves subclasses of the builtin
//! a user would catch: `InvalidArgumentError` is also a `ValueError`); a
//! Python exception raised under a core call travels as `Error::Foreign`.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::import_exception;
use pyo3::{PyErr, Python};

use crate::error::Error;

import_exception!(tapegrad.errors, InvalidArgumentError);
import_exception!(tapegrad.errors, OutOfRangeError);
import_exception!(tapegrad.errors, ResourceExhaustedError);
import_exception!(tapegrad.errors, UnimplementedError);

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Error {
        Error::Foreign(std::sync::Arc::new(e))
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.to_string();
        match e {
            Error::ShapeMismatch { .. }
            | Error::DTypeMismatch { .. }
            | Error::UnsupportedDType { .. }
            | Error::InvalidArgument { .. } => InvalidArgumentError::new_err(msg),
            Error::OutOfRange { .. } => OutOfRangeError::new_err(msg),
            Error::ResourceExhausted { .. } => ResourceExhaustedError::new_err(msg),
            Error::Unimplemented { .. } => UnimplementedError::new_err(msg),
            Error::TapeState(_) => PyValueError::new_err(msg),
            Error::Foreign(payload) => match payload.downcast_ref::<PyErr>() {
                Some(e) => Python::attach(|py| e.clone_ref(py)),
                None => PyRuntimeError::new_err(msg),
            },
        }
    }
}
