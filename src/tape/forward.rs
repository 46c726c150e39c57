//! Forward mode (`ForwardAccumulator`): tangents pushed through each op as
//! it runs. There are no separate JVP rules: an op's VJP `u ↦ Jᵀu` is linear
//! in `u`, so `J·t` is the gradient of `⟨Jᵀu, t⟩` with respect to `u`, taken
//! on a private tape. Every VJP is differentiable, so every op gets a JVP.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Node, Recorder, Tape, Unconnected, gradient, is_on_stack, pop_recorder, push_recorder,
};
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{IdMap, Tensor, TensorId};

#[derive(Default)]
struct AccState {
    tangents: IdMap<Tensor>,
    /// The first failure while pushing tangents, reported by `jvp`.
    error: Option<Error>,
}

/// A forward-mode accumulator. Cloning shares it.
#[derive(Clone, Default)]
pub struct Accumulator(Arc<Mutex<AccState>>);

impl Accumulator {
    pub fn new() -> Accumulator {
        Accumulator::default()
    }

    fn state(&self) -> MutexGuard<'_, AccState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn same(&self, other: &Accumulator) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn is_active(&self) -> bool {
        is_on_stack(&Recorder::Forward(self.clone()))
    }

    pub fn push(&self) {
        push_recorder(Recorder::Forward(self.clone()));
    }

    pub fn pop(&self) {
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

/// The tangent of each output of `node`, given the tangent of each input.
pub(super) fn jvp(node: &Node, tangents: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
    let us = node
        .outputs
        .iter()
        .map(|m| ops::zeros(m.dtype, &m.shape))
        .collect::<Result<Vec<_>>>()?;
    let tape = Tape::new(false, false);
    tape.push()?;
    let pairing = (|| {
        for u in &us {
            tape.watch(u.id());
        }
        let need: Vec<bool> = tangents.iter().map(Option::is_some).collect();
        let vs = (node.vjp)(&us, &need)?;
        let mut total: Option<Tensor> = None;
        for ((v, t), m) in vs.into_iter().zip(tangents).zip(&node.inputs) {
            let (Some(v), Some(t)) = (v, t) else { continue };
            let v = ops::sum_to_shape(&v, &m.shape)?;
            let term = ops::reduce_sum(&v.mul(t)?, None, false)?;
            total = Some(match total {
                Some(s) => s.add(&term)?,
                None => term,
            });
        }
        Ok::<_, Error>(total)
    })();
    tape.pop();
    let Some(total) = pairing? else {
        return Ok(vec![None; us.len()]);
    };
    let seed = ops::ones_like(&total)?;
    let metas: Vec<_> = us.iter().map(Tensor::meta).collect();
    let out = gradient(
        tape.take_nodes(),
        &[(total.meta(), seed)],
        &metas,
        Unconnected::Zero,
        &[],
    )?;
    Ok(out
        .into_iter()
        .zip(&node.outputs)
        .map(|(t, m)| if m.dtype.is_float() { t } else { None })
        .collect())
}
