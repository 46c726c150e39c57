//! Variables: the one mutable thing. A variable has a handle id that stands
//! for it on tapes; each read under a recording tape returns the current
//! value under a fresh id, recorded as `ReadVariableOp(handle)`, so all reads
//! of one variable (across `assign`s) accumulate into one gradient.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops;
use crate::tape;
use crate::tensor::{Data, Tensor, TensorId, TensorMeta, fresh_id};

pub struct Variable {
    handle: TensorId,
    trainable: bool,
    value: RwLock<Tensor>,
}

impl Variable {
    pub fn new(initial: Tensor, trainable: bool) -> Variable {
        Variable {
            handle: fresh_id(),
            trainable,
            value: RwLock::new(initial.with_fresh_id()),
        }
    }

    fn current(&self) -> RwLockReadGuard<'_, Tensor> {
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn handle(&self) -> TensorId {
        self.handle
    }

    pub fn trainable(&self) -> bool {
        self.trainable
    }

    pub fn dtype(&self) -> DType {
        self.current().dtype()
    }

    pub fn shape(&self) -> Vec<usize> {
        self.current().shape().to_vec()
    }

    /// The handle as the tape sees it.
    pub fn handle_meta(&self) -> TensorMeta {
        let v = self.current();
        TensorMeta {
            id: self.handle,
            dtype: v.dtype(),
            shape: v.shape().into(),
        }
    }

    /// The current value, recorded as a read by every tape that watches this
    /// variable (tapes that watch accessed variables start watching it here).
    pub fn read(&self) -> Tensor {
        let value = self.current().clone();
        if !tape::is_recording() {
            return value;
        }
        let out = value.with_fresh_id();
        tape::record_variable_read(&self.handle_meta(), self.trainable, &out);
        out
    }

    /// The current value without recording anything.
    pub fn peek(&self) -> Tensor {
        self.current().clone()
    }

    /// Replace the value; dtype and shape are fixed at creation.
    pub fn assign(&self, value: &Tensor) -> Result<()> {
        let mut cur = self.value.write().unwrap_or_else(|e| e.into_inner());
        check_same("AssignVariableOp", &cur, value)?;
        *cur = value.with_fresh_id();
        Ok(())
    }

    pub fn assign_add(&self, delta: &Tensor) -> Result<()> {
        self.update("AssignAddVariableOp", delta, ops::add)
    }

    pub fn assign_sub(&self, delta: &Tensor) -> Result<()> {
        self.update("AssignSubVariableOp", delta, ops::subtract)
    }

    /// Rewrite the value's storage in place (optimizer updates) under the
    /// write lock, so a reader on another thread sees the old value or the
    /// new one, never a mix. A buffer that an earlier read still shares is
    /// copied before it is written (see `Tensor::rewrite`). Not recorded.
    pub fn rewrite_storage<R>(&self, f: impl FnOnce(&mut Data) -> Result<R>) -> Result<R> {
        let mut cur = self.value.write().unwrap_or_else(|e| e.into_inner());
        crate::interrupt::deferred(|| cur.rewrite(f))
    }

    /// Read-modify-write under one write lock, so concurrent updates never tear.
    fn update(
        &self,
        op: &'static str,
        delta: &Tensor,
        f: fn(&Tensor, &Tensor) -> Result<Tensor>,
    ) -> Result<()> {
        let mut cur = self.value.write().unwrap_or_else(|e| e.into_inner());
        check_same(op, &cur, delta)?;
        // Updates are not differentiated (TF semantics): compute off the tape.
        // (no interrupt polls while the lock is held: see `interrupt::poll`)
        let next = crate::interrupt::deferred(|| tape::without_recording(|| f(&cur, delta)))?;
        *cur = next;
        Ok(())
    }
}

/// How many variables were created without a name ("Variable",
/// "Variable_1", ...).
static UNNAMED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's active `tf.name_scope` prefix, "" or "outer/inner/".
    static NAME_SCOPE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// TF's eager variable name for the `name` argument: a name ending in '/'
/// is absolute (used without the slash, outside every scope); any other,
/// or the default "Variable", is prefixed by the active name scopes.
pub fn scoped_name(name: Option<String>) -> String {
    if let Some(absolute) = name.as_deref().and_then(|n| n.strip_suffix('/')) {
        return absolute.to_string();
    }
    let name = name.unwrap_or_else(|| match UNNAMED.fetch_add(1, Ordering::Relaxed) {
        0 => "Variable".to_string(),
        n => format!("Variable_{n}"),
    });
    NAME_SCOPE.with(|scope| format!("{}{name}", scope.borrow()))
}

/// Make `prefix` ("" or ending in '/') this thread's active name scope;
/// returns the previous one.
pub fn swap_name_scope(prefix: String) -> String {
    NAME_SCOPE.with(|scope| std::mem::replace(&mut *scope.borrow_mut(), prefix))
}

/// This thread's active name scope ("" or "outer/inner/").
pub fn current_name_scope() -> String {
    NAME_SCOPE.with(|scope| scope.borrow().clone())
}

fn check_same(op: &'static str, cur: &Tensor, value: &Tensor) -> Result<()> {
    if cur.dtype() != value.dtype() {
        return Err(Error::invalid(
            op,
            format!(
                "Trying to assign a value of dtype {} to a variable of dtype {}",
                value.dtype().name(),
                cur.dtype().name()
            ),
        ));
    }
    if cur.shape() != value.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: cur.shape().to_vec(),
            rhs: value.shape().to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_the_active_scope_unless_absolute() {
        let outer = swap_name_scope("outer/inner/".to_string());
        assert_eq!(current_name_scope(), "outer/inner/");
        assert_eq!(scoped_name(Some("w".to_string())), "outer/inner/w");
        assert_eq!(scoped_name(Some("abs/".to_string())), "abs");
        assert!(scoped_name(None).starts_with("outer/inner/Variable"));
        assert_eq!(swap_name_scope(outer), "outer/inner/");
        assert_eq!(scoped_name(Some("w".to_string())), "w");
    }
}
