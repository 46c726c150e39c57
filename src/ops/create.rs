//! Tensors made from arguments rather than inputs: fill, range, linspace, eye.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{broadcast_to, cast, reshape_to};
use crate::tensor::{Tensor, check_alloc};

/// A tensor of `shape` holding the scalar `value` everywhere (its dtype).
pub fn fill(shape: &[usize], value: &Tensor) -> Result<Tensor> {
    if value.numel() != 1 || value.rank() != 0 {
        return Err(Error::invalid(
            "Fill",
            format!("value must be a scalar, got shape {:?}", value.shape()),
        ));
    }
    check_alloc("Fill", value.dtype(), shape)?;
    broadcast_to(value, shape)
}

/// `start, start + delta, …` up to (not including) `limit`, as TF's `range`.
pub fn range(start: f64, limit: f64, delta: f64, dtype: DType) -> Result<Tensor> {
    let op = "Range";
    if delta == 0.0 {
        return Err(Error::invalid(op, "Requires delta != 0"));
    }
    if (delta > 0.0 && start > limit) || (delta < 0.0 && start < limit) {
        return Err(Error::invalid(
            op,
            format!(
                "Requires start <= limit when delta > 0 (start >= limit when delta < 0): {start}/{limit}"
            ),
        ));
    }
    if dtype == DType::Bool {
        return Err(Error::UnsupportedDType {
            op,
            dtype,
            allowed: "float32, float64, int32, int64",
        });
    }
    let n = if dtype.is_int() {
        // integer ranges count exactly
        let (s, l, d) = (start as i64, limit as i64, delta as i64);
        ((l - s).abs() + d.abs() - 1) / d.abs()
    } else {
        ((limit - start) / delta).ceil() as i64
    }
    .max(0) as usize;
    check_alloc(op, dtype, &[n])?;
    let values: Vec<f64> = (0..n).map(|i| start + i as f64 * delta).collect();
    cast(&Tensor::from_vec(&[n], values)?, dtype)
}

/// `num` evenly spaced values from `start` to `stop`, both included.
pub fn linspace(start: f64, stop: f64, num: i64, dtype: DType) -> Result<Tensor> {
    let op = "LinSpace";
    if num < 1 || !dtype.is_float() {
        return Err(Error::invalid(
            op,
            format!(
                "Requires num > 0 and a float dtype: num = {num}, dtype = {}",
                dtype.name()
            ),
        ));
    }
    let n = num as usize;
    check_alloc(op, dtype, &[n])?;
    let step = if n > 1 {
        (stop - start) / (n - 1) as f64
    } else {
        0.0
    };
    let values: Vec<f64> = (0..n)
        .map(|i| {
            if i + 1 == n && n > 1 {
                stop
            } else {
                start + i as f64 * step
            }
        })
        .collect();
    cast(&Tensor::from_vec(&[n], values)?, dtype)
}

/// Identity matrices `[*batch, rows, cols]` (ones on the main diagonal).
pub fn eye(rows: usize, cols: usize, batch: &[usize], dtype: DType) -> Result<Tensor> {
    let op = "eye";
    let mut shape = batch.to_vec();
    shape.extend([rows, cols]);
    check_alloc(op, dtype, &shape)?;
    let one: Vec<f64> = (0..rows * cols)
        .map(|k| {
            if k / cols.max(1) == k % cols.max(1) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let m = cast(&Tensor::from_vec(&[rows, cols], one)?, dtype)?;
    let out = broadcast_to(&m, &shape)?;
    reshape_to(&out, &shape)
}
