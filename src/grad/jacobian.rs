//! Jacobians as batches of cotangents: the rows of an identity matrix pushed
//! through the backward pass at once (every VJP rule keeps leading batch
//! dimensions), and the seeding of a plain gradient.

use std::sync::Arc;

use super::backward::{Unconnected, gradient};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops;
use crate::tape::Node;
use crate::tensor::{Element, Tensor, TensorMeta, check_alloc};
use crate::with_data;
use ndarray::{ArcArray, IxDyn};

/// Cap on the elements of one batch of identity rows (and of the gradients
/// it produces): bigger jacobians are computed in chunks of rows.
pub const JACOBIAN_CHUNK_ELEMENTS: usize = 1 << 24;

/// The seed of target `index` of a gradient: `given` (which must have the
/// target's shape: TF silently mis-shapes gradients here, we refuse), or ones.
pub fn output_gradient(index: usize, target: &TensorMeta, given: Option<Tensor>) -> Result<Tensor> {
    match given {
        Some(seed) if seed.shape() != &target.shape[..] => Err(Error::invalid(
            "GradientTape.gradient",
            format!(
                "output_gradients[{index}] has shape {:?} but its target has shape {:?}",
                seed.shape(),
                target.shape
            ),
        )),
        Some(seed) => Ok(seed),
        None => ops::ones(target.dtype, &target.shape),
    }
}

/// Elements a backward pass over `nodes` touches, times `rows` cotangents
/// pushed at once: a measure of its cost (whether to release the GIL).
pub fn work(nodes: &[Arc<Node>], rows: usize) -> usize {
    let per_row: usize = nodes
        .iter()
        .flat_map(|n| &n.outputs)
        .map(|m| m.shape.iter().product::<usize>())
        .sum();
    per_row.saturating_mul(rows.max(1))
}

/// Rows `start..start + count` of the n×n identity, shaped `[count] ++ shape`.
pub fn identity_rows(dtype: DType, shape: &[usize], start: usize, count: usize) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let positions: Vec<i64> = (start..start + count).map(|i| i as i64).collect();
    // (built in `dtype` directly: an f64 detour doubled a chunk's peak)
    let rows = ops::one_hot(
        &Tensor::from_vec(&[count], positions)?,
        n,
        1.0,
        0.0,
        -1,
        dtype,
    )?;
    ops::reshape_to(&rows, &ops::with_lead(&[count], shape))
}

/// Copy `rows` (a chunk of a jacobian, `[count] ++ source.shape`) into
/// `out` from flat element `offset` on; both have the source's dtype.
fn write_rows(out: &mut Tensor, rows: &Tensor, offset: usize) -> Result<()> {
    fn copy<T: Element>(dst: &mut ArcArray<T, IxDyn>, rows: &Tensor, offset: usize) -> Option<()> {
        let src = crate::kernels::standard(T::view(rows.data())?).ok()?;
        let src = src.as_slice()?;
        // (the result was made here in standard layout and is not shared)
        dst.as_slice_mut()?
            .get_mut(offset..offset + src.len())?
            .copy_from_slice(src);
        Some(())
    }
    out.rewrite(|d| with_data!(d, a => copy(a, rows, offset), str _ => None))
        .ok_or_else(|| {
            Error::invalid(
                "jacobian",
                format!(
                    "a chunk of shape {:?} and dtype {} does not fit the result {:?} ({})",
                    rows.shape(),
                    rows.dtype().name(),
                    out.shape(),
                    out.dtype().name()
                ),
            )
        })
}

