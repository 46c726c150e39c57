//! The one backward traversal. Everything a VJP rule should not have to think
//! about lives here: which nodes matter, seeding, summing gradients back down
//! to a broadcast input's shape, accumulation over fan-out, skipping
//! non-float tensors, unconnected sources, and freeing as early as possible.

use std::sync::Arc;

use ndarray::{ArcArray, IxDyn};

use crate::error::{Error, Result};
use crate::kernels;
use crate::ops::{self, with_lead};
use crate::tape::{self, Node};
use crate::tensor::{Data, IdMap, IdSet, Tensor, TensorId, TensorMeta};

/// What an unconnected source gets (TF's `UnconnectedGradients`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unconnected {
    None,
    Zero,
}

impl Unconnected {
    /// `Zero` when `zero` is set (TF's `unconnected_gradients='zero'`).
    pub fn zero_if(zero: bool) -> Unconnected {
        if zero {
            Unconnected::Zero
        } else {
            Unconnected::None
        }
    }
}

/// Gradients of the sum of `targets` (each paired with its seed, the
/// gradient flowing into it) with respect to each of `sources`.
///
/// `batch` is the shape of a batch of cotangents pushed through at once:
/// every seed has shape `batch ++ target.shape` and every result
/// `batch ++ source.shape` (`&[]` for a plain gradient; a jacobian seeds
/// the rows of an identity matrix).
///
/// `nodes` is the tape in recording order, which is a topological order.
/// Every op run here is an ordinary tapegrad op, so tapes that are recording
/// on this thread record the backward pass and can differentiate it again.
pub fn gradient(
    nodes: Vec<Arc<Node>>,
    targets: &[(TensorMeta, Tensor)],
    sources: &[TensorMeta],
    unconnected: Unconnected,
    batch: &[usize],
) -> Result<Vec<Option<Tensor>>> {
    gradient_reporting(nodes, targets, sources, unconnected, batch, None)
}

/// Told `(k, gradient)` once per source `k`, as soon as its gradient is
/// final, while the traversal goes on (a data-parallel trainer starts
/// reducing it across processes there). `gradient` is what the result will
/// hold at `k`; an error stops the traversal.
pub type OnFinal<'a> = &'a mut (dyn FnMut(usize, Option<&Tensor>) -> Result<()> + Send);

