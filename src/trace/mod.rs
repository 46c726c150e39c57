//! Capture and replay (the engine under `tf.function`). A trace runs the
//! user's function once, eagerly, on real inputs, while a thread-local
//! capture is active: every call that makes a tensor (an op binding, a
//! variable read, a tape's gradient) records a step — a kernel closure plus
//! the slots of its inputs and outputs. A [`Plan`] replays the steps on new
//! inputs without the embedding interpreter.
//!
//! The safety net: every tensor a step consumes must be a plan input, a step
//! output, a registered constant (made from a host value during the trace),
//! or a tensor born before the trace (captured by value, like TF's captured
//! eager tensors). A tensor born during the trace by a path that did not
//! record makes [`finish`] fail with [`TraceError::Unsupported`] instead of
//! replaying a stale value.
//!
//! Guards: a tensor whose value left for the host during the trace (Python
//! `if x:`, `float(x)`, `x.numpy()`) records its trace-time value; a replay
//! that computes another value stops with [`Outcome::GuardFailed`] (the
//! caller retraces). Every step's outputs must also keep their trace-time
//! dtypes and shapes (shapes that depend on data are guarded this way), and
//! the inputs theirs. Side effects a failed replay already made (variable
//! updates, random draws) are undone first, so the retrace starts from the
//! state the call started from.

mod capture;
mod describe;
mod optimize;
mod plan;
mod values;

use std::sync::Arc;

use crate::error::Result;
use crate::tensor::Tensor;
use crate::variable::Variable;

pub use capture::{
    abort, begin, constant, created_variable, created_variables, finish, guard_truth, guard_value,
    is_tracing, kernel, paused, read_variable, record_host_op, record_op, record_var_op, slots_of,
    tape_gradient, tape_new, tape_step, tape_watch, unsupported, update_variable,
};
pub use describe::{Description, describe, describing, set_describing};
pub use optimize::{clear_notes, note_matmul, note_op};
pub use plan::{Arg, Outcome, Plan};
pub use values::{Captured, Outputs, Skeleton};

/// A recorded computation: the tensors of its inputs' slots in, the
/// tensors of its outputs' slots out. Runs with no interpreter lock held.
pub type Kernel = Arc<dyn Fn(&[Tensor]) -> Result<Vec<Tensor>> + Send + Sync>;

/// A recorded computation that also updates variables (an optimizer step):
/// the variables (resolved per run), then the input tensors.
pub type VarKernel = Arc<dyn Fn(&[Arc<Variable>], &[Tensor]) -> Result<Vec<Tensor>> + Send + Sync>;

/// Why a trace cannot become a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// Something in the function cannot be replayed (named in the text).
    #[error("{0}")]
    Unsupported(String),
    /// `begin` while this thread already traces, or `finish` without `begin`.
    #[error("{0}")]
    State(String),
}

/// How a variable update combines the old value with the new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    Assign,
    Add,
    Sub,
}

impl Update {
    /// Apply the update to `var` now.
    pub fn apply(self, var: &Variable, value: &Tensor) -> Result<()> {
        match self {
            Update::Assign => var.assign(value),
            Update::Add => var.assign_add(value),
            Update::Sub => var.assign_sub(value),
        }
    }
}

/// What a tape step of the function did to its tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapeStep {
    Push,
    Pop,
    Reset,
}

#[cfg(test)]
mod tests;
