//! Immutable tensors. A `Tensor` is an id plus `Arc`-shared storage: cloning
//! is two word copies and a refcount increment, and a clone keeps the id.
//! Views that only reinterpret the buffer (transpose, reshape of contiguous
//! data, variable reads) share storage under a fresh id.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{check_rank, checked_numel};

pub type TensorId = u64;

/// The hasher of maps and sets keyed by `TensorId`. Ids are distinct
/// counters, so one multiply by 2⁶⁴/φ (Fibonacci hashing) spreads them over
/// the table; SipHash's resistance to chosen keys buys nothing here and was
/// a tenth of the backward pass on small tensors.
#[derive(Clone, Copy, Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type IdMap<V> = std::collections::HashMap<TensorId, V, std::hash::BuildHasherDefault<IdHasher>>;
pub type IdSet = std::collections::HashSet<TensorId, std::hash::BuildHasherDefault<IdHasher>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique id, shared by tensors and variable handles, so that
/// creation order is id order.
pub fn fresh_id() -> TensorId {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// One element of a string tensor: immutable bytes, shared by every tensor
/// that holds them (a gather, broadcast or reshape copies pointers, never
/// the bytes). Not `Copy`, so not an `Element`: the dtype-generic macros
/// below cover the numeric dtypes, and an op that moves strings too names
/// them in its `str` arm (see `ops::strings`).
pub type Bytes = std::sync::Arc<[u8]>;

/// What a dtype-generic macro does with a string tensor when its caller
/// gave no `str` arm: return this error from the enclosing function.
pub fn strings_unsupported<T, E: From<Error>>() -> std::result::Result<T, E> {
    Err(E::from(Error::UnsupportedDType {
        op: "this op",
        dtype: DType::String,
        allowed: "numeric dtypes",
    }))
}

/// Storage for one tensor: an `ArcArray` per dtype. Layouts may be any
/// strides (a transpose is a view); kernels take fast paths for contiguous data.
#[derive(Clone, Debug)]
pub enum Data {
    F32(ArcArray<f32, IxDyn>),
    F64(ArcArray<f64, IxDyn>),
    I32(ArcArray<i32, IxDyn>),
    I64(ArcArray<i64, IxDyn>),
    Bool(ArcArray<bool, IxDyn>),
    U8(ArcArray<u8, IxDyn>),
    I8(ArcArray<i8, IxDyn>),
    I16(ArcArray<i16, IxDyn>),
    U16(ArcArray<u16, IxDyn>),
    U32(ArcArray<u32, IxDyn>),
    U64(ArcArray<u64, IxDyn>),
    F16(ArcArray<half::f16, IxDyn>),
    BF16(ArcArray<half::bf16, IxDyn>),
    C64(ArcArray<num_complex::Complex<f32>, IxDyn>),
    C128(ArcArray<num_complex::Complex<f64>, IxDyn>),
    Str(ArcArray<Bytes, IxDyn>),
}

/// Apply one generic expression to whichever array a `Data` holds; a string
/// tensor takes the `str` arm, or returns `strings_unsupported()` without one.
#[macro_export]
macro_rules! with_data {
    ($data:expr, $a:ident => $body:expr) => {
        $crate::with_data!($data, $a => $body, str _ => return $crate::tensor::strings_unsupported())
    };
    ($data:expr, $a:ident => $body:expr, str $s:pat => $strings:expr) => {
        match $data {
            $crate::tensor::Data::F32($a) => $body,
            $crate::tensor::Data::F64($a) => $body,
            $crate::tensor::Data::I32($a) => $body,
            $crate::tensor::Data::I64($a) => $body,
            $crate::tensor::Data::Bool($a) => $body,
            $crate::tensor::Data::U8($a) => $body,
            $crate::tensor::Data::I8($a) => $body,
            $crate::tensor::Data::I16($a) => $body,
            $crate::tensor::Data::U16($a) => $body,
            $crate::tensor::Data::U32($a) => $body,
            $crate::tensor::Data::U64($a) => $body,
            $crate::tensor::Data::F16($a) => $body,
            $crate::tensor::Data::BF16($a) => $body,
            $crate::tensor::Data::C64($a) => $body,
            $crate::tensor::Data::C128($a) => $body,
            $crate::tensor::Data::Str($s) => $strings,
        }
    };
}

/// Apply one generic expression to the element type of a `DType`, which the
/// body names `$t`; the string dtype takes the `str` arm, or returns
/// `strings_unsupported()` without one.
#[macro_export]
macro_rules! with_dtype {
    (@arms $dtype:expr, $t:ident, $body:expr, $strings:expr; $($v:ident $ty:ty),*) => {
        match $dtype {
            $($crate::dtype::DType::$v => {
                type $t = $ty;
                $body
            })*
            $crate::dtype::DType::String => $strings,
        }
    };
    ($dtype:expr, $t:ident => $body:expr) => {
        $crate::with_dtype!($dtype, $t => $body, str => return $crate::tensor::strings_unsupported())
    };
    ($dtype:expr, $t:ident => $body:expr, str => $strings:expr) => {
        $crate::with_dtype!(@arms $dtype, $t, $body, $strings;
            F32 f32, F64 f64, I32 i32, I64 i64, Bool bool, U8 u8, I8 i8, I16 i16,
            U16 u16, U32 u32, U64 u64, F16 half::f16, BF16 half::bf16,
            C64 num_complex::Complex<f32>, C128 num_complex::Complex<f64>)
    };
}

/// Like `with_data!`, but wraps the array the body returns back into a `Data`
/// of the same dtype (a string tensor: as `with_data!`).
#[macro_export]
macro_rules! map_data {
    // (`@whole`: the string arm's expression is the whole `Data`, so the
    // default `return` is not wrapped in an unreachable `Data::Str(…)`)
    (@whole $data:expr, $a:ident => $body:expr, str $s:pat => $strings:expr) => {
        match $data {
            $crate::tensor::Data::F32($a) => $crate::tensor::Data::F32($body),
            $crate::tensor::Data::F64($a) => $crate::tensor::Data::F64($body),
            $crate::tensor::Data::I32($a) => $crate::tensor::Data::I32($body),
            $crate::tensor::Data::I64($a) => $crate::tensor::Data::I64($body),
            $crate::tensor::Data::Bool($a) => $crate::tensor::Data::Bool($body),
            $crate::tensor::Data::U8($a) => $crate::tensor::Data::U8($body),
            $crate::tensor::Data::I8($a) => $crate::tensor::Data::I8($body),
            $crate::tensor::Data::I16($a) => $crate::tensor::Data::I16($body),
            $crate::tensor::Data::U16($a) => $crate::tensor::Data::U16($body),
            $crate::tensor::Data::U32($a) => $crate::tensor::Data::U32($body),
            $crate::tensor::Data::U64($a) => $crate::tensor::Data::U64($body),
            $crate::tensor::Data::F16($a) => $crate::tensor::Data::F16($body),
            $crate::tensor::Data::BF16($a) => $crate::tensor::Data::BF16($body),
            $crate::tensor::Data::C64($a) => $crate::tensor::Data::C64($body),
            $crate::tensor::Data::C128($a) => $crate::tensor::Data::C128($body),
            $crate::tensor::Data::Str($s) => $strings,
        }
    };
    ($data:expr, $a:ident => $body:expr) => {
        $crate::map_data!(@whole $data, $a => $body,
            str _ => return $crate::tensor::strings_unsupported())
    };
    ($data:expr, $a:ident => $body:expr, str $s:pat => $strings:expr) => {
        $crate::map_data!(@whole $data, $a => $body,
            str $s => $crate::tensor::Data::Str($strings))
    };
}

/// Apply one generic expression to two `Data` of the same dtype, wrapping
/// the array it returns back into that dtype; `$mismatch` when they differ
/// (and for strings, which no `Element`-generic body can take).
#[macro_export]
macro_rules! zip_data {
    ($x:expr, $y:expr, |$p:ident, $q:ident| $body:expr, else $mismatch:expr) => {
        $crate::zip_data!(@arms $x, $y, |$p, $q| $body, $mismatch;
            F32 F64 I32 I64 Bool U8 I8 I16 U16 U32 U64 F16 BF16
            C64 C128)
    };
    (@arms $x:expr, $y:expr, |$p:ident, $q:ident| $body:expr, $mismatch:expr; $($v:ident)*) => {
        match ($x, $y) {
            $(($crate::tensor::Data::$v($p), $crate::tensor::Data::$v($q)) => {
                $crate::tensor::Data::$v($body)
            })*
            _ => $mismatch,
        }
    };
}

/// Element types a tensor can hold, with the conversions into and out of `Data`.
pub trait Element: Copy + Send + Sync + Default + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn wrap(a: ArcArray<Self, IxDyn>) -> Data;
    fn view(d: &Data) -> Option<&ArcArray<Self, IxDyn>>;
}