/// d target / d source for every source, shaped `target.shape ++
/// source.shape`: the rows of the identity are pushed through the backward
/// pass as one batch of cotangents, `chunk` rows at a time (by default as
/// many as keep a batch under `JACOBIAN_CHUNK_ELEMENTS`). Each result is
/// allocated (and its size checked) before the first chunk runs, and every
/// chunk is written into it at once: the peak is the results plus one
/// chunk. Between chunks an interrupt (Ctrl-C) is polled.
pub fn jacobian(
    nodes: Vec<Arc<Node>>,
    target: &TensorMeta,
    sources: &[TensorMeta],
    unconnected: Unconnected,
    chunk: Option<usize>,
) -> Result<Vec<Option<Tensor>>> {
    let n: usize = target.shape.iter().product();
    let result_shape = |s: &TensorMeta| ops::with_lead(&target.shape, &s.shape);
    let differentiable =
        |s: &TensorMeta| target.dtype.is_differentiable() && s.dtype.is_differentiable();
    for s in sources {
        check_alloc("jacobian", s.dtype, &result_shape(s))?;
    }
    let widest = sources
        .iter()
        .map(|s| s.shape.iter().product::<usize>())
        .max()
        .unwrap_or(0)
        .max(n)
        .max(1);
    let chunk = chunk
        .unwrap_or(JACOBIAN_CHUNK_ELEMENTS / widest)
        .clamp(1, n.max(1));
    // Under a recording tape the result is built with ops (a concat of the
    // chunks), so that it can be differentiated again; otherwise each chunk
    // is written into the preallocated result (the peak: result + a chunk).
    let in_place = !crate::tape::is_recording();
    let mut connected: Vec<bool> = sources.iter().map(differentiable).collect();
    let mut results: Vec<Option<Tensor>> = sources
        .iter()
        .zip(&connected)
        .map(|(s, &c)| {
            (in_place && c)
                .then(|| ops::zeros(s.dtype, &result_shape(s)))
                .transpose()
        })
        .collect::<Result<_>>()?;
    let mut parts: Vec<Vec<Tensor>> = vec![Vec::new(); sources.len()];
    let mut start = 0;
    while start < n && target.dtype.is_differentiable() {
        crate::interrupt::poll()?;
        let count = chunk.min(n - start);
        let seed = identity_rows(target.dtype, &target.shape, start, count)?;
        let chunk_rows = gradient(
            nodes.clone(),
            &[(target.clone(), seed)],
            sources,
            Unconnected::None,
            &[count],
        )?;
        for (i, rows) in chunk_rows.into_iter().enumerate() {
            // (connectivity is the graph's: the same for every chunk)
            let Some(rows) = rows.filter(|_| connected[i]) else {
                connected[i] = false;
                continue;
            };
            match results[i].as_mut() {
                Some(out) => {
                    let per_row: usize = sources[i].shape.iter().product();
                    write_rows(out, &rows, start * per_row)?;
                }
                None => parts[i].push(rows),
            }
        }
        start += count;
        // a source with no elements has an empty result: once every source
        // left is empty or unconnected, the other chunks would add nothing
        let pending = sources.iter().zip(&connected);
        if !pending
            .into_iter()
            .any(|(s, &c)| c && s.shape.iter().product::<usize>() > 0)
        {
            break;
        }
    }
    let mut results = results.into_iter();
    sources
        .iter()
        .zip(connected)
        .zip(parts)
        .map(|((s, connected), parts)| {
            let in_place_result = results.next().flatten();
            if !connected || n == 0 {
                return match unconnected {
                    Unconnected::Zero => ops::zeros(s.dtype, &result_shape(s)).map(Some),
                    Unconnected::None => Ok(None),
                };
            }
            if let Some(j) = in_place_result {
                return Ok(Some(j));
            }
            let stacked = match parts.as_slice() {
                [only] => only.clone(),
                _ => ops::concat(&parts, 0)?,
            };
            ops::reshape_to(&stacked, &result_shape(s)).map(Some)
        })
        .collect()
}

