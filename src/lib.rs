//! tapegrad: reverse-mode automatic differentiation with TensorFlow 2's
//! `GradientTape` semantics, over immutable ndarray tensors.
//!
//! Layers, each using only the ones above it:
//! `dtype`/`shape`/`error`/`tensor` → `kernels` → `tape` ↔ `ops` → `variable` → `optim`
//! → `py` (the only module that knows about Python, behind the `python` feature).

pub mod alloc;
pub mod dtype;
pub mod error;
pub mod fastmath;
pub mod kernels;
pub mod ops;
pub mod optim;
pub mod shape;
pub mod tape;
pub mod tensor;
pub mod variable;

#[cfg(feature = "python")]
mod py;

pub use dtype::DType;
pub use error::{Error, Result};
pub use tape::{Tape, Unconnected};
pub use tensor::{Data, Tensor, TensorId};
pub use variable::Variable;
