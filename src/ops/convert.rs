//! Conversions between dtypes, and the compute path of the storage dtypes.
//!
//! A cast goes source → hub → target, with three hubs: int64 (every signed
//! or narrow integer and bool), uint64, and float64 (every float dtype, exactly).
//! The elements stream through a small hub buffer (`HUB_RUN`), so a cast is one
//! pass whose only full-size buffer is its result, and the source and target
//! sides are instantiated once per dtype each, not once per pair. That gives
//! TF's rules in one place:
//! - integer → integer wraps (two's complement truncation, as `static_cast`);
//! - float → integer truncates toward zero; out of range saturates and NaN
//!   gives 0 (TF's result there is whatever the CPU's conversion gives, and
//!   differs between float32 and float64 sources: see docs/compat.md);
//! - anything → float16/bfloat16 goes through float32 and rounds to nearest
//!   even (Eigen's conversion); overflow gives ±inf;
//! - → bool is `!= 0` (NaN is true); bool → number is 0 or 1.
//!
//! complex64/complex128: into a complex dtype a real value becomes (v, 0) in
//! the target's precision; out of one, a complex value gives its real part,
//! then the real rules above (TF's `static_cast` of a complex, which discards
//! the imaginary part; → bool too: TF's cast of 1j to bool is false); between
//! the two complex dtypes both parts convert.

use ndarray::{ArcArray, ArrayD, IxDyn};
use num_complex::Complex;

use crate::alloc::try_vec;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{Data, Element, Tensor};

/// One element on its way from the source dtype to the target: the hub
/// value it passes through.
#[derive(Clone, Copy)]
pub enum HubValue {
    Int(i64),
    UInt(u64),
    Float(f64),
}

