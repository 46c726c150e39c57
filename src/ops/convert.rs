//! Conversions between dtypes, and the compute path of the storage dtypes.
//!
//! A cast goes source → hub → target, with three hubs: int64 (every signed
//! or narrow integer and bool), uint64, and float64 (every float dtype, exactly).
//! That keeps the instantiations at 13 + 3·13 instead of 13² and gives TF's
//! rules in one place:
//! - integer → integer wraps (two's complement truncation, as `static_cast`);
//! - float → integer truncates toward zero; out of range saturates and NaN
//!   gives 0 (TF's result there is whatever the CPU's conversion gives, and
//!   differs between float32 and float64 sources: see docs/compat.md);
//! - anything → float16/bfloat16 goes through float32 and rounds to nearest
//!   even (Eigen's conversion); overflow gives ±inf;
//! - → bool is `!= 0` (NaN is true); bool → number is 0 or 1.
//!
//! complex64/complex128 convert outside the hubs (`convert_complex`): into
//! a complex dtype a real value becomes (v, 0) in the target's precision;
//! out of one, a complex value gives its real part, then the real rules
//! above (TF's `static_cast` of a complex, which discards the imaginary
//! part; → bool too: TF's cast of 1j to bool is false).

use ndarray::ArrayD;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{Data, Element, Tensor};

enum Hub {
    Int(ArrayD<i64>),
    UInt(ArrayD<u64>),
    Float(ArrayD<f64>),
}

fn to_hub(d: &Data) -> Hub {
    match d {
        Data::F32(a) => Hub::Float(a.mapv(f64::from)),
        Data::F64(a) => Hub::Float(a.to_owned()),
        Data::F16(a) => Hub::Float(a.mapv(f64::from)),
        Data::BF16(a) => Hub::Float(a.mapv(f64::from)),
        Data::I32(a) => Hub::Int(a.mapv(i64::from)),
        Data::I64(a) => Hub::Int(a.to_owned()),
        Data::U8(a) => Hub::Int(a.mapv(i64::from)),
        Data::I8(a) => Hub::Int(a.mapv(i64::from)),
        Data::I16(a) => Hub::Int(a.mapv(i64::from)),
        Data::U16(a) => Hub::Int(a.mapv(i64::from)),
        Data::U32(a) => Hub::Int(a.mapv(i64::from)),
        Data::U64(a) => Hub::UInt(a.to_owned()),
        Data::Bool(a) => Hub::Int(a.mapv(i64::from)),
        // (complex sources take `convert_complex` before reaching a hub)
        Data::C64(a) => Hub::Float(a.mapv(|z| f64::from(z.re))),
        Data::C128(a) => Hub::Float(a.mapv(|z| z.re)),
        // (unreached: `convert_dtype` hands strings back unconverted)
        Data::Str(a) => Hub::Int(ArrayD::zeros(a.raw_dim())),
    }
}

