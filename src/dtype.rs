//! Element types. Only float dtypes carry gradients; integer and bool tensors
//! flow through the tape as constants (TF semantics).
//!
//! float32, float64, int32, int64 and bool have kernels of their own. The
//! other dtypes are *storage* dtypes: shape ops move their elements as they
//! are, and arithmetic runs in their `compute_dtype` (the integers in int64,
//! float16/bfloat16 in float32) with the result cast back — integers wrap
//! exactly as TF's do, and a half-precision op rounds once, as Eigen's half
//! arithmetic does on TF's CPU.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    I32,
    I64,
    Bool,
    U8,
    I8,
    I16,
    U16,
    U32,
    U64,
    F16,
    BF16,
    C64,
    C128,
    /// Byte strings (`tf.string`): moved by the shape ops, compared by
    /// `equal`, never computed on or differentiated (see `ops::strings`).
    String,
}

/// Every dtype, in the order `tapegrad.dtypes` lists them.
pub const ALL_DTYPES: [DType; 16] = [
    DType::F32,
    DType::F64,
    DType::I32,
    DType::I64,
    DType::Bool,
    DType::U8,
    DType::I8,
    DType::I16,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::F16,
    DType::BF16,
    DType::C64,
    DType::C128,
    DType::String,
];

impl DType {
    /// This dtype's position in `ALL_DTYPES` (the declaration order; a test
    /// keeps the two in step).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The dtype of a numpy array by its `dtype.kind` and `dtype.itemsize`,
    /// if tapegrad has it (ml_dtypes' bfloat16 is kind 'V', like any
    /// structured type: the caller tells it by name).
    pub fn from_numpy(kind: char, itemsize: usize) -> Option<DType> {
        Some(match (kind, itemsize) {
            ('f', 2) => DType::F16,
            ('f', 4) => DType::F32,
            ('f', 8) => DType::F64,
            ('b', _) => DType::Bool,
            ('i', 1) => DType::I8,
            ('i', 2) => DType::I16,
            ('i', 4) => DType::I32,
            ('i', 8) => DType::I64,
            ('u', 1) => DType::U8,
            ('u', 2) => DType::U16,
            ('u', 4) => DType::U32,
            ('u', 8) => DType::U64,
            ('c', 8) => DType::C64,
            ('c', 16) => DType::C128,
            // text and Python objects: read as strings (`infer::array`)
            ('U' | 'S' | 'O', _) => DType::String,
            _ => return None,
        })
    }

    /// TF's name (`tf.float32.name == "float32"`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::C64 => "complex64",
            DType::C128 => "complex128",
            DType::String => "string",
        }
    }

    /// numpy's name for the dtype: a string tensor's numpy form is an array
    /// of `bytes` objects.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::String => "object",
            other => other.name(),
        }
    }

    /// The spelling TF uses inside kernel error messages ("float", "double", …).
    pub fn kernel_name(self) -> &'static str {
        match self {
            DType::F32 => "float",
            DType::F64 => "double",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "half",
            other => other.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "int32" => DType::I32,
            "int64" => DType::I64,
            "bool" => DType::Bool,
            "uint8" => DType::U8,
            "int8" => DType::I8,
            "int16" => DType::I16,
            "uint16" => DType::U16,
            "uint32" => DType::U32,
            "uint64" => DType::U64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "complex64" => DType::C64,
            "complex128" => DType::C128,
            "string" => DType::String,
            _ => return None,
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::I32
                | DType::I64
                | DType::U8
                | DType::I8
                | DType::I16
                | DType::U16
                | DType::U32
                | DType::U64
        )
    }

    /// complex64 and complex128: their own kernels (`ops::complex`).
    pub fn is_complex(self) -> bool {
        matches!(self, DType::C64 | DType::C128)
    }

    /// The dtypes gradients flow through: floats and complex (TF's
    /// `is_floating or is_complex`).
    pub fn is_differentiable(self) -> bool {
        self.is_float() || self.is_complex()
    }

    /// The dtype of a complex dtype's parts (float32 for complex64); any
    /// other dtype is its own real dtype, as TF's `real_dtype`.
    pub fn real_dtype(self) -> DType {
        match self {
            DType::C64 => DType::F32,
            DType::C128 => DType::F64,
            other => other,
        }
    }

    pub fn is_unsigned(self) -> bool {
        matches!(self, DType::U8 | DType::U16 | DType::U32 | DType::U64)
    }

    pub fn size_of(self) -> usize {
        match self {
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 | DType::C64 => 8,
            DType::C128 => 16,
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 2,
            // one shared pointer per element; the bytes are counted apart
            DType::String => std::mem::size_of::<crate::tensor::Bytes>(),
        }
    }

    /// The dtype arithmetic on this one runs in: itself for the dtypes with
    /// kernels of their own; int64 for the narrow and unsigned integers (every
    /// value fits, and wrapping the int64 result back is exactly the narrow
    /// type's wrapping arithmetic; uint64 keeps its bits, which is exact for
    /// `+ - *` and made order-preserving by `ops::widen` where order matters);
    /// float32 for float16 and bfloat16 (each op rounds once, as TF's CPU
    /// kernels do).
    pub fn compute_dtype(self) -> DType {
        match self {
            DType::U8 | DType::I8 | DType::I16 | DType::U16 | DType::U32 | DType::U64 => DType::I64,
            DType::F16 | DType::BF16 => DType::F32,
            native => native,
        }
    }

    /// True for the dtypes that compute in another (`compute_dtype`).
    pub fn is_storage_only(self) -> bool {
        self.compute_dtype() != self
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}

