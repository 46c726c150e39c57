//! TF's dtype inference for Python numbers: the tensor `tf.constant` makes of
//! a Python bool, int or float, or of a rectangular nested list of ints and
//! floats, alone or with the dtype of the other operand as a hint (Python
//! scalars adopt it; a float that would have to become an int is refused),
//! and the dtype a numpy array (or text) becomes under a hint.
//! The bindings only read the Python objects into [`Number`]s.

use crate::dtype::DType;
use crate::ops::{HubValue, scalar_as};
use crate::tensor::Tensor;

/// An exact Python `bool`, `int` (saturated to i128: anything beyond is out
/// of every dtype's range anyway) or `float`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Bool(bool),
    Int(i128),
    Float(f64),
}

/// Why a Python number cannot become a tensor (the binding words the
/// message, naming the value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An int outside int64 (and, without a uint64 hint, outside uint64): a `ValueError`.
    OutOfInt64,
    /// The value cannot take the hinted dtype (a float as an int, a number
    /// as a bool, …): a `TypeError`.
    Cannot(DType),
}

/// The scalar tensor of a Python number given the other operand's dtype:
/// bools stay bool; ints are int32 when they fit, else int64, and take a
/// hinted dtype (the narrow integers wrap, as `tf.constant(300, tf.uint8)`
/// is 44; float16/bfloat16 round to nearest); floats are float32 and take
/// a hinted float or complex dtype only (`tf.constant(1.5, tf.complex64)`).
pub fn scalar(n: Number, hint: Option<DType>) -> Result<Tensor, Refusal> {
    match n {
        Number::Bool(b) => match hint {
            None | Some(DType::Bool) => Ok(Tensor::scalar(b)),
            Some(d) => Err(Refusal::Cannot(d)),
        },
        Number::Int(v) => {
            if let (Some(DType::U64), Ok(v)) = (hint, u64::try_from(v)) {
                return Ok(Tensor::scalar(v));
            }
            let v = i64::try_from(v).map_err(|_| Refusal::OutOfInt64)?;
            match hint {
                None if i32::try_from(v).is_ok() => Ok(Tensor::scalar(v as i32)),
                None | Some(DType::I64) => Ok(Tensor::scalar(v)),
                Some(DType::I32) => i32::try_from(v)
                    .map(Tensor::scalar)
                    .map_err(|_| Refusal::Cannot(DType::I32)),
                Some(DType::F32) => Ok(Tensor::scalar(v as f32)),
                Some(DType::F64) => Ok(Tensor::scalar(v as f64)),
                Some(d @ (DType::Bool | DType::String)) => Err(Refusal::Cannot(d)),
                Some(d) => Ok(scalar_as(HubValue::Int(v), d)),
            }
        }
        Number::Float(v) => match hint {
            None | Some(DType::F32) => Ok(Tensor::scalar(v as f32)),
            Some(DType::F64) => Ok(Tensor::scalar(v)),
            Some(d) if d.is_float() || d.is_complex() => Ok(scalar_as(HubValue::Float(v), d)),
            Some(d) => Err(Refusal::Cannot(d)),
        },
    }
}

/// The tensor of a rectangular nested list of ints and floats (`leaves` in
/// row-major order, `shape` its extents), as numpy-then-TF would make it:
/// floats → float32; ints → int32 when they all fit, else int64; a hinted
/// float dtype (not a storage-only one), or int64/int32 for ints that fit.
/// `None` where those rules do not decide — bools, ints outside int64, a
/// shape the leaves do not fill, another hint — and the numpy path then does.
pub fn nested(shape: &[usize], leaves: &[Number], hint: Option<DType>) -> Option<Tensor> {
    if leaves.len() != shape.iter().product::<usize>() {
        return None;
    }
    let mut any_float = false;
    let mut ints = Vec::new();
    for leaf in leaves {
        match *leaf {
            Number::Float(_) => any_float = true,
            Number::Int(i) => ints.push(i64::try_from(i).ok()?),
            Number::Bool(_) => return None,
        }
    }
    let all_i32 = || ints.iter().all(|&i| i32::try_from(i).is_ok());
    let target = match hint {
        None if any_float => DType::F32,
        None if all_i32() => DType::I32,
        None => DType::I64,
        Some(d) if d.is_float() && !d.is_storage_only() => d,
        Some(DType::I64) if !any_float => DType::I64,
        Some(DType::I32) if !any_float && all_i32() => DType::I32,
        Some(_) => return None,
    };
    let as_f64 = |n: &Number| match *n {
        Number::Float(f) => f,
        Number::Int(i) => i as f64,
        Number::Bool(b) => f64::from(u8::from(b)),
    };
    let t = match target {
        DType::F32 => Tensor::from_vec(shape, leaves.iter().map(|n| as_f64(n) as f32).collect()),
        DType::F64 => Tensor::from_vec(shape, leaves.iter().map(as_f64).collect()),
        DType::I32 => Tensor::from_vec(shape, ints.iter().map(|&i| i as i32).collect()),
        DType::I64 => Tensor::from_vec(shape, ints),
        _ => return None,
    };
    t.ok()
}

