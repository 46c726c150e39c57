//! Forward accumulators (`ForwardAccumulator`): the tangents each one tracks.
//! Pushing a tangent through a recorded node is differentiation, which lives
//! above the ops (`crate::grad::forward`); an accumulator is created with that
//! function and the recording path calls it.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Node, Recorder, is_on_stack, pop_recorder, push_recorder, thread_token};
use crate::error::{Error, Result};
use crate::tensor::{IdMap, Tensor, TensorId, TensorMeta};

/// The tangent of each output of a node, given the tangent of each input.
pub type JvpFn = fn(&Node, &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>>;

struct AccState {
    tangents: IdMap<Tensor>,
    /// The first failure while pushing tangents, reported by `take_error`.
    error: Option<Error>,
    /// The thread whose stack this accumulator is on (`thread_token`).
    recording_on: Option<u64>,
}

/// A forward-mode accumulator. Cloning shares it.
#[derive(Clone)]
pub struct Accumulator {
    state: Arc<Mutex<AccState>>,
    jvp: JvpFn,
}

impl Accumulator {
    /// An accumulator that pushes tangents through each node with `jvp`
    /// (`crate::grad::accumulator` supplies the real one).
    pub fn new(jvp: JvpFn) -> Accumulator {
        Accumulator {
            state: Arc::new(Mutex::new(AccState {
                tangents: IdMap::default(),
                error: None,
                recording_on: None,
            })),
            jvp,
        }
    }

    fn state(&self) -> MutexGuard<'_, AccState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn same(&self, other: &Accumulator) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }

    pub(super) fn jvp(
        &self,
        node: &Node,
        tangents: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        (self.jvp)(node, tangents)
    }

    pub(super) fn recording_on(&self) -> Option<u64> {
        self.state().recording_on
    }

    /// Is this accumulator recording on this thread's active stack?
    pub fn is_active(&self) -> bool {
        self.recording_on() == Some(thread_token()) && is_on_stack(&Recorder::Forward(self.clone()))
    }

    pub fn push(&self) {
        self.state().recording_on = Some(thread_token());
        push_recorder(Recorder::Forward(self.clone()));
    }

    /// Stop, from any thread (see `Tape::pop`).
    pub fn pop(&self) {
        self.state().recording_on = None;
        pop_recorder(&Recorder::Forward(self.clone()));
    }

    /// Start tracking `id` (a tensor or a variable handle) with `tangent`.
    pub fn watch(&self, id: TensorId, tangent: Tensor) {
        self.state().tangents.insert(id, tangent);
    }

    pub fn tangent(&self, id: TensorId) -> Option<Tensor> {
        self.state().tangents.get(&id).cloned()
    }

    pub fn take_error(&self) -> Option<Error> {
        self.state().error.take()
    }

    /// Track `primal` with `tangent`, which must have the primal's shape
    /// (the caller converts it to the primal's dtype).
    pub fn watch_primal(&self, primal: TensorMeta, tangent: Tensor) -> Result<()> {
        if tangent.shape() != &primal.shape[..] {
            return Err(Error::ShapeMismatch {
                op: "ForwardAccumulator",
                lhs: primal.shape.to_vec(),
                rhs: tangent.shape().to_vec(),
            });
        }
        self.watch(primal.id, tangent);
        Ok(())
    }

    /// The tangent of `id`, `None` if it does not depend on the watched
    /// primals; first re-raises a failure from pushing tangents.
    pub fn tangent_of(&self, id: TensorId) -> Result<Option<Tensor>> {
        match self.take_error() {
            Some(e) => Err(e),
            None => Ok(self.tangent(id)),
        }
    }

    pub(super) fn store(&self, outputs: &[&Tensor], result: Result<Vec<Option<Tensor>>>) {
        let mut st = self.state();
        match result {
            Ok(tangents) => {
                for (o, t) in outputs.iter().zip(tangents) {
                    if let Some(t) = t {
                        st.tangents.insert(o.id(), t);
                    }
                }
            }
            Err(e) => {
                st.error.get_or_insert(e);
            }
        }
    }
}
