//! Gradient tapes: a thread-local stack of active tapes, what each watches,
//! and the recorded nodes. Recording happens on the calling thread after an
//! op's kernel; with no tape active it costs one thread-local read.

mod backward;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::tensor::{Tensor, TensorId, TensorMeta};

pub use backward::{Unconnected, gradient};

/// A VJP rule: given the gradient of every output (in output shape) and
/// which inputs need a gradient, return one gradient per input. Gradients
/// may have the broadcast output shape; the traversal sums them back down.
/// Rules are written with tapegrad ops, so active tapes record them too.
pub type Vjp = Box<dyn Fn(&[Tensor], &[bool]) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

/// One recorded op application.
pub struct Node {
    pub op: &'static str,
    pub inputs: Vec<TensorMeta>,
    pub outputs: Vec<TensorMeta>,
    pub vjp: Vjp,
}

#[derive(Default)]
struct TapeState {
    persistent: bool,
    watch_accessed_variables: bool,
    /// Ids whose use by an op gets recorded: watched tensors and variable
    /// handles, and every float output of a recorded op.
    watched: HashSet<TensorId>,
    nodes: Vec<Arc<Node>>,
    /// Variable handles in the order they were first watched.
    variables: Vec<TensorId>,
}

/// A gradient tape. Cloning shares the tape.
#[derive(Clone, Default)]
pub struct Tape(Arc<Mutex<TapeState>>);

thread_local! {
    static ACTIVE: RefCell<Vec<Tape>> = const { RefCell::new(Vec::new()) };
    static ACTIVE_COUNT: Cell<usize> = const { Cell::new(0) };
}

/// Is any tape recording on this thread? The whole cost of an op outside a tape.
#[inline]
pub fn is_recording() -> bool {
    ACTIVE_COUNT.with(|c| c.get() != 0)
}

impl Tape {
    pub fn new(persistent: bool, watch_accessed_variables: bool) -> Tape {
        Tape(Arc::new(Mutex::new(TapeState {
            persistent,
            watch_accessed_variables,
            ..TapeState::default()
        })))
    }

    fn state(&self) -> MutexGuard<'_, TapeState> {
        // A poisoned lock only means a panic elsewhere; the state is plain data.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn persistent(&self) -> bool {
        self.state().persistent
    }

    /// Is this tape on this thread's active stack?
    pub fn is_active(&self) -> bool {
        ACTIVE.with(|s| s.borrow().iter().any(|t| Arc::ptr_eq(&t.0, &self.0)))
    }

    /// Start recording on this thread.
    pub fn push(&self) -> Result<()> {
        if self.is_active() {
            return Err(Error::TapeState(
                "Tape is still recording, This can happen if you try to re-enter an already-active tape."
                    .into(),
            ));
        }
        ACTIVE.with(|s| s.borrow_mut().push(self.clone()));
        ACTIVE_COUNT.with(|c| c.set(c.get() + 1));
        Ok(())
    }

    /// Stop recording on this thread (a no-op if it was not recording).
    pub fn pop(&self) {
        ACTIVE.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|t| Arc::ptr_eq(&t.0, &self.0)) {
                s.remove(i);
                ACTIVE_COUNT.with(|c| c.set(c.get() - 1));
            }
        });
    }

    /// Drop everything recorded and watched (TF's `reset`).
    pub fn reset(&self) {
        let mut st = self.state();
        st.watched.clear();
        st.nodes.clear();
        st.variables.clear();
    }

    pub fn watch(&self, id: TensorId) {
        self.state().watched.insert(id);
    }

    pub fn watch_variable(&self, handle: TensorId) {
        let mut st = self.state();
        st.watched.insert(handle);
        if !st.variables.contains(&handle) {
            st.variables.push(handle);
        }
    }

    /// Handles of the watched variables, in creation order.
    pub fn watched_variables(&self) -> Vec<TensorId> {
        let mut v = self.state().variables.clone();
        v.sort_unstable();
        v
    }

    pub fn num_nodes(&self) -> usize {
        self.state().nodes.len()
    }

    /// The recorded nodes; a persistent tape keeps its own copy, a
    /// non-persistent one hands them over so that the backward pass frees
    /// each node's saved tensors as soon as it is done with it.
    pub fn take_nodes(&self) -> Vec<Arc<Node>> {
        let mut st = self.state();
        if st.persistent {
            st.nodes.clone()
        } else {
            st.watched.clear();
            std::mem::take(&mut st.nodes)
        }
    }
}

/// Record one op application into every active tape that watches one of its
/// float inputs. `make_vjp` runs at most once, and only if some tape records.
pub fn record<F>(op: &'static str, inputs: &[&Tensor], outputs: &[&Tensor], make_vjp: F)
where
    F: FnOnce() -> Vjp,
{
    if !is_recording() {
        return;
    }
    let mut make_vjp = Some(make_vjp);
    let mut node: Option<Arc<Node>> = None;
    ACTIVE.with(|stack| {
        for tape in stack.borrow().iter() {
            let mut st = tape.state();
            let watched = inputs
                .iter()
                .any(|t| t.dtype().is_float() && st.watched.contains(&t.id()));
            if !watched {
                continue;
            }
            let node = node.get_or_insert_with(|| {
                let vjp = (make_vjp.take().expect("built once"))();
                Arc::new(Node {
                    op,
                    inputs: inputs.iter().map(|t| t.meta()).collect(),
                    outputs: outputs.iter().map(|t| t.meta()).collect(),
                    vjp,
                })
            });
            st.nodes.push(node.clone());
            for o in outputs {
                if o.dtype().is_float() {
                    st.watched.insert(o.id());
                }
            }
        }
    });
}

/// Record a read of a variable: `handle` stands for the variable, `value` is
/// the freshly-identified tensor the read returns. Tapes that watch accessed
/// variables start watching a trainable one here.
pub fn record_variable_read(handle: &TensorMeta, trainable: bool, value: &Tensor) {
    if !is_recording() {
        return;
    }
    let mut node: Option<Arc<Node>> = None;
    ACTIVE.with(|stack| {
        for tape in stack.borrow().iter() {
            let mut st = tape.state();
            if trainable && st.watch_accessed_variables && st.watched.insert(handle.id) {
                st.variables.push(handle.id);
            }
            if !(handle.dtype.is_float() && st.watched.contains(&handle.id)) {
                continue;
            }
            let node = node.get_or_insert_with(|| {
                Arc::new(Node {
                    op: "ReadVariableOp",
                    inputs: vec![handle.clone()],
                    outputs: vec![value.meta()],
                    vjp: Box::new(|g, _| Ok(vec![Some(g[0].clone())])),
                })
            });
            st.nodes.push(node.clone());
            st.watched.insert(value.id());
        }
    });
}

/// Run `f` with no tape recording on this thread (what variable updates and
/// `stop_gradient`-style internals need), restoring the stack afterwards.
pub fn without_recording<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(Vec<Tape>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let saved = std::mem::take(&mut self.0);
            ACTIVE_COUNT.with(|c| c.set(saved.len()));
            ACTIVE.with(|s| *s.borrow_mut() = saved);
        }
    }
    let _restore = Restore(ACTIVE.with(|s| std::mem::take(&mut *s.borrow_mut())));
    ACTIVE_COUNT.with(|c| c.set(0));
    f()
}