macro_rules! impl_element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn wrap(a: ArcArray<Self, IxDyn>) -> Data {
                Data::$variant(a)
            }
            fn view(d: &Data) -> Option<&ArcArray<Self, IxDyn>> {
                match d {
                    Data::$variant(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}
impl_element!(f32, F32);
impl_element!(f64, F64);
impl_element!(i32, I32);
impl_element!(i64, I64);
impl_element!(bool, Bool);
impl_element!(u8, U8);
impl_element!(i8, I8);
impl_element!(i16, I16);
impl_element!(u16, U16);
impl_element!(u32, U32);
impl_element!(u64, U64);
impl_element!(half::f16, F16);
impl_element!(half::bf16, BF16);
impl_element!(num_complex::Complex<f32>, C64);
impl_element!(num_complex::Complex<f64>, C128);

impl Data {
    pub fn dtype(&self) -> DType {
        fn of<T: Element>(_: &ArcArray<T, IxDyn>) -> DType {
            T::DTYPE
        }
        with_data!(self, a => of(a), str _ => DType::String)
    }

    pub fn shape(&self) -> &[usize] {
        with_data!(self, a => a.shape(), str a => a.shape())
    }
}

#[derive(Clone, Debug)]
pub struct Tensor {
    id: TensorId,
    data: Data,
}

/// The memory a tensor's storage spans: views of one allocation (a
/// transpose, a contiguous reshape, a variable read) share `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Buffer {
    /// The lowest address any element occupies.
    pub start: usize,
    pub bytes: usize,
}

fn span_of<T>(a: &ArcArray<T, IxDyn>) -> Buffer {
    let size = std::mem::size_of::<T>();
    let base = a.as_ptr() as usize;
    if a.is_empty() {
        return Buffer {
            start: base,
            bytes: 0,
        };
    }
    // Element (i0, i1, …) sits at base + Σ ik·stride_k (in elements); with
    // negative strides the logical first element is not the lowest one.
    let (mut below, mut above) = (0isize, 0isize);
    for (&d, &s) in a.shape().iter().zip(a.strides()) {
        let reach = (d as isize - 1) * s;
        if reach < 0 {
            below += reach;
        } else {
            above += reach;
        }
    }
    Buffer {
        start: base.wrapping_add_signed(below * size as isize),
        bytes: (above - below) as usize * size + size,
    }
}

impl Tensor {
    pub fn from_data(data: Data) -> Tensor {
        Tensor {
            id: fresh_id(),
            data,
        }
    }

    pub fn from_array<T: Element>(a: ArrayD<T>) -> Tensor {
        Tensor::from_data(T::wrap(a.into_shared()))
    }

    /// A tensor from a flat buffer in row-major order.
    pub fn from_vec<T: Element>(shape: &[usize], v: Vec<T>) -> Result<Tensor> {
        let a = ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|_| {
            Error::invalid(
                "constant",
                format!("{} values do not fill shape {:?}", "given", shape),
            )
        })?;
        Ok(Tensor::from_array(a))
    }

    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A 0-d tensor of `dtype` holding `v` (cast as numpy casts).
    pub fn scalar_of(dtype: DType, v: f64) -> Tensor {
        match dtype {
            DType::F32 => Tensor::scalar(v as f32),
            DType::F64 => Tensor::scalar(v),
            DType::I32 => Tensor::scalar(v as i32),
            DType::I64 => Tensor::scalar(v as i64),
            DType::Bool => Tensor::scalar(v != 0.0),
            other => crate::ops::scalar_as(crate::ops::HubValue::Float(v), other),
        }
    }

    /// A tensor of `shape` filled with `v`; refuses absurd sizes instead of aborting.
    pub fn full(op: &'static str, dtype: DType, shape: &[usize], v: f64) -> Result<Tensor> {
        check_alloc(op, dtype, shape)?;
        use crate::alloc::try_full;
        Ok(Tensor::from_data(match dtype {
            DType::F32 => Data::F32(try_full(op, shape, v as f32)?),
            DType::F64 => Data::F64(try_full(op, shape, v)?),
            DType::I32 => Data::I32(try_full(op, shape, v as i32)?),
            DType::I64 => Data::I64(try_full(op, shape, v as i64)?),
            DType::Bool => Data::Bool(try_full(op, shape, v != 0.0)?),
            // the zero of a string tensor is b"" (TF's `zeros(…, tf.string)`);
            // no other number is a string
            DType::String if v == 0.0 => {
                Data::Str(ArcArray::from_elem(IxDyn(shape), Bytes::from(&[][..])))
            }
            DType::String => {
                return Err(Error::UnsupportedDType {
                    op,
                    dtype: DType::String,
                    allowed: "numbers (a string tensor fills with b\"\" only: tf.zeros, or tf.fill with a string)",
                });
            }
            // the value converted once (the cast rules of `convert_dtype`),
            // then filled in its own dtype: no full-size temporary
            other => {
                let element = crate::ops::scalar_as(crate::ops::HubValue::Float(v), other);
                crate::map_data!(element.data(), a => {
                    try_full(op, shape, a.iter().next().copied().unwrap_or_default())?
                })
            }
        }))
    }

    pub fn id(&self) -> TensorId {
        self.id
    }

    /// The storage, by value: unshared storage stays unshared, so writing
    /// into it copies nothing.
    pub fn into_data(self) -> Data {
        self.data
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    pub fn rank(&self) -> usize {
        self.shape().len()
    }

    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// The same storage under a new id: what reading a variable or `identity`
    /// returns, so the tape can tell the two apart.
    pub fn with_fresh_id(&self) -> Tensor {
        Tensor::from_data(self.data.clone())
    }

    /// `self`'s storage under an existing id. Only for a value computed again,
    /// bitwise, from the inputs that first made the tensor `id` names (a
    /// saved activation remade by the backward pass): an id names one value.
    pub(crate) fn with_id(self, id: TensorId) -> Tensor {
        Tensor {
            id,
            data: self.data,
        }
    }

    /// The memory this tensor's storage spans (shared by its views).
    pub fn buffer(&self) -> Buffer {
        with_data!(&self.data, a => span_of(a), str a => span_of(a))
    }

    pub fn meta(&self) -> TensorMeta {
        TensorMeta {
            id: self.id,
            dtype: self.dtype(),
            shape: self.shape().into(),
        }
    }

    /// Mutate the storage, then take a fresh id (the value changed, so the
    /// old id no longer names it). Immutability holds through ndarray's
    /// copy-on-write: every mutable access to an `ArcArray` (`as_slice_mut`,
    /// `iter_mut`, …) first copies a buffer that another tensor still shares.
    pub(crate) fn rewrite<R>(&mut self, f: impl FnOnce(&mut Data) -> R) -> R {
        let out = f(&mut self.data);
        self.id = fresh_id();
        out
    }

    /// Typed view of the storage, if the dtype matches.
    pub fn array<T: Element>(&self) -> Option<&ArcArray<T, IxDyn>> {
        T::view(&self.data)
    }

    /// The single element of a size-1 tensor as f64 (used for `bool()`,
    /// `float()` and Python control flow).
    pub fn item_f64(&self) -> Option<f64> {
        if self.numel() != 1 {
            return None;
        }
        Some(match &self.data {
            Data::F32(a) => a.iter().next().copied()? as f64,
            Data::F64(a) => *a.iter().next()?,
            Data::I32(a) => *a.iter().next()? as f64,
            Data::I64(a) => *a.iter().next()? as f64,
            Data::Bool(a) => *a.iter().next()? as u8 as f64,
            Data::Str(_) => return None,
            _ => *crate::ops::convert_dtype(self, DType::F64)
                .ok()?
                .array::<f64>()?
                .iter()
                .next()?,
        })
    }
}

impl Tensor {
    /// Python's truth of a size-1 tensor: nonzero (NaN is true); a complex
    /// value when either part is nonzero (numpy's rule, which TF's `bool()`
    /// follows, though its cast of 1j to bool is false).
    pub fn item_truth(&self) -> Option<bool> {
        let nonzero = |re: f64, im: f64| re != 0.0 || im != 0.0;
        match &self.data {
            Data::C64(a) if a.len() == 1 => {
                a.iter().next().map(|z| nonzero(z.re.into(), z.im.into()))
            }
            Data::C128(a) if a.len() == 1 => a.iter().next().map(|z| nonzero(z.re, z.im)),
            // a string is true when it is not empty (numpy's and so TF's `bool()`)
            Data::Str(a) if a.len() == 1 => a.iter().next().map(|b| !b.is_empty()),
            _ => self.item_f64().map(|v| v != 0.0),
        }
    }

    /// The single element of a size-1 integer or bool tensor, exactly (an
    /// int64 or uint64 through f64 would round above 2⁵³); `None` for floats.
    pub fn item_int(&self) -> Option<i128> {
        if self.numel() != 1 {
            return None;
        }
        fn first<T: Copy + Into<i128>>(a: &ArcArray<T, IxDyn>) -> Option<i128> {
            a.iter().next().map(|&v| v.into())
        }
        match &self.data {
            Data::I32(a) => first(a),
            Data::I64(a) => first(a),
            Data::U8(a) => first(a),
            Data::I8(a) => first(a),
            Data::I16(a) => first(a),
            Data::U16(a) => first(a),
            Data::U32(a) => first(a),
            Data::U64(a) => first(a),
            Data::Bool(a) => a.iter().next().map(|&b| i128::from(b)),
            Data::F32(_) | Data::F64(_) | Data::F16(_) | Data::BF16(_) => None,
            Data::C64(_) | Data::C128(_) | Data::Str(_) => None,
        }
    }
}

/// What the tape remembers about a tensor without keeping its storage alive.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorMeta {
    pub id: TensorId,
    pub dtype: DType,
    pub shape: crate::shape::Dims,
}