/// `gradient`, reporting each source's gradient to `on_final` as soon as it
/// is final: a source's gradient is complete once its earliest-recorded
/// consumer on the path has run (consumers run latest-recorded first), so
/// sources are reported in the order the traversal finishes them (the last
/// layers' first); sources nothing on the path consumes come first.
pub fn gradient_reporting(
    nodes: Vec<Arc<Node>>,
    targets: &[(TensorMeta, Tensor)],
    sources: &[TensorMeta],
    unconnected: Unconnected,
    batch: &[usize],
    mut on_final: Option<OnFinal<'_>>,
) -> Result<Vec<Option<Tensor>>> {
    let source_ids: IdSet = sources.iter().map(|s| s.id).collect();

    // Forward sweep: which tensors depend on a source. (The sets and the
    // gradient map are sized up front: rehashing showed in small-op profiles.)
    let mut from_source = IdSet::with_capacity_and_hasher(2 * nodes.len(), Default::default());
    from_source.extend(source_ids.iter().copied());
    let mut on_source_path = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if node.inputs.iter().any(|m| from_source.contains(&m.id)) {
            on_source_path[i] = true;
            from_source.extend(node.outputs.iter().map(|m| m.id));
        }
    }

    // Backward sweep: of those, which reach a target.
    let mut to_target = IdSet::with_capacity_and_hasher(2 * nodes.len(), Default::default());
    to_target.extend(targets.iter().map(|(t, _)| t.id));
    let mut needed = vec![false; nodes.len()];
    for i in (0..nodes.len()).rev() {
        if on_source_path[i] && nodes[i].outputs.iter().any(|m| to_target.contains(&m.id)) {
            needed[i] = true;
            to_target.extend(nodes[i].inputs.iter().map(|m| m.id));
        }
    }

    let mut grads: IdMap<Tensor> = IdMap::with_capacity_and_hasher(16, Default::default());
    for (target, seed) in targets {
        if target.dtype.is_differentiable() && from_source.contains(&target.id) {
            accumulate(&mut grads, target.id, seed.clone())?;
        }
    }

    // With a reporter: (earliest needed consumer, source) in reporting
    // order; reported values are kept for the result.
    let schedule = match on_final {
        Some(_) => report_schedule(&nodes, &needed, sources),
        None => Vec::new(),
    };
    let mut reported: Vec<Option<Option<Tensor>>> = vec![None; sources.len()];
    let mut next_report = 0;
    let mut report_through = |grads: &IdMap<Tensor>, done_from: usize| -> Result<()> {
        if let Some(report) = on_final.as_mut() {
            while let Some(&(consumer, k)) = schedule.get(next_report) {
                if consumer.is_some_and(|c| c < done_from) {
                    break;
                }
                let g = final_gradient(grads, &sources[k], unconnected, batch)?;
                report(k, g.as_ref())?;
                reported[k] = Some(g);
                next_report += 1;
            }
        }
        Ok(())
    };

    // Nodes are dropped as soon as they have run, which frees their saved
    // tensors unless another tape (or a persistent one) still holds them.
    let mut nodes: Vec<Option<Arc<Node>>> = nodes.into_iter().map(Some).collect();
    // (one of each for the whole pass: two allocations per node showed in
    // small-op profiles)
    let mut out_grads: Vec<Tensor> = Vec::new();
    let mut need: Vec<bool> = Vec::new();
    for i in (0..nodes.len()).rev() {
        // every node after i has run: report the sources they finished
        report_through(&grads, i + 1)?;
        let Some(node) = nodes[i].take() else {
            continue;
        };
        if !needed[i] {
            continue;
        }
        // (every 16th node: reading the clock costs as much as a small op)
        if i % 16 == 0 {
            crate::interrupt::poll()?;
        }
        // Every consumer of this node's outputs was recorded later and has
        // already run, so these gradients are complete.
        let mut any = false;
        out_grads.clear();
        for m in &node.outputs {
            let g = if source_ids.contains(&m.id) {
                grads.get(&m.id).cloned()
            } else {
                grads.remove(&m.id)
            };
            match g {
                Some(g) => {
                    any = true;
                    out_grads.push(g);
                }
                None => out_grads.push(ops::zeros(m.dtype, &with_lead(batch, &m.shape))?),
            }
        }
        if !any {
            out_grads.clear();
            continue;
        }
        need.clear();
        need.extend(
            node.inputs
                .iter()
                .map(|m| m.dtype.is_differentiable() && from_source.contains(&m.id)),
        );
        let foreign = node.rule.is_foreign();
        let in_grads = if foreign && !batch.is_empty() {
            foreign_vjp_per_row(&node, &out_grads, &need, batch)?
        } else {
            node.rule.vjp(&out_grads, &need)?
        };
        out_grads.clear();
        for ((m, g), &want) in node.inputs.iter().zip(in_grads).zip(&need) {
            let (Some(g), true) = (g, want) else { continue };
            if foreign && g.shape() != with_lead(batch, &m.shape) {
                // a user's rule: its result is its answer, not something to sum down
                return Err(Error::invalid(
                    node.op,
                    format!(
                        "the gradient function returned a gradient of shape {:?} for an \
                         input of shape {:?}; it must return one of the input's shape",
                        &g.shape()[batch.len()..],
                        m.shape
                    ),
                ));
            }
            // (most gradients have their input's shape already: kept as they are,
            // not copied through `unbroadcast`)
            let g = if batch.is_empty() && g.shape() == &m.shape[..] {
                g
            } else {
                ops::unbroadcast(&g, batch.len(), &m.shape)?
            };
            if g.dtype() != m.dtype {
                return Err(Error::invalid(
                    node.op,
                    format!(
                        "gradient has dtype {} but the input has dtype {}",
                        g.dtype().name(),
                        m.dtype.name()
                    ),
                ));
            }
            accumulate(&mut grads, m.id, g)?;
        }
    }

    report_through(&grads, 0)?;
    sources
        .iter()
        .zip(reported)
        .map(|(s, done)| match done {
            Some(g) => Ok(g),
            None => final_gradient(&grads, s, unconnected, batch),
        })
        .collect()
}

