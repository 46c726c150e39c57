//! Scatter: `scatter_nd` and `tensor_scatter_nd_{update,add,sub,max,min}`,
//! the functional state updates that `Variable.scatter_nd_*` and sliced
//! assignment are built on.

use crate::error::{Error, Result};
use crate::ops::{cast, equal, gather_nd, transpose};
use crate::tape;
use crate::tensor::{Data, Element, Tensor};

/// How a scattered update combines with the element it lands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScatterMode {
    /// Replace (with duplicate indices the last update wins, as on TF's CPU).
    Update,
    /// Add (duplicates accumulate).
    Add,
    /// Subtract (duplicates accumulate).
    Sub,
    /// Keep the larger.
    Max,
    /// Keep the smaller.
    Min,
}

impl ScatterMode {
    /// The mode and TF's op name for a binding's `mode` argument; `"scatter_nd"`
    /// is `Add` into zeros, named as TF's `ScatterNd`.
    pub fn parse(mode: &str) -> Result<(ScatterMode, &'static str)> {
        Ok(match mode {
            "update" => (ScatterMode::Update, "TensorScatterUpdate"),
            "add" => (ScatterMode::Add, "TensorScatterAdd"),
            "sub" => (ScatterMode::Sub, "TensorScatterSub"),
            "max" => (ScatterMode::Max, "TensorScatterMax"),
            "min" => (ScatterMode::Min, "TensorScatterMin"),
            "scatter_nd" => (ScatterMode::Add, "ScatterNd"),
            other => {
                return Err(Error::invalid(
                    "TensorScatter",
                    format!(
                        "unknown scatter mode {other:?}; expected update, add, sub, max, min or scatter_nd"
                    ),
                ));
            }
        })
    }
}

/// The row (in `tensor` flattened to `[prod(shape[..k]), prod(shape[k..])]`)
/// that each index tuple of `indices` (`[..., k]`) names, after checking that
/// `updates` has shape `indices.shape[:-1] + shape[k:]` and every tuple is in
/// range.
fn scatter_rows(
    op: &'static str,
    shape: &[usize],
    indices: &Tensor,
    updates: &[usize],
) -> Result<(Vec<usize>, usize)> {
    let idx: Vec<i64> = match indices.data() {
        Data::I32(a) => a.iter().map(|&v| v as i64).collect(),
        Data::I64(a) => a.iter().copied().collect(),
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: indices.dtype(),
                allowed: "int32, int64 (indices)",
            });
        }
    };
    let r = indices.rank();
    let k = if r == 0 { 0 } else { indices.shape()[r - 1] };
    if r == 0 || k > shape.len() {
        return Err(Error::invalid(
            op,
            format!(
                "indices {:?} must have rank >= 1 and a last dimension (the index depth) <= the rank of the shape {shape:?}",
                indices.shape()
            ),
        ));
    }
    let expected: Vec<usize> = indices.shape()[..r - 1]
        .iter()
        .chain(&shape[k..])
        .copied()
        .collect();
    if updates != expected {
        return Err(Error::invalid(
            op,
            format!(
                "updates must have shape indices.shape[:-1] + shape[indices.shape[-1]:] = {expected:?} (indices {:?}, shape {shape:?}), got {updates:?}",
                indices.shape()
            ),
        ));
    }
    let inner: usize = shape[k..].iter().product();
    let count: usize = indices.shape()[..r - 1].iter().product();
    let mut rows = Vec::with_capacity(count);
    for at in 0..count {
        let tuple = &idx[at * k..(at + 1) * k];
        let mut row = 0usize;
        for (&c, &d) in tuple.iter().zip(shape) {
            if c < 0 || c as usize >= d {
                return Err(Error::invalid(
                    op,
                    format!("indices[{at}] = {tuple:?} does not index into shape {shape:?}"),
                ));
            }
            row = row * d + c as usize;
        }
        rows.push(row);
    }
    Ok((rows, inner))
}

