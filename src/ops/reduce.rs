//! Reductions over axes, and the sum that undoes a broadcast.

use ndarray::IxDyn;

use crate::error::{Error, Result};
use crate::kernels::reduce::sum_axes;
use crate::ops::{broadcast_to, lead, reshape_to, sqrt, square, with_lead};
use crate::shape::{broadcast_reduction_axes, normalize_axes};
use crate::tape;
use crate::tensor::{Data, Tensor};

/// Resolve TF's `axis` argument: `None` reduces everything.
fn resolve_axes(op: &'static str, x: &Tensor, axis: Option<&[i64]>) -> Result<Vec<usize>> {
    match axis {
        None => Ok((0..x.rank()).collect()),
        Some(a) => normalize_axes(op, a, x.rank()),
    }
}

/// The shape after reducing `axes`, with them kept as 1 or dropped.
fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// Sum over `axis` (all axes when `None`).
pub fn reduce_sum(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let op = "Sum";
    let axes = resolve_axes(op, x, axis)?;
    let out_shape = reduced_shape(x.shape(), &axes, keepdims);
    let dim = IxDyn(&out_shape);
    let reshape_err = |_| Error::invalid(op, "internal reshape failed");
    let out = Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(
            sum_axes(a, &axes)
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::F64(a) => Data::F64(
            sum_axes(a, &axes)
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::I32(a) => Data::I32(
            sum_axes(a, &axes)
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::I64(a) => Data::I64(
            sum_axes(a, &axes)
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::Bool(_) => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: x.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
    });
    tape::record(op, &[x], &[&out], || {
        let in_shape = x.shape().to_vec();
        let kept = reduced_shape(&in_shape, &axes, true);
        let out_rank = out_shape.len();
        // Every input element contributed once: spread g back over the reduced axes.
        Box::new(move |g, _| {
            let g = &g[0];
            let lead = lead(g, out_rank);
            let spread = broadcast_to(
                &reshape_to(g, &with_lead(lead, &kept))?,
                &with_lead(lead, &in_shape),
            )?;
            Ok(vec![Some(spread)])
        })
    });
    Ok(out)
}

/// Mean over `axis`; integer means truncate, as in TF.
pub fn reduce_mean(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let op = "Mean";
    let axes = resolve_axes(op, x, axis)?;
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let sum = reduce_sum(x, axis, keepdims)?;
    match sum.data() {
        Data::I32(a) => Ok(Tensor::from_data(Data::I32(crate::kernels::map(a, |v| {
            if count == 0 { 0 } else { v / count as i32 }
        })))),
        Data::I64(a) => Ok(Tensor::from_data(Data::I64(crate::kernels::map(a, |v| {
            if count == 0 { 0 } else { v / count as i64 }
        })))),
        // 0/0 is NaN for an empty float reduction, as in TF.
        _ => sum.div(&Tensor::scalar_of(x.dtype(), count as f64)),
    }
}

/// The Euclidean norm over `axis` (all elements when `None`). Its gradient
/// at the zero vector is NaN, as in TF: d√s/ds is infinite there.
pub fn norm_euclidean(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op: "norm",
            dtype: x.dtype(),
            allowed: "float32, float64",
        });
    }
    sqrt(&reduce_sum(&square(x)?, axis, keepdims)?)
}

/// Sum `g` down to `shape`, undoing a broadcast; `g` itself when the shapes
/// already agree. The backward traversal applies this to every gradient.
pub fn sum_to_shape(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank().wrapping_sub(shape.len());
    let compatible = g.rank() >= shape.len()
        && shape
            .iter()
            .zip(&g.shape()[lead..])
            .all(|(&s, &d)| s == d || s == 1);
    if !compatible {
        return Err(Error::ShapeMismatch {
            op: "sum_to_shape",
            lhs: g.shape().to_vec(),
            rhs: shape.to_vec(),
        });
    }
    let axes: Vec<i64> = broadcast_reduction_axes(shape, g.shape())
        .into_iter()
        .map(|a| a as i64)
        .collect();
    reshape_to(&reduce_sum(g, Some(&axes), true)?, shape)
}