/// The dtype a host array becomes: `natural` is numpy's dtype for it and
/// `from_numpy` says whether it was a numpy array or scalar already. A
/// Python list's float64 and int64 are TF's float32, and int32 when
/// `ints_fit_i32()`. A hint is adopted unless a value would be lost (a float
/// as an int, a complex as a real, text as a number) or a list of bools would
/// become floats; numpy's text and object arrays are `String`.
pub fn array(
    natural: DType,
    from_numpy: bool,
    hint: Option<DType>,
    ints_fit_i32: impl FnOnce() -> bool,
) -> Result<DType, Refusal> {
    match hint {
        // a string hint reads anything as text (`_strings._flat_bytes`
        // refuses numbers, as TF); text never becomes a number
        Some(DType::String) => Ok(DType::String),
        Some(d) if natural == DType::String => Err(Refusal::Cannot(d)),
        Some(d) if d.is_int() && natural.is_float() => Err(Refusal::Cannot(d)),
        Some(d) if !d.is_complex() && natural.is_complex() => Err(Refusal::Cannot(d)),
        Some(d) if !from_numpy && d.is_float() && natural == DType::Bool => Err(Refusal::Cannot(d)),
        Some(d) => Ok(d),
        None if from_numpy => Ok(natural),
        None => Ok(match natural {
            DType::F64 => DType::F32,
            DType::I64 if ints_fit_i32() => DType::I32,
            d => d,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Number::{Bool, Float, Int};

    fn dtype_of(r: Result<Tensor, Refusal>) -> Result<DType, Refusal> {
        r.map(|t| t.dtype())
    }

    #[test]
    fn scalars_take_tf_dtypes() {
        assert_eq!(dtype_of(scalar(Bool(true), None)), Ok(DType::Bool));
        assert_eq!(dtype_of(scalar(Int(7), None)), Ok(DType::I32));
        assert_eq!(dtype_of(scalar(Int(1 << 40), None)), Ok(DType::I64));
        assert_eq!(dtype_of(scalar(Float(1.5), None)), Ok(DType::F32));
        assert_eq!(dtype_of(scalar(Int(2), Some(DType::F64))), Ok(DType::F64));
        assert_eq!(
            dtype_of(scalar(Float(2.0), Some(DType::F16))),
            Ok(DType::F16)
        );
        assert_eq!(
            dtype_of(scalar(Float(1.5), Some(DType::C128))),
            Ok(DType::C128)
        );
        assert_eq!(dtype_of(scalar(Int(2), Some(DType::C64))), Ok(DType::C64));
    }

    #[test]
    fn scalars_refuse_what_tf_refuses() {
        let cannot = |d| Err(Refusal::Cannot(d));
        assert_eq!(
            dtype_of(scalar(Float(1.5), Some(DType::I32))),
            cannot(DType::I32)
        );
        assert_eq!(
            dtype_of(scalar(Int(1), Some(DType::Bool))),
            cannot(DType::Bool)
        );
        assert_eq!(
            dtype_of(scalar(Bool(true), Some(DType::F32))),
            cannot(DType::F32)
        );
        assert_eq!(
            dtype_of(scalar(Int(1 << 40), Some(DType::I32))),
            cannot(DType::I32)
        );
        assert_eq!(scalar(Int(1 << 64), None).err(), Some(Refusal::OutOfInt64));
        assert_eq!(
            scalar(Int(i128::MAX), Some(DType::U64)).err(),
            Some(Refusal::OutOfInt64)
        );
    }

    #[test]
    fn text_takes_the_string_dtype_and_never_a_number() {
        use DType::{Bool, F32, I32, String as Text};
        let array_of = |natural, hint| array(natural, false, hint, || true);
        assert_eq!(array_of(Text, None), Ok(Text));
        assert_eq!(array(Text, true, Some(Text), || true), Ok(Text));
        // `tf.constant("1", tf.float32)` and `tf.constant(["a"], tf.int32)`
        assert_eq!(array_of(Text, Some(F32)), Err(Refusal::Cannot(F32)));
        assert_eq!(
            array(Text, true, Some(I32), || true),
            Err(Refusal::Cannot(I32))
        );
        // a string hint reads anything as text: `_flat_bytes` refuses numbers
        assert_eq!(array_of(F32, Some(Text)), Ok(Text));
        assert_eq!(array_of(Bool, Some(Text)), Ok(Text));
        assert_eq!(DType::from_numpy('U', 4), Some(Text));
        assert_eq!(DType::from_numpy('O', 8), Some(Text));
        assert_eq!(
            dtype_of(scalar(Int(1), Some(Text))),
            Err(Refusal::Cannot(Text))
        );
        assert_eq!(
            dtype_of(scalar(Float(1.5), Some(Text))),
            Err(Refusal::Cannot(Text))
        );
    }

    #[test]
    fn ints_wrap_into_narrow_dtypes_and_fill_uint64() {
        let t = scalar(Int(300), Some(DType::U8)).unwrap();
        assert_eq!(t.item_f64(), Some(44.0));
        let big = (1u128 << 64) - 1;
        let t = scalar(Int(big as i128), Some(DType::U64)).unwrap();
        assert_eq!((t.dtype(), t.item_int()), (DType::U64, Some(big as i128)));
        // a negative int under a uint64 hint wraps, as numpy's cast does
        let t = scalar(Int(-1), Some(DType::U64)).unwrap();
        assert_eq!(t.item_int(), Some(u64::MAX as i128));
    }

    #[test]
    fn nested_lists_follow_numpy_then_tf() {
        let ints = [Int(1), Int(2), Int(3), Int(4)];
        let t = nested(&[2, 2], &ints, None).unwrap();
        assert_eq!((t.dtype(), t.shape()), (DType::I32, &[2, 2][..]));
        let wide = [Int(1), Int(1 << 40)];
        assert_eq!(nested(&[2], &wide, None).unwrap().dtype(), DType::I64);
        let mixed = [Int(1), Float(2.5)];
        let t = nested(&[2], &mixed, None).unwrap();
        assert_eq!(t.dtype(), DType::F32);
        assert_eq!(t.array::<f32>().unwrap().as_slice(), Some(&[1.0, 2.5][..]));
        assert_eq!(
            nested(&[2], &mixed, Some(DType::F64)).unwrap().dtype(),
            DType::F64
        );
        assert_eq!(
            nested(&[2], &ints[..2], Some(DType::I64)).unwrap().dtype(),
            DType::I64
        );
    }

    #[test]
    fn nested_lists_leave_the_rest_to_numpy() {
        assert!(nested(&[3], &[Int(1), Int(2)], None).is_none()); // not filled
        assert!(nested(&[2], &[Int(1), Bool(true)], None).is_none());
        assert!(nested(&[1], &[Int(1 << 64)], None).is_none());
        assert!(nested(&[2], &[Int(1), Float(2.0)], Some(DType::I32)).is_none());
        assert!(nested(&[1], &[Int(1 << 40)], Some(DType::I32)).is_none());
        assert!(nested(&[1], &[Float(1.0)], Some(DType::BF16)).is_none());
        assert!(nested(&[1], &[Int(1)], Some(DType::U8)).is_none());
    }
}