/// How a target element type is made from each hub.
trait FromHub: Element {
    fn from_int(v: i64) -> Self;
    fn from_uint(v: u64) -> Self;
    fn from_float(v: f64) -> Self;
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

fn from_hub<T: FromHub>(h: &Hub) -> Data {
    T::wrap(
        match h {
            Hub::Int(a) => a.mapv(T::from_int),
            Hub::UInt(a) => a.mapv(T::from_uint),
            Hub::Float(a) => a.mapv(T::from_float),
        }
        .into_shared(),
    )
}

/// `x`'s values as `dtype`, by TF's cast rules (module doc); not recorded
/// on any tape (`ops::cast` is the differentiable op).
pub fn convert_dtype(x: &Tensor, dtype: DType) -> Tensor {
    // Strings have no numeric value (TF casts neither way; `as_string` and
    // `to_number` format and parse): they come back as they are, and the
    // caller's dtype check refuses them by name.
    if x.dtype() == dtype || x.dtype() == DType::String || dtype == DType::String {
        return x.clone();
    }
    if x.dtype().is_complex() || dtype.is_complex() {
        return convert_complex(x, dtype);
    }
    let h = to_hub(x.data());
    Tensor::from_data(match dtype {
        DType::F32 => from_hub::<f32>(&h),
        DType::F64 => from_hub::<f64>(&h),
        DType::I32 => from_hub::<i32>(&h),
        DType::I64 => from_hub::<i64>(&h),
        DType::Bool => from_hub::<bool>(&h),
        DType::U8 => from_hub::<u8>(&h),
        DType::I8 => from_hub::<i8>(&h),
        DType::I16 => from_hub::<i16>(&h),
        DType::U16 => from_hub::<u16>(&h),
        DType::U32 => from_hub::<u32>(&h),
        DType::U64 => from_hub::<u64>(&h),
        DType::F16 => from_hub::<half::f16>(&h),
        DType::BF16 => from_hub::<half::bf16>(&h),
        DType::C64 | DType::C128 => return convert_complex(x, dtype),
        DType::String => return x.clone(),
    })
}

/// `convert_dtype` where the source or the target is complex (module doc).
fn convert_complex(x: &Tensor, dtype: DType) -> Tensor {
    use num_complex::Complex;
    match (x.data(), dtype) {
        (Data::C64(a), DType::C128) => {
            Tensor::from_array(a.mapv(|z| Complex::new(f64::from(z.re), f64::from(z.im))))
        }
        (Data::C128(a), DType::C64) => {
            Tensor::from_array(a.mapv(|z| Complex::new(z.re as f32, z.im as f32)))
        }
        (Data::C64(a), _) => convert_dtype(&Tensor::from_array(a.mapv(|z| z.re)), dtype),
        (Data::C128(a), _) => convert_dtype(&Tensor::from_array(a.mapv(|z| z.re)), dtype),
        // (the real conversions always give the dtype asked for)
        (_, DType::C64) => {
            let re = convert_dtype(x, DType::F32);
            let z = re.array::<f32>().map(|a| a.mapv(|v| Complex::new(v, 0.0)));
            z.map_or(re, Tensor::from_array)
        }
        _ => {
            let re = convert_dtype(x, DType::F64);
            let z = re.array::<f64>().map(|a| a.mapv(|v| Complex::new(v, 0.0)));
            z.map_or(re, Tensor::from_array)
        }
    }
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
pub(crate) fn widen(x: &Tensor, ordered: bool) -> Tensor {
    match x.data() {
        Data::U64(a) if ordered => Tensor::from_array(a.mapv(|v| (v ^ TOP_BIT) as i64)),
        _ => convert_dtype(x, x.dtype().compute_dtype()),
    }
}

/// The inverse of `widen`: a compute-dtype result back in `dtype`
/// (integers wrap, half precision rounds to nearest even).
pub(crate) fn narrow(y: &Tensor, dtype: DType, ordered: bool) -> Tensor {
    match y.data() {
        Data::I64(a) if ordered && dtype == DType::U64 => {
            Tensor::from_array(a.mapv(|v| v as u64 ^ TOP_BIT))
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
    let wide = xs.map(|x| widen(x, ordered));
    let out = kernel(std::array::from_fn(|i| &wide[i])).map_err(|e| relabel(e, dtype));
    Some(out.map(|y| {
        if y.dtype() == dtype.compute_dtype() {
            narrow(&y, dtype, ordered)
        } else {
            y
        }
    }))
}

/// For a kernel's storage-dtype arm: `via_compute`'s result as data. The
/// kernel is an op on fresh tensors no tape watches, so it records nothing;
/// the caller records its own op on `xs`.
pub(crate) fn computed<const N: usize>(
    xs: [&Tensor; N],
    ordered: bool,
    kernel: impl FnOnce([&Tensor; N]) -> Result<Tensor>,
) -> Result<Data> {
    let out = via_compute(xs, ordered, kernel).unwrap_or_else(|| match xs[0].dtype() {
        DType::String => crate::tensor::strings_unsupported(),
        _ => Err(Error::invalid(
            "compute",
            "operands not of one storage dtype",
        )),
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
            values::<u8>(&convert_dtype(&ints, DType::U8)),
            [127, 255, 255, 0, 0]
        );
        assert_eq!(
            values::<i8>(&convert_dtype(&ints, DType::I8)),
            [127, -1, -1, 0, 0]
        );
        let floats = Tensor::from_vec(&[5], vec![-1.9f32, 1.9, 300.0, f32::NAN, -1e10]).unwrap();
        assert_eq!(
            values::<u8>(&convert_dtype(&floats, DType::U8)),
            [0, 1, 255, 0, 0]
        );
        assert_eq!(
            values::<i16>(&convert_dtype(&floats, DType::I16)),
            [-1, 1, 300, 0, -32768]
        );
        let big = Tensor::from_vec(&[2], vec![u64::MAX, 1 << 63]).unwrap();
        assert_eq!(
            values::<i64>(&convert_dtype(&big, DType::I64)),
            [-1, i64::MIN]
        );
        assert_eq!(
            values::<f32>(&convert_dtype(&big, DType::F32)),
            [1.8446744e19, 9.223372e18]
        );
    }

    #[test]
    fn half_casts_round_to_nearest_even_and_overflow_to_inf() {
        let x = Tensor::from_vec(&[3], vec![65504.0f32, 70000.0, 1.0 + 1.0 / 256.0]).unwrap();
        let h = values::<half::f16>(&convert_dtype(&x, DType::F16));
        assert_eq!(h[0].to_f32(), 65504.0);
        assert!(h[1].to_f32().is_infinite());
        let b = values::<half::bf16>(&convert_dtype(&x, DType::BF16));
        assert_eq!(b[2].to_f32(), 1.0); // a tie: rounds to the even neighbour
    }

    #[test]
    fn ordered_widening_keeps_uint64_order() {
        let x = Tensor::from_vec(&[2], vec![1u64, u64::MAX]).unwrap();
        let w = widen(&x, true);
        let v = values::<i64>(&w);
        assert!(v[0] < v[1]);
        assert_eq!(values::<u64>(&narrow(&w, DType::U64, true)), [1, u64::MAX]);
    }
}
