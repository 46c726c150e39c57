//! Tensors made from arguments rather than inputs: fill, range, linspace, eye.

use std::cmp::Ordering;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{broadcast_to, cast, reshape_to};
use crate::tensor::{Element, Tensor, check_alloc};

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

/// `tf.range`'s arguments as given, each a value with the dtype it converts
/// to (Python ints int32, floats float32): `range(n)` counts from 0 to n,
/// `delta` is 1 unless given, and the dtype, unless given, is the widest of
/// the arguments' (TF's order: int32 < int64 < float32 < float64; the first
/// wins a tie). Returns `(start, limit, delta, dtype)` for [`range`].
pub fn range_args(
    first: (f64, DType),
    limit: Option<(f64, DType)>,
    delta: Option<(f64, DType)>,
    dtype: Option<DType>,
) -> (f64, f64, f64, DType) {
    let (start, limit) = match limit {
        Some(limit) => (Some(first), limit),
        None => (None, first),
    };
    let width = |d: DType| {
        [DType::I64, DType::F32, DType::F64]
            .iter()
            .position(|&w| w == d)
    };
    let widest = [start, Some(limit), delta]
        .into_iter()
        .flatten()
        .map(|(_, d)| d)
        .reduce(|a, b| if width(b) > width(a) { b } else { a })
        .unwrap_or(limit.1);
    let value = |arg: Option<(f64, DType)>, default| arg.map_or(default, |(v, _)| v);
    let (start, delta) = (value(start, 0.0), value(delta, 1.0));
    (start, limit.0, delta, dtype.unwrap_or(widest))
}

/// `start, start + delta, …` up to (not including) `limit`, as TF's `range`.
///
/// The arguments are first rounded to `dtype` (float32 `0.1` is not float64 `0.1`), then,
/// as TF's kernel does, everything is computed in `dtype`: the count is
/// `ceil(|(limit - start) / delta|)` for floats and `(|limit - start| + |delta| - 1) / |delta|`
/// for integers, and element `i` is `start + T(i) * delta` (not a running sum, whose
/// rounding drifts: `range(-8, 8, 0.1)[80]` is exactly 0).
pub fn range(start: f64, limit: f64, delta: f64, dtype: DType) -> Result<Tensor> {
    let op = "Range";
    match dtype {
        DType::F32 => {
            let (s, l, d) = (start as f32, limit as f32, delta as f32);
            check_range_args(op, s, l, d)?;
            let n = alloc_range(op, dtype, ((l - s) / d).abs().ceil() as f64)?;
            progression(n, |i| s + i as f32 * d)
        }
        DType::F64 => {
            check_range_args(op, start, limit, delta)?;
            let n = alloc_range(op, dtype, ((limit - start) / delta).abs().ceil())?;
            progression(n, |i| start + i as f64 * delta)
        }
        DType::I32 | DType::I64 => {
            // integer arguments truncate toward zero, as TF's cast does
            let (s, l, d) = (start as i64, limit as i64, delta as i64);
            check_range_args(op, s, l, d)?;
            let n = alloc_range(op, dtype, (((l - s).abs() + d.abs() - 1) / d.abs()) as f64)?;
            // (an int32 range fits int32 at every element: it lies between
            // its int32 start and limit)
            match dtype {
                DType::I32 => progression(n, |i| (s + i as i64 * d) as i32),
                _ => progression(n, |i| s + i as i64 * d),
            }
        }
        DType::F16 | DType::BF16 => cast(&range(start, limit, delta, DType::F32)?, dtype),
        _ => Err(Error::UnsupportedDType {
            op,
            dtype,
            allowed: "float16, bfloat16, float32, float64, int32, int64",
        }),
    }
}

/// The `n` values `at(0), at(1), …`, written by the elementwise engine: in
/// parallel, interruptibly, into a buffer taken fallibly (an infallible
/// `collect` of 2^29 values aborted under an address-space cap in the fuzzer).
fn progression<T: Element>(n: usize, at: impl Fn(usize) -> T + Sync) -> Result<Tensor> {
    let values = crate::kernels::strided::fill_flat(&[n], |start, out| {
        for (k, slot) in out.iter_mut().enumerate() {
            slot.write(at(start + k));
        }
    })?;
    Tensor::from_vec(&[n], values)
}

