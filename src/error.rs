//! The one error type of the core. The Python bridge (`src/py/errors.rs`)
//! maps each variant onto the `tapegrad.errors` hierarchy in exactly one place.

use crate::dtype::DType;
use thiserror::Error;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Error)]
pub enum Error {
    // === shapes ===
    /// Two operands whose shapes cannot be combined (broadcasting, matmul, concat, …).
    #[error("{op}: incompatible shapes: {lhs:?} vs. {rhs:?}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },

    // === dtypes ===
    /// Two tensor operands of different dtypes (TF never promotes implicitly).
    #[error(
        "{op}: cannot compute {op} as input #1(zero-based) was expected to be a {lhs} tensor but is a {rhs} tensor: the inputs are {} and {}, and dtypes never convert implicitly (as in TF); convert one first, e.g. tf.cast(x, tf.{})",
        lhs.name(), rhs.name(), lhs.name()
    )]
    DTypeMismatch {
        op: &'static str,
        lhs: DType,
        rhs: DType,
    },
    /// An op that does not accept this dtype at all (e.g. `exp` of an int32 tensor).
    #[error("{op}: dtype {dtype} is not supported (allowed: {allowed})")]
    UnsupportedDType {
        op: &'static str,
        dtype: DType,
        allowed: &'static str,
    },

    // === arguments ===
    /// Any other invalid argument: bad axis, bad permutation, bad reshape, …
    #[error("{op}: {msg}")]
    InvalidArgument { op: &'static str, msg: String },
    /// An index outside its dimension.
    #[error("{op}: {msg}")]
    OutOfRange { op: &'static str, msg: String },

    // === resources and features ===
    /// A tensor too large to allocate.
    #[error("{op}: cannot allocate a tensor of shape {shape:?} ({bytes} bytes)")]
    ResourceExhausted {
        op: &'static str,
        shape: Vec<usize>,
        bytes: u128,
    },
    #[error("{op}: {msg}")]
    Unimplemented { op: &'static str, msg: String },

    // === callbacks ===
    /// An error raised by user code called back from the backward pass (a
    /// custom gradient). The payload is the binding layer's own error value,
    /// handed back to it unchanged.
    #[error("error raised in a gradient callback")]
    Foreign(std::sync::Arc<dyn std::any::Any + Send + Sync>),

    // === tape misuse ===
    /// Using a tape in a state that does not allow it (TF raises RuntimeError).
    #[error("{0}")]
    TapeState(String),
}

impl Error {
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            msg: msg.into(),
        }
    }

    pub fn unimplemented(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Unimplemented {
            op,
            msg: msg.into(),
        }
    }
}

/// `bail!(Error::…)` style early return for readability in kernels.
#[macro_export]
macro_rules! bail {
    ($e:expr) => {
        return Err($e.into())
    };
}