/// Numbers a scatter can combine.
trait Combine:
    Element + Copy + PartialOrd + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self>
{
}
impl<T: Element + Copy + PartialOrd + std::ops::Add<Output = T> + std::ops::Sub<Output = T>> Combine
    for T
{
}

fn combine<T: Combine>(mode: ScatterMode, old: T, new: T) -> T {
    match mode {
        ScatterMode::Update => new,
        ScatterMode::Add => old + new,
        ScatterMode::Sub => old - new,
        // a NaN update propagates (`partial_cmp` is None only for NaN)
        ScatterMode::Max if new > old || new.partial_cmp(&new).is_none() => new,
        ScatterMode::Min if new < old || new.partial_cmp(&new).is_none() => new,
        ScatterMode::Max | ScatterMode::Min => old,
    }
}

/// A copy of `base` (row-major) with `rows[j]` combined with row `j` of `upd`.
fn scatter_kernel<T: Element + Copy>(
    base: &ndarray::ArcArray<T, ndarray::IxDyn>,
    upd: &ndarray::ArcArray<T, ndarray::IxDyn>,
    rows: &[usize],
    inner: usize,
    f: impl Fn(T, T) -> T,
) -> Result<Tensor> {
    let mut out: Vec<T> = base.iter().copied().collect();
    let new: Vec<T> = upd.iter().copied().collect();
    for (j, &row) in rows.iter().enumerate() {
        let dst = &mut out[row * inner..(row + 1) * inner];
        for (o, &u) in dst.iter_mut().zip(&new[j * inner..(j + 1) * inner]) {
            *o = f(*o, u);
        }
    }
    Tensor::from_vec(base.shape(), out)
}

/// `gather_nd(g, indices)` for a cotangent `g` with extra leading (batch)
/// dimensions in front of a `rank`-dimensional tensor's: they move behind,
/// where `gather_nd` copies them whole, and back in front.
fn gather_nd_lead(g: &Tensor, indices: &Tensor, rank: usize) -> Result<Tensor> {
    let nl = g.rank() - rank;
    if nl == 0 {
        return gather_nd(g, indices, 0);
    }
    let to_back: Vec<i64> = (nl..nl + rank).chain(0..nl).map(|a| a as i64).collect();
    let picked = gather_nd(&transpose(g, Some(&to_back))?, indices, 0)?;
    let r = picked.rank();
    let to_front: Vec<i64> = (r - nl..r).chain(0..r - nl).map(|a| a as i64).collect();
    transpose(&picked, Some(&to_front))
}