/// What the result holds for `source` once its gradient is complete.
fn final_gradient(
    grads: &IdMap<Tensor>,
    source: &TensorMeta,
    unconnected: Unconnected,
    batch: &[usize],
) -> Result<Option<Tensor>> {
    match grads.get(&source.id) {
        Some(g) if source.dtype.is_differentiable() => Ok(Some(g.clone())),
        _ if unconnected == Unconnected::Zero => {
            ops::zeros(source.dtype, &with_lead(batch, &source.shape)).map(Some)
        }
        _ => Ok(None),
    }
}

/// `(earliest needed consumer, k)` for every source `k`, in the order the
/// traversal (latest node first) completes them: `None` (no consumer on the
/// path: complete from the start) first, then by decreasing consumer index,
/// ties in source order.
fn report_schedule(
    nodes: &[Arc<Node>],
    needed: &[bool],
    sources: &[TensorMeta],
) -> Vec<(Option<usize>, usize)> {
    let source_ids: IdSet = sources.iter().map(|s| s.id).collect();
    let mut earliest: IdMap<usize> =
        IdMap::with_capacity_and_hasher(sources.len(), Default::default());
    for (i, node) in nodes.iter().enumerate() {
        if !needed[i] {
            continue;
        }
        for m in &node.inputs {
            if source_ids.contains(&m.id) {
                earliest.entry(m.id).or_insert(i);
            }
        }
    }
    let mut schedule: Vec<(Option<usize>, usize)> = sources
        .iter()
        .enumerate()
        .map(|(k, s)| (earliest.get(&s.id).copied(), k))
        .collect();
    // None sorts first; then latest consumer first
    schedule.sort_by_key(|&(consumer, k)| (consumer.map(std::cmp::Reverse), k));
    schedule
}