/// A run of hub values, as the source side hands them to the target side.
enum HubRun<'a> {
    Int(&'a [i64]),
    UInt(&'a [u64]),
    Float(&'a [f64]),
}

// Elements cross from source to target through a hub buffer this long: the
// conversion is one pass with a bounded temporary (a whole-size hub array
// doubled the peak: a cast of 2^29 int8 values to float64 needed 8 GiB), and
// the two sides stay separately instantiated (13 + 13, not 13²).
const HUB_RUN: usize = 1 << 12;
// How many elements pass between two interrupt polls.
const POLL_EVERY: usize = 1 << 20;

/// Hands `a`'s elements, in logical order, to `sink` as runs of hub values.
fn stream<S: Copy, H: Copy>(
    a: &ArcArray<S, IxDyn>,
    to_hub: impl Fn(S) -> H,
    run: fn(&[H]) -> HubRun<'_>,
    sink: &mut dyn FnMut(HubRun<'_>) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(HUB_RUN.min(a.len()));
    for &v in a.iter() {
        buf.push(to_hub(v));
        if buf.len() == HUB_RUN {
            sink(run(&buf))?;
            buf.clear();
        }
    }
    if buf.is_empty() {
        Ok(())
    } else {
        sink(run(&buf))
    }
}

/// The source side: every dtype to its hub (complex sources give their real
/// part: TF's `static_cast` of a complex drops the imaginary part).
fn stream_hub(d: &Data, sink: &mut dyn FnMut(HubRun<'_>) -> Result<()>) -> Result<()> {
    match d {
        Data::F32(a) => stream(a, f64::from, |r| HubRun::Float(r), sink),
        Data::F64(a) => stream(a, |v| v, |r| HubRun::Float(r), sink),
        Data::F16(a) => stream(a, f64::from, |r| HubRun::Float(r), sink),
        Data::BF16(a) => stream(a, f64::from, |r| HubRun::Float(r), sink),
        Data::C64(a) => stream(a, |z| f64::from(z.re), |r| HubRun::Float(r), sink),
        Data::C128(a) => stream(a, |z| z.re, |r| HubRun::Float(r), sink),
        Data::I32(a) => stream(a, i64::from, |r| HubRun::Int(r), sink),
        Data::I64(a) => stream(a, |v| v, |r| HubRun::Int(r), sink),
        Data::U8(a) => stream(a, i64::from, |r| HubRun::Int(r), sink),
        Data::I8(a) => stream(a, i64::from, |r| HubRun::Int(r), sink),
        Data::I16(a) => stream(a, i64::from, |r| HubRun::Int(r), sink),
        Data::U16(a) => stream(a, i64::from, |r| HubRun::Int(r), sink),
        Data::U32(a) => stream(a, i64::from, |r| HubRun::Int(r), sink),
        Data::Bool(a) => stream(a, i64::from, |r| HubRun::Int(r), sink),
        Data::U64(a) => stream(a, |v| v, |r| HubRun::UInt(r), sink),
        // (unreached: `convert_dtype` hands strings back unconverted)
        Data::Str(_) => crate::tensor::strings_unsupported(),
    }
}

/// How a target element type is made from each hub.
trait FromHub: Element {
    fn from_int(v: i64) -> Self;
    fn from_uint(v: u64) -> Self;
    fn from_float(v: f64) -> Self;

    fn from_hub(v: HubValue) -> Self {
        match v {
            HubValue::Int(v) => Self::from_int(v),
            HubValue::UInt(v) => Self::from_uint(v),
            HubValue::Float(v) => Self::from_float(v),
        }
    }
}

// `as` is the rule for the primitives: integer → integer wraps, float →
// integer truncates and saturates (NaN → 0), → float rounds to nearest.
macro_rules! primitive_from_hub {
    ($($t:ty),*) => {$(
        impl FromHub for $t {
            #[inline(always)]
            fn from_int(v: i64) -> Self { v as $t }
            #[inline(always)]
            fn from_uint(v: u64) -> Self { v as $t }
            #[inline(always)]
            fn from_float(v: f64) -> Self { v as $t }
        }
    )*};
}
primitive_from_hub!(f32, f64, i32, i64, u8, i8, i16, u16, u32, u64);

// Through float32, as Eigen converts to its half types (a float64 source
// rounds twice, exactly as TF's cast does).
macro_rules! half_from_hub {
    ($($t:ty),*) => {$(
        impl FromHub for $t {
            #[inline(always)]
            fn from_int(v: i64) -> Self { <$t>::from_f32(v as f32) }
            #[inline(always)]
            fn from_uint(v: u64) -> Self { <$t>::from_f32(v as f32) }
            #[inline(always)]
            fn from_float(v: f64) -> Self { <$t>::from_f32(v as f32) }
        }
    )*};
}
half_from_hub!(half::f16, half::bf16);

// A real value becomes (v, 0) in the target's precision.
macro_rules! complex_from_hub {
    ($($t:ty),*) => {$(
        impl FromHub for Complex<$t> {
            #[inline(always)]
            fn from_int(v: i64) -> Self { Complex::new(v as $t, 0.0) }
            #[inline(always)]
            fn from_uint(v: u64) -> Self { Complex::new(v as $t, 0.0) }
            #[inline(always)]
            fn from_float(v: f64) -> Self { Complex::new(v as $t, 0.0) }
        }
    )*};
}
complex_from_hub!(f32, f64);

impl FromHub for bool {
    fn from_int(v: i64) -> Self {
        v != 0
    }
    fn from_uint(v: u64) -> Self {
        v != 0
    }
    fn from_float(v: f64) -> Self {
        v != 0.0
    }
}

/// The target side: `d`'s elements as `T`, in a buffer taken fallibly.
fn collect<T: FromHub>(d: &Data, shape: &[usize]) -> Result<Data> {
    let mut out: Vec<T> = try_vec("cast", shape)?;
    let mut since_poll = 0;
    stream_hub(d, &mut |run| {
        match run {
            HubRun::Int(r) => out.extend(r.iter().map(|&v| T::from_int(v))),
            HubRun::UInt(r) => out.extend(r.iter().map(|&v| T::from_uint(v))),
            HubRun::Float(r) => out.extend(r.iter().map(|&v| T::from_float(v))),
        }
        since_poll += HUB_RUN;
        if since_poll >= POLL_EVERY {
            since_poll = 0;
            crate::interrupt::poll()?;
        }
        Ok(())
    })?;
    let array = ArrayD::from_shape_vec(IxDyn(shape), out)
        .map_err(|e| Error::invalid("cast", e.to_string()))?;
    Ok(T::wrap(array.into_shared()))
}

/// `x`'s values as `dtype`, by TF's cast rules (module doc); not recorded
/// on any tape (`ops::cast` is the differentiable op). One pass: the result
/// is the only full-size buffer, taken fallibly (`ResourceExhaustedError`).
pub fn convert_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    // Strings have no numeric value (TF casts neither way; `as_string` and
    // `to_number` format and parse): they come back as they are, and the
    // caller's dtype check refuses them by name.
    if x.dtype() == dtype || x.dtype() == DType::String || dtype == DType::String {
        return Ok(x.clone());
    }
    // between complex dtypes the imaginary part survives
    let data = match (x.data(), dtype) {
        (Data::C64(a), DType::C128) => Data::C128(crate::kernels::map(a, |z| {
            Complex::new(f64::from(z.re), f64::from(z.im))
        })?),
        (Data::C128(a), DType::C64) => Data::C64(crate::kernels::map(a, |z| {
            Complex::new(z.re as f32, z.im as f32)
        })?),
        (d, _) => crate::with_dtype!(dtype, T => collect::<T>(d, x.shape()))?,
    };
    Ok(Tensor::from_data(data))
}

/// One value as a 0-d tensor of `dtype`, by the same rules (no array pass).
pub fn scalar_as(v: HubValue, dtype: DType) -> Tensor {
    fn make<T: FromHub>(v: HubValue) -> Tensor {
        Tensor::scalar(T::from_hub(v))
    }
    // (a number is no string: it stays in its hub dtype, for the caller's
    // dtype check to refuse by name)
    crate::with_dtype!(dtype, T => make::<T>(v), str => match v {
        HubValue::Int(i) => Tensor::scalar(i),
        HubValue::UInt(u) => Tensor::scalar(u),
        HubValue::Float(f) => Tensor::scalar(f),
    })
}

/// A kernel that refused the compute dtype refused the caller's dtype.
fn relabel(e: Error, dtype: DType) -> Error {
    match e {
        Error::UnsupportedDType { op, allowed, .. } => {
            Error::UnsupportedDType { op, dtype, allowed }
        }
        other => other,
    }
}

const TOP_BIT: u64 = 1 << 63;

/// `x` in its compute dtype. With `ordered`, uint64 maps to int64 by
/// flipping the top bit (`v - 2⁶³`), so int64's order is uint64's order
/// (max, min, comparisons, sorting); without it uint64 keeps its bits,
/// which is exact for wrapping `+ - *`.
pub(crate) fn widen(x: &Tensor, ordered: bool) -> Result<Tensor> {
    match x.data() {
        Data::U64(a) if ordered => Ok(Tensor::from_data(Data::I64(crate::kernels::map(a, |v| {
            (v ^ TOP_BIT) as i64
        })?))),
        _ => convert_dtype(x, x.dtype().compute_dtype()),
    }
}

/// The inverse of `widen`: a compute-dtype result back in `dtype`
/// (integers wrap, half precision rounds to nearest even).
pub(crate) fn narrow(y: &Tensor, dtype: DType, ordered: bool) -> Result<Tensor> {
    match y.data() {
        Data::I64(a) if ordered && dtype == DType::U64 => {
            Ok(Tensor::from_data(Data::U64(crate::kernels::map(a, |v| {
                v as u64 ^ TOP_BIT
            })?)))
        }
        _ => convert_dtype(y, dtype),
    }
}

/// Run a kernel on storage-dtype operands: widen them, run `kernel` in the
/// compute dtype, and narrow a result that came back in the compute dtype
/// (a bool or index result is returned as it is). `None` when no operand is
/// of a storage dtype or the operands' dtypes differ (the kernel then runs
/// as usual, or reports the mismatch with the caller's dtypes).
pub(crate) fn via_compute<const N: usize>(
    xs: [&Tensor; N],
    ordered: bool,
    kernel: impl FnOnce([&Tensor; N]) -> Result<Tensor>,
) -> Option<Result<Tensor>> {
    let dtype = xs.first()?.dtype();
    if !dtype.is_storage_only() || xs.iter().any(|x| x.dtype() != dtype) {
        return None;
    }
    // (only the kernel call is generic over `kernel`: the widening and the
    // narrowing are compiled once, not once per op; storage dtypes are
    // never the fast path)
    let wide = match widen_all(&xs, ordered) {
        Ok(wide) => wide,
        Err(e) => return Some(Err(e)),
    };
    let y = kernel(std::array::from_fn(|i| &wide[i])).map_err(|e| relabel(e, dtype));
    Some(y.and_then(|y| narrow_back(y, dtype, ordered)))
}

fn widen_all(xs: &[&Tensor], ordered: bool) -> Result<Vec<Tensor>> {
    xs.iter().map(|x| widen(x, ordered)).collect()
}

/// A result in the compute dtype back in `dtype` (a bool or index result
/// as it is).
fn narrow_back(y: Tensor, dtype: DType, ordered: bool) -> Result<Tensor> {
    if y.dtype() == dtype.compute_dtype() {
        narrow(&y, dtype, ordered)
    } else {
        Ok(y)
    }
}

/// For a kernel's storage-dtype arm: `via_compute`'s result as data. The
/// kernel is an op on fresh tensors no tape watches, so it records nothing;
/// the caller records its own op on `xs`.
pub(crate) fn computed<const N: usize>(
    xs: [&Tensor; N],
    ordered: bool,
    kernel: impl FnOnce([&Tensor; N]) -> Result<Tensor>,
) -> Result<Data> {
    let out = via_compute(xs, ordered, kernel).unwrap_or_else(|| {
        Err(Error::invalid(
            "compute",
            "operands not of one storage dtype",
        ))
    })?;
    Ok(out.data().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<T: Element>(t: &Tensor) -> Vec<T> {
        t.array::<T>()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn integer_casts_wrap_and_float_casts_truncate_or_saturate() {
        let ints = Tensor::from_vec(&[5], vec![-129i64, -1, 255, 256, 1 << 40]).unwrap();
        assert_eq!(
            values::<u8>(&convert_dtype(&ints, DType::U8).unwrap()),
            [127, 255, 255, 0, 0]
        );
        assert_eq!(
            values::<i8>(&convert_dtype(&ints, DType::I8).unwrap()),
            [127, -1, -1, 0, 0]
        );
        let floats = Tensor::from_vec(&[5], vec![-1.9f32, 1.9, 300.0, f32::NAN, -1e10]).unwrap();
        assert_eq!(
            values::<u8>(&convert_dtype(&floats, DType::U8).unwrap()),
            [0, 1, 255, 0, 0]
        );
        assert_eq!(
            values::<i16>(&convert_dtype(&floats, DType::I16).unwrap()),
            [-1, 1, 300, 0, -32768]
        );
        let big = Tensor::from_vec(&[2], vec![u64::MAX, 1 << 63]).unwrap();
        assert_eq!(
            values::<i64>(&convert_dtype(&big, DType::I64).unwrap()),
            [-1, i64::MIN]
        );
        assert_eq!(
            values::<f32>(&convert_dtype(&big, DType::F32).unwrap()),
            [1.8446744e19, 9.223372e18]
        );
    }

    #[test]
    fn half_casts_round_to_nearest_even_and_overflow_to_inf() {
        let x = Tensor::from_vec(&[3], vec![65504.0f32, 70000.0, 1.0 + 1.0 / 256.0]).unwrap();
        let h = values::<half::f16>(&convert_dtype(&x, DType::F16).unwrap());
        assert_eq!(h[0].to_f32(), 65504.0);
        assert!(h[1].to_f32().is_infinite());
        let b = values::<half::bf16>(&convert_dtype(&x, DType::BF16).unwrap());
        assert_eq!(b[2].to_f32(), 1.0); // a tie: rounds to the even neighbour
    }

    #[test]
    fn ordered_widening_keeps_uint64_order() {
        let x = Tensor::from_vec(&[2], vec![1u64, u64::MAX]).unwrap();
        let w = widen(&x, true).unwrap();
        let v = values::<i64>(&w);
        assert!(v[0] < v[1]);
        assert_eq!(
            values::<u64>(&narrow(&w, DType::U64, true).unwrap()),
            [1, u64::MAX]
        );
    }
}