/// Arithmetic shared by every numeric element type (floats and ints).
pub trait Num:
    Copy
    + Send
    + Sync
    + PartialOrd
    + PartialEq
    + Default
    + fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `self` raised to `e` (integers: the caller rejects negative exponents).
    fn pow(self, e: Self) -> Self;
    /// Only floats can be NaN.
    fn is_nan(self) -> bool;
}

/// Transcendental functions of the float element types. Written out here (not
/// num-traits) so that every function a kernel may call is visible in one place.
pub trait Real: Num {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, e: Self) -> Self;
}

macro_rules! impl_num {
    ($($t:ty: |$b:ident, $e:ident| $pow:expr),*) => {$(
        impl Num for $t {
            const ZERO: Self = 0 as $t;
            const ONE: Self = 1 as $t;
            #[inline(always)]
            fn from_f64(v: f64) -> Self { v as $t }
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn pow(self, e: Self) -> Self {
                let ($b, $e) = (self, e);
                $pow
            }
            #[inline(always)]
            #[allow(clippy::eq_op)] // NaN is the one value unequal to itself
            fn is_nan(self) -> bool { self != self }
        }
    )*};
}
impl_num!(
    // (float32: `fastmath`'s vectorisable pow, ≤ 1 ulp from libm, libm's
    // special values; every path, eager and fused, goes through here)
    f32: |b, e| crate::fastmath::pow_f32(b, e),
    f64: |b, e| b.powf(e),
    // Exponents beyond u32 overflow anyway; wrapping matches TF's kernels.
    i32: |b, e| b.wrapping_pow(e.clamp(0, i32::MAX) as u32),
    i64: |b, e| b.wrapping_pow(e.clamp(0, u32::MAX as i64) as u32)
);

macro_rules! impl_real {
    ($($t:ty: exp = $exp:path, ln = $ln:path, tanh = $tanh:path, powf = $powf:path);*) => {$(
        impl Real for $t {
            #[inline(always)] fn exp(self) -> Self { $exp(self) }
            #[inline(always)] fn ln(self) -> Self { $ln(self) }
            #[inline(always)] fn sin(self) -> Self { <$t>::sin(self) }
            #[inline(always)] fn cos(self) -> Self { <$t>::cos(self) }
            #[inline(always)] fn tanh(self) -> Self { $tanh(self) }
            #[inline(always)] fn sqrt(self) -> Self { <$t>::sqrt(self) }
            #[inline(always)] fn abs(self) -> Self { <$t>::abs(self) }
            #[inline(always)] fn powf(self, e: Self) -> Self { $powf(self, e) }
        }
    )*};
}
// float32's exp, ln, tanh and powf are the vectorisable ones of `fastmath`
// (each within a few ulp of libm, special values exactly libm's); sin and
// cos stay on libm here (`fastmath` has slice versions for the unary ops);
// float64 keeps libm.
impl_real!(
    f32: exp = crate::fastmath::exp_f32, ln = crate::fastmath::ln_f32,
        tanh = crate::fastmath::tanh_f32, powf = crate::fastmath::pow_f32;
    f64: exp = f64::exp, ln = f64::ln, tanh = f64::tanh, powf = f64::powf
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_dtypes_are_listed_in_declaration_order() {
        for (i, d) in ALL_DTYPES.iter().enumerate() {
            assert_eq!(d.index(), i, "{d:?}");
        }
    }
}
