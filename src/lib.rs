//! tapegrad: reverse-mode automatic differentiation with TensorFlow 2's
//! `GradientTape` semantics, over immutable ndarray tensors.
//!
//! Layers, each using only the ones before it:
//! `dtype`/`shape`/`error`/`tensor`/`interrupt`/`fork` → `kernels` → `tape` (recording) → `ops` →
//! `infer` (TF's dtypes for Python numbers) → `grad` (backward pass, JVPs, jacobians) → `variable` → `optim` → `py` (the
//! only module that knows about Python, behind the `python` feature).

pub mod alloc;
pub mod dtype;
pub mod error;
pub mod fastmath;
pub mod fork;
pub mod fuse;
pub mod grad;
pub mod infer;
pub mod interrupt;
pub mod kernels;
pub mod ops;
pub mod optim;
pub mod reuse;
pub mod shape;
pub mod tape;
pub mod tensor;
pub mod trace;
pub mod variable;

#[cfg(feature = "python")]
mod py;

pub use dtype::DType;
pub use error::{Error, Result};
pub use grad::Unconnected;
pub use tape::Tape;
pub use tensor::{Data, Tensor, TensorId};
pub use variable::Variable;