/// TF's argument checks for `Range`, on the values already rounded to the dtype.
fn check_range_args<T>(op: &'static str, start: T, limit: T, delta: T) -> Result<()>
where
    T: PartialOrd + Default + std::fmt::Display + Copy,
{
    let zero = T::default();
    if delta == zero {
        return Err(Error::invalid(op, format!("Requires delta != 0: {delta}")));
    }
    // NaN compares as unordered, and fails both checks, as in TF
    let ordered = start.partial_cmp(&limit);
    if delta > zero {
        if !matches!(ordered, Some(Ordering::Less | Ordering::Equal)) {
            return Err(Error::invalid(
                op,
                format!("Requires start <= limit when delta > 0: {start}/{limit}"),
            ));
        }
    } else if !matches!(ordered, Some(Ordering::Greater | Ordering::Equal)) {
        return Err(Error::invalid(
            op,
            format!("Requires start >= limit when delta < 0: {start}/{limit}"),
        ));
    }
    Ok(())
}

/// The element count of a range, checked against the allocation limit.
fn alloc_range(op: &'static str, dtype: DType, count: f64) -> Result<usize> {
    // NaN (inf / inf, 0 / 0) is refused with the infinities
    if !matches!(
        count.partial_cmp(&(i64::MAX as f64)),
        Some(Ordering::Less | Ordering::Equal)
    ) {
        return Err(Error::invalid(
            op,
            format!("Requires ((limit - start) / delta) <= {}", i64::MAX),
        ));
    }
    let n = count.max(0.0) as usize;
    check_alloc(op, dtype, &[n])?;
    Ok(n)
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
    let last = |i: usize| i + 1 == n && n > 1;
    let values = progression(n, |i| {
        if last(i) {
            stop
        } else {
            start + i as f64 * step
        }
    })?;
    cast(&values, dtype)
}

/// Identity matrices `[*batch, rows, cols]` (ones on the main diagonal).
pub fn eye(rows: usize, cols: usize, batch: &[usize], dtype: DType) -> Result<Tensor> {
    let op = "eye";
    let mut shape = batch.to_vec();
    shape.extend([rows, cols]);
    check_alloc(op, dtype, &shape)?;
    let width = cols.max(1);
    let one = progression(rows * cols, |k| f64::from(u8::from(k / width == k % width)))?;
    let m = cast(&reshape_to(&one, &[rows, cols])?, dtype)?;
    let out = broadcast_to(&m, &shape)?;
    reshape_to(&out, &shape)
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (fill) => { $crate::ops::with_example!(
        r#"A tensor of shape `dims` filled with `value` (its dtype follows the value)."#,
        r#">>> print(tf.fill([2, 2], 7))
tapegrad.Tensor(
[[7 7]
 [7 7]], shape=(2, 2), dtype=int32)"#
    ) };
    (range_) => { $crate::ops::with_example!(
        r#"`start, start + delta, …` up to but excluding `limit` (`tf.range(n)` counts from 0); int32 for ints, float32 for floats."#,
        r#">>> print(tf.range(5))
tapegrad.Tensor([0 1 2 3 4], shape=(5,), dtype=int32)
>>> print(tf.range(1.0, 2.0, 0.25))
tapegrad.Tensor([1.   1.25 1.5  1.75], shape=(4,), dtype=float32)"#
    ) };
    (linspace) => { $crate::ops::with_example!(
        r#"`num` evenly spaced values from `start` to `stop`, both included."#,
        r#">>> print(tf.linspace(0.0, 1.0, 5))
tapegrad.Tensor([0.   0.25 0.5  0.75 1.  ], shape=(5,), dtype=float32)"#
    ) };
    (eye) => { $crate::ops::with_example!(
        r#"The identity matrix of `num_rows` × `num_columns` (square by default), float32 by default."#,
        r#">>> print(tf.eye(2))
tapegrad.Tensor(
[[1. 0.]
 [0. 1.]], shape=(2, 2), dtype=float32)"#
    ) };
    (zeros) => { $crate::ops::with_example!(
        r#"A tensor of zeros of `shape` (float32 by default)."#,
        r#">>> print(tf.zeros([2, 2]))
tapegrad.Tensor(
[[0. 0.]
 [0. 0.]], shape=(2, 2), dtype=float32)"#
    ) };
    (ones) => { $crate::ops::with_example!(
        r#"A tensor of ones of `shape` (float32 by default)."#,
        r#">>> print(tf.ones([3], dtype=tf.int32))
tapegrad.Tensor([1 1 1], shape=(3,), dtype=int32)"#
    ) };
    (zeros_like) => { $crate::ops::with_example!(
        r#"Zeros with the shape and dtype of `input` (or `dtype`)."#,
        r#">>> print(tf.zeros_like(tf.constant([1.5, 2.5])))
tapegrad.Tensor([0. 0.], shape=(2,), dtype=float32)"#
    ) };
    (ones_like) => { $crate::ops::with_example!(
        r#"Ones with the shape and dtype of `input` (or `dtype`)."#,
        r#">>> print(tf.ones_like(tf.constant([[1, 2]])))
tapegrad.Tensor([[1 1]], shape=(1, 2), dtype=int32)"#
    ) };
    ($name:ident) => { $crate::ops::index::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_ranges_count_and_step_in_their_dtype() {
        // TF: 2000 elements ending at float32 9.99, and exactly 0 at index 80 below
        let r = range(-10.0, 10.0, 0.01, DType::F32).unwrap();
        let v = r.array::<f32>().unwrap();
        assert_eq!(v.len(), 2000);
        assert_eq!(v[[1999]], -10.0f32 + 1999.0 * 0.01f32);
        let r = range(-8.0, 8.0, 0.1, DType::F32).unwrap();
        assert_eq!(r.array::<f32>().unwrap()[[80]], 0.0);
        let r = range(0.1, 1.0, 0.1, DType::F64).unwrap();
        assert_eq!(r.array::<f64>().unwrap()[[2]], 0.1 + 2.0 * 0.1);
    }

    #[test]
    fn integer_ranges_count_exactly() {
        let r = range(-7.0, 7.0, 3.0, DType::I64).unwrap();
        assert_eq!(
            r.array::<i64>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![-7, -4, -1, 2, 5]
        );
        let r = range(10.0, 0.0, -3.0, DType::I32).unwrap();
        assert_eq!(
            r.array::<i32>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![10, 7, 4, 1]
        );
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert!(range(0.0, 1.0, 0.0, DType::F32).is_err());
        assert!(range(1.0, 0.0, 1.0, DType::I32).is_err());
        assert!(range(0.0, f64::NAN, 1.0, DType::F64).is_err());
        assert!(range(0.0, f64::INFINITY, 1.0, DType::F64).is_err());
        assert!(range(0.0, 1.0, 1.0, DType::Bool).is_err());
    }

    #[test]
    fn range_args_follow_tf() {
        let (i32_, i64_, f32_) = (DType::I32, DType::I64, DType::F32);
        assert_eq!(
            range_args((5.0, i32_), None, None, None),
            (0.0, 5.0, 1.0, i32_)
        );
        let args = range_args((1.0, i32_), Some((2.0, f32_)), Some((0.5, i64_)), None);
        assert_eq!(args, (1.0, 2.0, 0.5, f32_));
        let args = range_args((1.0, i64_), Some((9.0, i32_)), None, Some(DType::F64));
        assert_eq!(args, (1.0, 9.0, 1.0, DType::F64));
        // dtypes outside TF's order rank lowest; the first of a tie wins
        let args = range_args((0.0, DType::I16), Some((3.0, DType::U8)), None, None);
        assert_eq!(args.3, DType::I16);
    }
}