/// Refuse allocations that would overflow or that this machine could never
/// hold, so that Python sees `ResourceExhaustedError` instead of an abort
/// (Rust aborts the process when an allocation fails), and ranks above
/// `MAX_RANK`. Every op checks its output shape here before allocating.
/// A large size is also probed (`alloc::can_allocate`): it must be
/// allocatable right now, not only fit the machine (other tensors, an
/// address-space limit); the kernels' own buffers are fallible too.
pub fn check_alloc(op: &'static str, dtype: DType, shape: &[usize]) -> Result<()> {
    check_shape(op, dtype, shape, true)
}

/// `check_alloc`, with the probe only when `probe` (an op that may share
/// its input's storage, a reshape, checks the size without allocating).
pub fn check_shape(op: &'static str, dtype: DType, shape: &[usize], probe: bool) -> Result<()> {
    check_rank(op, shape.len())?;
    let bytes = checked_numel(shape)
        .map(|n| n as u128 * dtype.size_of() as u128)
        .unwrap_or(u128::MAX);
    // ndarray also refuses shapes whose non-zero extents overflow isize, even
    // when another extent is 0 (`[2^40, 0, 2^40]`): refuse those too
    let extents: u128 = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(dtype.size_of() as u128, |acc, &d| {
            acc.checked_mul(d as u128)
        })
        .unwrap_or(u128::MAX);
    if bytes > allocation_limit()
        || extents > isize::MAX as u128
        || (probe && !crate::alloc::can_allocate(bytes))
    {
        return Err(Error::ResourceExhausted {
            op,
            shape: shape.to_vec(),
            bytes,
        });
    }
    Ok(())
}

/// The most memory this process may use: the least of the machine's
/// physical memory (`MemTotal`), its cgroup's limit (`memory.max`: a
/// container) and its address-space limit (`ulimit -v`), read once on
/// Linux; 2^46 bytes where none can be read; never above `isize::MAX`, the
/// hard limit of a Rust allocation.
fn allocation_limit() -> u128 {
    static LIMIT: OnceLock<u128> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let number = |v: &str| v.trim().parse::<u128>().ok();
        let mem_total = read("/proc/meminfo").and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| number(v.trim().trim_end_matches("kB")))
                .map(|kib| kib * 1024)
        });
        // "max" (no limit) does not parse
        let cgroup = read("/sys/fs/cgroup/memory.max").and_then(|v| number(&v));
        // "Max address space  <soft> <hard> bytes", "unlimited" not parsing
        let address_space = read("/proc/self/limits").and_then(|l| {
            l.lines()
                .find_map(|l| l.strip_prefix("Max address space"))
                .and_then(|v| v.split_whitespace().next().and_then(number))
        });
        [mem_total, cgroup, address_space]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(1 << 46)
            .min(isize::MAX as u128)
    })
}