/// `tensor` with `updates` combined into the slices that `indices` names
/// (TF's `TensorScatterUpdate`/`Add`/`Sub`/`Max`/`Min`; `ScatterNd` is `Add`
/// into zeros). `indices` is `[..., k]`: each tuple addresses the first `k`
/// axes; `updates` is `indices.shape[:-1] + tensor.shape[k:]`.
///
/// VJPs (g the output's cotangent): Add/Sub pass g to `tensor` and
/// ±`gather_nd(g, indices)` to `updates`; Update passes g with the
/// overwritten entries zeroed to `tensor` and `gather_nd(g, indices)` to every
/// update (also duplicates, as TF). Max/Min send g to whichever side holds the
/// result, split evenly over ties (TF's rule).
pub fn tensor_scatter_nd(
    mode: &str,
    tensor: &Tensor,
    indices: &Tensor,
    updates: &Tensor,
) -> Result<Tensor> {
    let mode_name = mode;
    let (mode, op) = ScatterMode::parse(mode)?;
    crate::ops::same_dtype(op, tensor, updates)?;
    let (rows, inner) = scatter_rows(op, tensor.shape(), indices, updates.shape())?;
    crate::tensor::check_alloc(op, tensor.dtype(), tensor.shape())?;
    macro_rules! numeric {
        ($($v:ident),*) => {
            match (tensor.data(), updates.data()) {
                $((Data::$v(a), Data::$v(u)) => scatter_kernel(a, u, &rows, inner, |o, n| combine(mode, o, n))?,)*
                (Data::Bool(a), Data::Bool(u)) if mode == ScatterMode::Update => {
                    scatter_kernel(a, u, &rows, inner, |_, n| n)?
                }
                _ => {
                    return Err(Error::UnsupportedDType {
                        op,
                        dtype: tensor.dtype(),
                        allowed: "float32, float64, int32, int64 (and bool for update)",
                    });
                }
            }
        };
    }
    let out = if tensor.dtype().is_complex() && !matches!(mode, ScatterMode::Max | ScatterMode::Min)
    {
        // (update, add and sub act on each part alone: the real kernels on
        // the real and the imaginary parts; complex has no max/min)
        let parts = |t: &Tensor, u: &Tensor| tensor_scatter_nd(mode_name, t, indices, u);
        Tensor::from_data(crate::ops::complex::by_parts2(tensor, updates, parts)?)
    } else {
        numeric!(F32, F64, I32, I64)
    };
    if !tape::is_recording() || !tensor.dtype().is_differentiable() {
        return Ok(out);
    }
    let rank = tensor.rank();
    match mode {
        ScatterMode::Add | ScatterMode::Sub => {
            let sign = if mode == ScatterMode::Sub { -1.0 } else { 1.0 };
            tape::record_rule(
                op,
                &[tensor, indices, updates],
                &out,
                [indices],
                || (rank, sign),
                [
                    Some(|g, [_], _| Ok(g.clone())),
                    None,
                    Some(|g, [indices], &(rank, sign)| {
                        let picked = gather_nd_lead(g, indices, rank)?;
                        if sign < 0.0 { picked.neg() } else { Ok(picked) }
                    }),
                ],
            );
        }
        ScatterMode::Update => {
            // 1 where the tensor's entry survives, 0 where an update overwrote
            // it (a constant: computed unrecorded, which also ends the recursion)
            let keep = tape::without_recording(|| {
                tensor_scatter_nd(
                    "update",
                    &Tensor::full(op, tensor.dtype(), tensor.shape(), 1.0)?,
                    indices,
                    &Tensor::full(op, tensor.dtype(), updates.shape(), 0.0)?,
                )
            })?;
            tape::record_rule(
                op,
                &[tensor, indices, updates],
                &out,
                [indices, &keep],
                || rank,
                [
                    Some(|g, [_, keep], _| g.mul(keep)),
                    None,
                    Some(|g, [indices, _], &rank| gather_nd_lead(g, indices, rank)),
                ],
            );
        }
        ScatterMode::Max | ScatterMode::Min => {
            // which side holds each result; ties share the gradient evenly
            // (constants, computed unrecorded)
            let dtype = tensor.dtype();
            let (tensor_share, holders, from_update) = tape::without_recording(|| {
                let from_tensor = cast(&equal(tensor, &out)?, dtype)?;
                let from_update = cast(&equal(updates, &gather_nd(&out, indices, 0)?)?, dtype)?;
                let holders = from_tensor.add(&tensor_scatter_nd(
                    "scatter_nd",
                    &Tensor::full(op, dtype, tensor.shape(), 0.0)?,
                    indices,
                    &from_update,
                )?)?;
                Ok::<_, Error>((from_tensor.div(&holders)?, holders, from_update))
            })?;
            tape::record_rule(
                op,
                &[tensor, indices, updates],
                &out,
                [indices, &tensor_share, &holders, &from_update],
                || rank,
                [
                    Some(|g, [_, share, _, _], _| g.mul(share)),
                    None,
                    Some(|g, [indices, _, holders, from_update], &rank| {
                        gather_nd_lead(&g.div(holders)?, indices, rank)?.mul(from_update)
                    }),
                ],
            );
        }
    }
    Ok(out)
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (tensor_scatter_nd) => { $crate::ops::with_example!(
        r#"`tensor` with `updates` combined into the slices `indices` names; `mode` is update, add, sub, max, min or scatter_nd (add into zeros). Public as tf.scatter_nd and tf.tensor_scatter_nd_*."#,
        r#">>> print(tf._core.tensor_scatter_nd(tf.zeros([3]), [[1]], [5.0], "add"))
tapegrad.Tensor([0. 5. 0.], shape=(3,), dtype=float32)"#
    ) };
    ($name:ident) => { $crate::ops::shape::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(t: &Tensor) -> Vec<f32> {
        t.array::<f32>().expect("float32").iter().copied().collect()
    }

    #[test]
    fn modes_combine_as_tf_with_duplicates() {
        let t = Tensor::from_vec(&[4], vec![1.0f32, 5.0, 3.0, 2.0]).unwrap();
        let idx = Tensor::from_vec(&[3, 1], vec![1i64, 1, 3]).unwrap();
        let u = Tensor::from_vec(&[3], vec![4.0f32, 7.0, 1.0]).unwrap();
        let go = |m| vals(&tensor_scatter_nd(m, &t, &idx, &u).unwrap());
        assert_eq!(go("update"), [1.0, 7.0, 3.0, 1.0]);
        assert_eq!(go("add"), [1.0, 16.0, 3.0, 3.0]);
        assert_eq!(go("sub"), [1.0, -6.0, 3.0, 1.0]);
        assert_eq!(go("max"), [1.0, 7.0, 3.0, 2.0]);
        assert_eq!(go("min"), [1.0, 4.0, 3.0, 1.0]);
    }

    #[test]
    fn recorded_update_and_max_give_tf_gradients() {
        let x = Tensor::from_vec(&[4], vec![1.0f64, 5.0, 3.0, 2.0]).unwrap();
        let u = Tensor::from_vec(&[2], vec![4.0f64, 4.0]).unwrap();
        let idx = Tensor::from_vec(&[2, 1], vec![0i64, 1]).unwrap();
        for (mode, gx, gu) in [
            ("update", [0.0, 0.0, 1.0, 1.0], [1.0, 1.0]),
            ("max", [0.0, 1.0, 1.0, 1.0], [1.0, 0.0]),
        ] {
            let tape = crate::tape::Tape::new(false, true);
            tape.push().unwrap();
            tape.watch(x.id());
            tape.watch(u.id());
            let y = tensor_scatter_nd(mode, &x, &idx, &u).unwrap();
            tape.pop();
            let seed = crate::ops::ones_like(&y).unwrap();
            let g = crate::grad::gradient(
                tape.take_nodes(),
                &[(y.meta(), seed)],
                &[x.meta(), u.meta()],
                crate::grad::Unconnected::None,
                &[],
            )
            .unwrap();
            let got = |t: &Option<Tensor>| -> Vec<f64> {
                t.as_ref()
                    .unwrap()
                    .array::<f64>()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect()
            };
            assert_eq!(got(&g[0]), gx, "{mode}");
            assert_eq!(got(&g[1]), gu, "{mode}");
        }
    }

    #[test]
    fn slices_and_errors() {
        let t = Tensor::from_vec(&[3, 2], vec![0i32; 6]).unwrap();
        let idx = Tensor::from_vec(&[1, 1], vec![2i32]).unwrap();
        let u = Tensor::from_vec(&[1, 2], vec![8i32, 9]).unwrap();
        let out = tensor_scatter_nd("add", &t, &idx, &u).unwrap();
        assert_eq!(
            out.array::<i32>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [0, 0, 0, 0, 8, 9]
        );
        let far = Tensor::from_vec(&[1, 1], vec![3i32]).unwrap();
        assert!(tensor_scatter_nd("add", &t, &far, &u).is_err());
        let wrong = Tensor::from_vec(&[2], vec![8i32, 9]).unwrap();
        assert!(tensor_scatter_nd("add", &t, &idx, &wrong).is_err());
        assert!(tensor_scatter_nd("mul", &t, &idx, &u).is_err());
    }
}
