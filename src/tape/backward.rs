//! The one backward traversal. Everything a VJP rule should not have to think
//! about lives here: which nodes matter, seeding, summing gradients back down
//! to a broadcast input's shape, accumulation over fan-out, skipping
//! non-float tensors, unconnected sources, and freeing as early as possible.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Node;
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{Tensor, TensorId, TensorMeta};

/// What an unconnected source gets (TF's `UnconnectedGradients`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unconnected {
    None,
    Zero,
}

/// Gradients of the sum of `targets` (each paired with its seed, the
/// gradient flowing into it) with respect to each of `sources`.
///
/// `nodes` is the tape in recording order, which is a topological order.
/// Every op run here is an ordinary tapegrad op, so tapes that are recording
/// on this thread record the backward pass and can differentiate it again.
pub fn gradient(
    nodes: Vec<Arc<Node>>,
    targets: &[(Tensor, Tensor)],
    sources: &[TensorMeta],
    unconnected: Unconnected,
) -> Result<Vec<Option<Tensor>>> {
    let source_ids: HashSet<TensorId> = sources.iter().map(|s| s.id).collect();

    // Forward sweep: which tensors depend on a source.
    let mut from_source = source_ids.clone();
    let mut on_source_path = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if node.inputs.iter().any(|m| from_source.contains(&m.id)) {
            on_source_path[i] = true;
            from_source.extend(node.outputs.iter().map(|m| m.id));
        }
    }

    // Backward sweep: of those, which reach a target.
    let mut to_target: HashSet<TensorId> = targets.iter().map(|(t, _)| t.id()).collect();
    let mut needed = vec![false; nodes.len()];
    for i in (0..nodes.len()).rev() {
        if on_source_path[i] && nodes[i].outputs.iter().any(|m| to_target.contains(&m.id)) {
            needed[i] = true;
            to_target.extend(nodes[i].inputs.iter().map(|m| m.id));
        }
    }

    let mut grads: HashMap<TensorId, Tensor> = HashMap::new();
    for (target, seed) in targets {
        if target.dtype().is_float() && from_source.contains(&target.id()) {
            accumulate(&mut grads, target.id(), seed.clone())?;
        }
    }

    // Nodes are dropped as soon as they have run, which frees their saved
    // tensors unless another tape (or a persistent one) still holds them.
    let mut nodes: Vec<Option<Arc<Node>>> = nodes.into_iter().map(Some).collect();
    for i in (0..nodes.len()).rev() {
        let Some(node) = nodes[i].take() else { continue };
        if !needed[i] {
            continue;
        }
        // Every consumer of this node's outputs was recorded later and has
        // already run, so these gradients are complete.
        let mut any = false;
        let mut out_grads = Vec::with_capacity(node.outputs.len());
        for m in &node.outputs {
            let g = if source_ids.contains(&m.id) { grads.get(&m.id).cloned() } else { grads.remove(&m.id) };
            match g {
                Some(g) => {
                    any = true;
                    out_grads.push(g);
                }
                None => out_grads.push(ops::zeros(m.dtype, &m.shape)?),
            }
        }
        if !any {
            continue;
        }
        let need: Vec<bool> = node
            .inputs
            .iter()
            .map(|m| m.dtype.is_float() && from_source.contains(&m.id))
            .collect();
        let in_grads = (node.vjp)(&out_grads, &need)?;
        drop(out_grads);
        for ((m, g), &want) in node.inputs.iter().zip(in_grads).zip(&need) {
            let (Some(g), true) = (g, want) else { continue };
            let g = ops::sum_to_shape(&g, &m.shape)?;
            if g.dtype() != m.dtype {
                return Err(Error::invalid(
                    node.op,
                    format!("gradient has dtype {} but the input has dtype {}", g.dtype().name(), m.dtype.name()),
                ));
            }
            accumulate(&mut grads, m.id, g)?;
        }
    }

    sources
        .iter()
        .map(|s| match grads.get(&s.id) {
            Some(g) if s.dtype.is_float() => Ok(Some(g.clone())),
            _ if unconnected == Unconnected::Zero => ops::zeros(s.dtype, &s.shape).map(Some),
            _ => Ok(None),
        })
        .collect()
}

fn accumulate(grads: &mut HashMap<TensorId, Tensor>, id: TensorId, g: Tensor) -> Result<()> {
    let total = match grads.remove(&id) {
        Some(prev) => ops::add(&prev, &g)?,
        None => g,
    };
    grads.insert(id, total);
    Ok(())
}