/// A foreign rule (a user's custom gradient) is written for cotangents of its
/// outputs' own shapes, so a batch of cotangents (`batch ++ out_shape`, from
/// a jacobian) goes through it one row at a time; the rows' gradients are
/// stacked back into `batch ++ in_shape`. A row the rule answers with `None`
/// for an input that other rows reach contributes zeros.
fn foreign_vjp_per_row(
    node: &Node,
    out_grads: &[Tensor],
    need: &[bool],
    batch: &[usize],
) -> Result<Vec<Option<Tensor>>> {
    let rows: usize = batch.iter().product();
    let flat = out_grads
        .iter()
        .zip(&node.outputs)
        .map(|(g, m)| ops::reshape_to(g, &with_lead(&[rows], &m.shape)))
        .collect::<Result<Vec<_>>>()?;
    let mut per_input: Vec<Vec<Option<Tensor>>> = vec![Vec::with_capacity(rows); need.len()];
    for r in 0..rows {
        let row = flat
            .iter()
            .map(|g| {
                ops::gather(
                    g,
                    &Tensor::scalar_of(crate::dtype::DType::I64, r as f64),
                    0,
                    0,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let grads = node.rule.vjp(&row, need)?;
        if grads.len() != need.len() {
            return Err(Error::invalid(
                node.op,
                format!(
                    "the gradient function returned {} gradients for {} inputs",
                    grads.len(),
                    need.len()
                ),
            ));
        }
        for (acc, g) in per_input.iter_mut().zip(grads) {
            acc.push(g);
        }
    }
    per_input
        .into_iter()
        .zip(&node.inputs)
        .map(|(gs, m)| {
            if gs.iter().all(Option::is_none) {
                return Ok(None);
            }
            for g in gs.iter().flatten() {
                if g.shape() != &m.shape[..] {
                    return Err(Error::invalid(
                        node.op,
                        format!(
                            "the gradient function returned a gradient of shape {:?} for \
                             an input of shape {:?}; it must return one of the input's shape",
                            g.shape(),
                            m.shape
                        ),
                    ));
                }
            }
            let gs = gs
                .into_iter()
                .map(|g| g.map_or_else(|| ops::zeros(m.dtype, &m.shape), Ok))
                .collect::<Result<Vec<_>>>()?;
            ops::reshape_to(&ops::stack(&gs, 0)?, &with_lead(batch, &m.shape)).map(Some)
        })
        .collect()
}

fn accumulate(grads: &mut IdMap<Tensor>, id: TensorId, g: Tensor) -> Result<()> {
    let total = match grads.remove(&id) {
        Some(prev) => sum(prev, &g)?,
        None => g,
    };
    grads.insert(id, total);
    Ok(())
}

/// `prev + g`, added into `prev`'s buffer when nothing could tell: nothing
/// records (the sum needs no node), traces or checks numerics, and `prev`
/// is a float buffer no one else holds (the usual case, a VJP's fresh
/// output; a gradient also handed to a caller or a VJP is shared and is
/// never written). The same roundings as `add`, without a new buffer: a
/// tenth of a small op, and one buffer less at the peak for a large one.
fn sum(prev: Tensor, g: &Tensor) -> Result<Tensor> {
    if tape::is_observed() || prev.shape() != g.shape() {
        return ops::add(&prev, g);
    }
    let mut data = prev.into_data();
    let added = match (&mut data, g.data()) {
        (Data::F32(a), Data::F32(b)) => add_into_unique(a, b),
        (Data::F64(a), Data::F64(b)) => add_into_unique(a, b),
        _ => false,
    };
    let prev = Tensor::from_data(data);
    if added { Ok(prev) } else { ops::add(&prev, g) }
}

/// `a += b` when `a` is contiguous and its buffer is `a`'s alone (checked
/// first: `as_slice_mut` on a shared buffer would copy it) and `b` is
/// contiguous; `false`, with `a` untouched, otherwise.
fn add_into_unique<T>(a: &mut ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>) -> bool
where
    T: Copy + std::ops::Add<Output = T> + Send + Sync,
{
    if !a.is_unique() || !a.is_standard_layout() {
        return false;
    }
    let (Some(src), Some(dst)) = (b.as_slice(), a.as_slice_mut()) else {
        return false;
    };
    kernels::add_assign(dst, src);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;
    use crate::tape::Tape;

    fn vec1(v: &[f64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn zero_if_picks_the_unconnected_policy() {
        assert_eq!(Unconnected::zero_if(true), Unconnected::Zero);
        assert_eq!(Unconnected::zero_if(false), Unconnected::None);
    }

    fn values(t: &Tensor) -> Vec<f64> {
        t.array::<f64>().unwrap().iter().copied().collect()
    }

    fn grad(tape: &Tape, y: &Tensor, x: &Tensor) -> Option<Tensor> {
        let seed = ops::ones_like(y).unwrap();
        gradient(
            tape.take_nodes(),
            &[(y.meta(), seed)],
            &[x.meta()],
            Unconnected::None,
            &[],
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn product_rule_and_fan_out() {
        let x = vec1(&[1.0, 2.0, 3.0]);
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        tape.watch(x.id());
        // y = x·x + sin(x): x is used three times
        let y = ops::add(&ops::multiply(&x, &x).unwrap(), &ops::sin(&x).unwrap()).unwrap();
        tape.pop();
        let g = grad(&tape, &y, &x).unwrap();
        for (gi, xi) in values(&g).iter().zip([1.0f64, 2.0, 3.0]) {
            assert!((gi - (2.0 * xi + xi.cos())).abs() < 1e-12);
        }
    }

    #[test]
    fn nested_tapes_give_second_and_third_derivatives() {
        let x = vec1(&[0.5, -1.5]);
        let t3 = Tape::new(false, true);
        let t2 = Tape::new(false, true);
        let t1 = Tape::new(false, true);
        for t in [&t3, &t2, &t1] {
            t.push().unwrap();
            t.watch(x.id());
        }
        let y = ops::multiply(&ops::multiply(&x, &x).unwrap(), &x).unwrap(); // x³
        t1.pop();
        let d1 = grad(&t1, &y, &x).unwrap(); // 3x²
        t2.pop();
        let d2 = grad(&t2, &d1, &x).unwrap(); // 6x
        t3.pop();
        let d3 = grad(&t3, &d2, &x).unwrap(); // 6
        assert_eq!(values(&d1), vec![0.75, 6.75]);
        assert_eq!(values(&d2), vec![3.0, -9.0]);
        assert_eq!(values(&d3), vec![6.0, 6.0]);
    }

    #[test]
    fn each_source_is_reported_once_when_its_gradient_is_final() {
        // y = a·b + exp(c): the reverse pass runs the add, then exp (c is
        // complete), then the multiply (a and b are); unused gets None
        let a = vec1(&[1.0, 2.0]);
        let b = vec1(&[3.0, 4.0]);
        let c = vec1(&[5.0, 6.0]);
        let unused = vec1(&[7.0]);
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        for t in [&a, &b, &c, &unused] {
            tape.watch(t.id());
        }
        let ab = ops::multiply(&a, &b).unwrap(); // node 0: consumes a, b
        let e = ops::exp(&c).unwrap(); // node 1: consumes c
        let y = ops::add(&ab, &e).unwrap(); // node 2
        tape.pop();
        let seed = ops::ones_like(&y).unwrap();
        let sources = [b.meta(), unused.meta(), c.meta(), a.meta()];
        let mut reported: Vec<(usize, Option<Vec<f64>>)> = Vec::new();
        let mut report = |k: usize, g: Option<&Tensor>| -> Result<()> {
            reported.push((k, g.map(values)));
            Ok(())
        };
        let grads = gradient_reporting(
            tape.take_nodes(),
            &[(y.meta(), seed)],
            &sources,
            Unconnected::None,
            &[],
            Some(&mut report),
        )
        .unwrap();
        // unused first (no consumer), then c (node 1 ran), then b and a
        // (node 0), ties in source order
        let order: Vec<usize> = reported.iter().map(|(k, _)| *k).collect();
        assert_eq!(order, vec![1, 2, 0, 3]);
        for (k, g) in &reported {
            assert_eq!(g, &grads[*k].as_ref().map(values));
        }
        assert_eq!(reported[2].1, Some(vec![1.0, 2.0])); // d/db = a
    }

    #[test]
    fn a_reporting_error_stops_the_traversal() {
        let x = vec1(&[1.0]);
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        tape.watch(x.id());
        let y = ops::exp(&x).unwrap();
        tape.pop();
        let seed = ops::ones_like(&y).unwrap();
        let mut refuse =
            |_: usize, _: Option<&Tensor>| -> Result<()> { Err(Error::invalid("test", "refused")) };
        let out = gradient_reporting(
            tape.take_nodes(),
            &[(y.meta(), seed)],
            &[x.meta()],
            Unconnected::None,
            &[],
            Some(&mut refuse),
        );
        assert!(out.is_err());
    }

    #[test]
    fn broadcast_gradients_are_summed_to_the_input_shape() {
        let a = Tensor::from_vec(&[3, 1], vec![1.0, 2.0, 3.0]).unwrap();
        let b = Tensor::from_vec(&[1, 4], vec![1.0, 1.0, 1.0, 1.0]).unwrap();
        let tape = Tape::new(true, true);
        tape.push().unwrap();
        tape.watch(a.id());
        tape.watch(b.id());
        let y = ops::multiply(&a, &b).unwrap();
        tape.pop();
        let ga = grad(&tape, &y, &a).unwrap();
        let gb = grad(&tape, &y, &b).unwrap();
        assert_eq!(ga.shape(), &[3, 1]);
        assert_eq!(values(&ga), vec![4.0; 3]);
        assert_eq!(gb.shape(), &[1, 4]);
        assert_eq!(values(&gb), vec![6.0; 4]);
    }

    #[test]
    fn unconnected_sources_and_no_recording_outside_tapes() {
        let x = vec1(&[1.0]);
        let z = vec1(&[2.0]);
        let y = ops::exp(&x).unwrap(); // before any tape: not recorded
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        tape.watch(x.id());
        let w = ops::exp(&x).unwrap();
        tape.pop();
        assert!(grad(&tape, &y, &x).is_none());
        let seed = ops::ones_like(&w).unwrap();
        let zero = gradient(
            Vec::new(),
            &[(w.meta(), seed)],
            &[z.meta()],
            Unconnected::Zero,
            &[],
        )
        .unwrap();
        assert_eq!(values(zero[0].as_ref().unwrap()), vec![0.0]);
    }

    #[test]
    fn a_non_persistent_tape_frees_its_nodes() {
        let x = vec1(&[1.0, 2.0]);
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        tape.watch(x.id());
        let y = ops::tanh(&x).unwrap();
        tape.pop();
        assert_eq!(tape.num_nodes(), 1);
        let _ = grad(&tape, &y, &x);
        assert_eq!(tape.num_nodes(), 0);
    }
}
