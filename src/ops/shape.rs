//! Ops that move or reinterpret elements: reshape, transpose, broadcast,
//! cast, identity. Their VJPs move the gradient back.

use ndarray::IxDyn;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels;
use crate::map_data;
use crate::ops::{lead, sum_to_shape, with_lead};
use crate::shape::{broadcast_shapes, checked_numel};
use crate::tape;
use crate::tensor::{Data, Tensor, check_alloc};

/// Reshape with TF's rules: at most one `-1`, which is inferred.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    let op = "Reshape";
    let n = x.numel();
    let unknown: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == -1).collect();
    if unknown.len() > 1 || shape.iter().any(|&d| d < -1) {
        return Err(Error::invalid(
            op,
            format!(
                "invalid target shape {shape:?}: only one dimension may be -1 and none may be negative"
            ),
        ));
    }
    let known: usize = checked_numel(
        &shape
            .iter()
            .filter(|&&d| d != -1)
            .map(|&d| d as usize)
            .collect::<Vec<_>>(),
    )
    .ok_or_else(|| Error::invalid(op, format!("target shape {shape:?} is too large")))?;
    let mut target: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(&i) = unknown.first() {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(Error::invalid(
                op,
                format!(
                    "Input to reshape is a tensor with {n} values, but the requested shape requires a multiple of {known}"
                ),
            ));
        }
        target[i] = n / known;
    } else if known != n {
        return Err(Error::invalid(
            op,
            format!(
                "Input to reshape is a tensor with {n} values, but the requested shape has {known}"
            ),
        ));
    }
    reshape_to(x, &target)
}

/// Reshape to a fully known shape with the same element count (shares the
/// buffer when the input is contiguous).
pub fn reshape_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    if checked_numel(shape) != Some(x.numel()) {
        return Err(Error::invalid(
            "Reshape",
            format!(
                "Input to reshape is a tensor with {} values, but the requested shape is {:?}",
                x.numel(),
                shape
            ),
        ));
    }
    let dim = IxDyn(shape);
    let err = |_| Error::invalid("Reshape", "internal reshape failed");
    let out = Tensor::from_data(
        map_data!(x.data(), a => kernels::standard(a).into_shape_clone(dim).map_err(err)?),
    );
    tape::record("Reshape", &[x], &[&out], || {
        let in_shape = x.shape().to_vec();
        let out_rank = shape.len();
        Box::new(move |g, _| {
            let g = &g[0];
            Ok(vec![Some(reshape_to(
                g,
                &with_lead(lead(g, out_rank), &in_shape),
            )?)])
        })
    });
    Ok(out)
}

/// Permute axes (`perm = None` reverses them). A view: no data moves.
pub fn transpose(x: &Tensor, perm: Option<&[i64]>) -> Result<Tensor> {
    let op = "Transpose";
    let rank = x.rank();
    let perm: Vec<usize> = match perm {
        None => (0..rank).rev().collect(),
        Some(p) => {
            let mut seen = vec![false; rank];
            let valid = p.len() == rank
                && p.iter().all(|&a| {
                    let a = if a < 0 { a + rank as i64 } else { a };
                    (0..rank as i64).contains(&a) && !std::mem::replace(&mut seen[a as usize], true)
                });
            if !valid {
                return Err(Error::invalid(
                    op,
                    format!(
                        "{p:?} is not a valid permutation of the {rank} axes of a tensor of shape {:?}",
                        x.shape()
                    ),
                ));
            }
            p.iter()
                .map(|&a| {
                    if a < 0 {
                        (a + rank as i64) as usize
                    } else {
                        a as usize
                    }
                })
                .collect()
        }
    };
    let out = Tensor::from_data(map_data!(x.data(), a => a.clone().permuted_axes(IxDyn(&perm))));
    tape::record(op, &[x], &[&out], || {
        let mut inverse = vec![0i64; rank];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i as i64;
        }
        Box::new(move |g, _| {
            let g = &g[0];
            let nb = g.rank() - rank;
            let perm: Vec<i64> = (0..nb as i64)
                .chain(inverse.iter().map(|&p| p + nb as i64))
                .collect();
            Ok(vec![Some(transpose(g, Some(&perm))?)])
        })
    });
    Ok(out)
}

/// Broadcast `x` up to `shape` (materialised).
pub fn broadcast_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let op = "BroadcastTo";
    if x.shape() == shape {
        return Ok(x.clone());
    }
    if broadcast_shapes(op, x.shape(), shape)? != shape {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.shape().to_vec(),
            rhs: shape.to_vec(),
        });
    }
    check_alloc(op, x.dtype(), shape)?;
    let out = Tensor::from_data(map_data!(x.data(), a => kernels::broadcast_copy(a, shape)));
    tape::record(op, &[x], &[&out], || {
        let in_shape = x.shape().to_vec();
        let out_rank = shape.len();
        Box::new(move |g, _| {
            let g = &g[0];
            Ok(vec![Some(sum_to_shape(
                g,
                &with_lead(lead(g, out_rank), &in_shape),
            )?)])
        })
    });
    Ok(out)
}

/// Convert to `dtype` (floats → ints truncate toward zero, as C and TF do).
/// Differentiable between float dtypes; the gradient is cast back.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    macro_rules! convert {
        ($a:expr, $f:expr) => {
            match dtype {
                DType::F32 => Data::F32(kernels::map($a, |v| $f(v) as f32)),
                DType::F64 => Data::F64(kernels::map($a, |v| $f(v) as f64)),
                DType::I32 => Data::I32(kernels::map($a, |v| $f(v) as i32)),
                DType::I64 => Data::I64(kernels::map($a, |v| $f(v) as i64)),
                DType::Bool => Data::Bool(kernels::map($a, |v| $f(v) != 0.0)),
            }
        };
    }
    let out = Tensor::from_data(match x.data() {
        Data::F32(a) => convert!(a, |v: f32| v as f64),
        Data::F64(a) => convert!(a, |v: f64| v),
        Data::I32(a) => convert!(a, |v: i32| v as f64),
        Data::I64(a) => match dtype {
            // through f64 would round large int64 values
            DType::I32 => Data::I32(kernels::map(a, |v| v as i32)),
            _ => convert!(a, |v: i64| v as f64),
        },
        Data::Bool(a) => convert!(a, |v: bool| v as u8 as f64),
    });
    if x.dtype().is_float() && dtype.is_float() {
        tape::record("Cast", &[x], &[&out], || {
            let back = x.dtype();
            Box::new(move |g, _| Ok(vec![Some(cast(&g[0], back)?)]))
        });
    }
    Ok(out)
}

/// The same values under a new id; gradients pass straight through.
pub fn identity(x: &Tensor) -> Result<Tensor> {
    let out = x.with_fresh_id();
    tape::record("Identity", &[x], &[&out], || {
        Box::new(|g, _| Ok(vec![Some(g[0].clone())]))
    });
    Ok(out)
}

/// The same values, but no tape sees through it.
pub fn stop_gradient(x: &Tensor) -> Tensor {
    x.with_fresh_id()
}