/// Per-example jacobian: `target` is `[b, y...]`, `source` `[b, x...]`, and
/// example `i` of the target depends only on example `i` of the source; the
/// result is `[b, y..., x...]`.
pub fn batch_jacobian(
    nodes: Vec<Arc<Node>>,
    target: &TensorMeta,
    source: &TensorMeta,
    unconnected: Unconnected,
) -> Result<Option<Tensor>> {
    let (t, s) = (target, source);
    if t.shape.is_empty() || s.shape.is_empty() || t.shape[0] != s.shape[0] {
        return Err(Error::invalid(
            "batch_jacobian",
            format!(
                "target {:?} and source {:?} need a shared first (batch) dimension",
                t.shape, s.shape
            ),
        ));
    }
    let per_example: usize = t.shape[1..].iter().product();
    let mut out_shape = t.shape.to_vec();
    out_shape.extend_from_slice(&s.shape[1..]);
    check_alloc("batch_jacobian", s.dtype, &out_shape)?;
    let missing = || match unconnected {
        Unconnected::Zero => ops::zeros(s.dtype, &out_shape).map(Some),
        Unconnected::None => Ok(None),
    };
    if !t.dtype.is_differentiable() || !s.dtype.is_differentiable() {
        return missing();
    }
    // Cotangent j selects output element j of every example at once: the
    // examples are independent, so each gets its own row of the jacobian.
    let rows = identity_rows(t.dtype, &t.shape[1..], 0, per_example)?; // [Y, y...]
    let mut rows_shape = vec![per_example, 1];
    rows_shape.extend_from_slice(&t.shape[1..]);
    let mut seed_shape = vec![per_example];
    seed_shape.extend_from_slice(&t.shape);
    let seed = ops::broadcast_to(&ops::reshape_to(&rows, &rows_shape)?, &seed_shape)?;
    let g = gradient(
        nodes,
        &[(t.clone(), seed)],
        std::slice::from_ref(s),
        Unconnected::None,
        &[per_example],
    )?;
    let Some(g) = g.into_iter().next().flatten() else {
        return missing();
    };
    // [Y, b, x...] → [b, Y, x...] → [b, y..., x...]
    let mut perm: Vec<i64> = (0..g.rank() as i64).collect();
    perm.swap(0, 1);
    ops::reshape_to(&ops::transpose(&g, Some(&perm))?, &out_shape).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::Tape;

    fn values(t: &Tensor) -> Vec<f64> {
        t.array::<f64>().unwrap().iter().copied().collect()
    }

    fn close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs. {want:?}");
        }
    }

    /// y = [x0·x1, sin x0, x1²] at x = (a, b), recorded on a persistent tape.
    fn small_function(a: f64, b: f64) -> (Tape, Tensor, Tensor) {
        let x = Tensor::from_vec(&[2], vec![a, b]).unwrap();
        let tape = Tape::new(true, true);
        tape.push().unwrap();
        tape.watch(x.id());
        let x0 = ops::reshape_to(
            &ops::strided_slice(&x, &[ops::AxisSlice::range(0, 1)]).unwrap(),
            &[1],
        )
        .unwrap();
        let x1 = ops::reshape_to(
            &ops::strided_slice(&x, &[ops::AxisSlice::range(1, 1)]).unwrap(),
            &[1],
        )
        .unwrap();
        let y = ops::concat(
            &[
                x0.mul(&x1).unwrap(),
                ops::sin(&x0).unwrap(),
                ops::square(&x1).unwrap(),
            ],
            0,
        )
        .unwrap();
        tape.pop();
        (tape, x, y)
    }

    #[test]
    fn jacobian_matches_the_hand_derivatives_in_every_chunking() {
        let (a, b) = (0.7, -1.3);
        let (tape, x, y) = small_function(a, b);
        #[rustfmt::skip]
        let want = [
            b,       a,
            a.cos(), 0.0,
            0.0,     2.0 * b,
        ];
        for chunk in [None, Some(1), Some(2), Some(3), Some(100)] {
            let j = jacobian(
                tape.take_nodes(),
                &y.meta(),
                &[x.meta()],
                Unconnected::None,
                chunk,
            )
            .unwrap()
            .remove(0)
            .unwrap();
            assert_eq!(j.shape(), &[3, 2], "chunk {chunk:?}");
            close(&values(&j), &want);
        }
    }

    #[test]
    fn unconnected_sources_of_a_jacobian() {
        let (tape, _, y) = small_function(0.1, 0.2);
        let other = Tensor::from_vec(&[4], vec![0.0f64; 4]).unwrap();
        let nodes = tape.take_nodes();
        let none = jacobian(
            nodes.clone(),
            &y.meta(),
            &[other.meta()],
            Unconnected::None,
            None,
        );
        assert!(none.unwrap()[0].is_none());
        let zero = jacobian(nodes, &y.meta(), &[other.meta()], Unconnected::Zero, None).unwrap();
        let zero = zero[0].as_ref().unwrap();
        assert_eq!(zero.shape(), &[3, 4]);
        assert!(values(zero).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn batch_jacobian_gives_one_jacobian_per_example() {
        // y = tanh(x·W), x [2, 2], W [2, 3]: J[i, j, k] = (1 − y[i, j]²)·W[k, j]
        let x = Tensor::from_vec(&[2, 2], vec![0.3f64, -0.2, 0.5, 0.9]).unwrap();
        let w_vals = vec![0.4f64, -0.7, 0.1, 0.2, 0.6, -0.5];
        let w = Tensor::from_vec(&[2, 3], w_vals.clone()).unwrap();
        let tape = Tape::new(true, true);
        tape.push().unwrap();
        tape.watch(x.id());
        let y = ops::tanh(&ops::matmul(&x, &w, false, false).unwrap()).unwrap();
        tape.pop();
        let y_meta = y.meta();
        let j = batch_jacobian(tape.take_nodes(), &y_meta, &x.meta(), Unconnected::None)
            .unwrap()
            .unwrap();
        assert_eq!(j.shape(), &[2, 3, 2]);
        let y = values(&y);
        let mut want = Vec::new();
        for i in 0..2 {
            for jj in 0..3 {
                for k in 0..2 {
                    want.push((1.0 - y[i * 3 + jj].powi(2)) * w_vals[k * 3 + jj]);
                }
            }
        }
        close(&values(&j), &want);
        // and it is the block diagonal of the full jacobian [2, 3, 2, 2]
        let full = jacobian(
            tape.take_nodes(),
            &y_meta,
            &[x.meta()],
            Unconnected::None,
            None,
        )
        .unwrap()
        .remove(0)
        .unwrap();
        let full = values(&full);
        let blocks: Vec<f64> = (0..2)
            .flat_map(|i| (0..3).flat_map(move |jj| (0..2).map(move |k| (i, jj, k))))
            .map(|(i, jj, k)| full[((i * 3 + jj) * 2 + i) * 2 + k])
            .collect();
        close(&blocks, &want);
    }

    #[test]
    fn a_seed_must_have_its_targets_shape() {
        let t = Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap().meta();
        assert_eq!(values(&output_gradient(0, &t, None).unwrap()), [1.0, 1.0]);
        let bad = Tensor::from_vec(&[3], vec![1.0f64; 3]).unwrap();
        let err = output_gradient(1, &t, Some(bad)).unwrap_err().to_string();
        assert!(err.contains("output_gradients[1] has shape [3]"), "{err}");
    }
}
