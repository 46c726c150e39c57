//! Elementwise ops of two broadcastable tensors of one dtype. A VJP returns
//! gradients in the broadcast output shape; the backward traversal sums them
//! back down to each input's shape.

use crate::dtype::{DType, Num, Real};
use crate::error::{Error, Result};
use crate::kernels;
use crate::ops::convert::{narrow, via_compute, widen};
use crate::ops::{OpFn, OpInfo, cast, same_dtype, zeros};
use crate::shape::broadcast_output;
use crate::tape;
use crate::tensor::{Bytes, Data, Tensor};

pub(crate) trait NumFn2 {
    fn f<T: Num>(p: T, q: T) -> T;
}

pub(crate) trait RealFn2 {
    fn f<T: Real>(p: T, q: T) -> T;
}

// The scalar functions go to the kernels as `#[inline(always)]` closures
// (`num_fn`, `real_fn`), not as fn items: a fn item is called through an
// `Fn::call` shim that LLVM leaves out of line when the body is large
// (float32 `pow`), and the loop then makes one scalar call per element
// instead of vectorising.
#[inline(always)]
fn num_fn<F: NumFn2, T: Num>() -> impl Fn(T, T) -> T + Send + Sync {
    #[inline(always)]
    |p, q| F::f::<T>(p, q)
}

#[inline(always)]
fn real_fn<F: RealFn2, T: Real>() -> impl Fn(T, T) -> T + Send + Sync {
    #[inline(always)]
    |p, q| F::f::<T>(p, q)
}

pub(crate) fn apply_num2<F: NumFn2>(op: &'static str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    // (uint64 needs its order kept only by the two ops that compare)
    let ordered = matches!(op, "Maximum" | "Minimum");
    if let Some(out) = via_compute([a, b], ordered, |[a, b]| apply_num2::<F>(op, a, b)) {
        return out;
    }
    same_dtype(op, a, b)?;
    let s = broadcast_output(op, a.dtype(), a.shape(), b.shape())?;
    Ok(Tensor::from_data(match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => Data::F32(kernels::zip(x, y, &s, num_fn::<F, f32>())?),
        (Data::F64(x), Data::F64(y)) => Data::F64(kernels::zip(x, y, &s, num_fn::<F, f64>())?),
        (Data::I32(x), Data::I32(y)) => Data::I32(kernels::zip(x, y, &s, num_fn::<F, i32>())?),
        (Data::I64(x), Data::I64(y)) => Data::I64(kernels::zip(x, y, &s, num_fn::<F, i64>())?),
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: a.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
    }))
}

pub(crate) fn apply_real2<F: RealFn2>(op: &'static str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if let Some(out) = via_compute([a, b], false, |[a, b]| apply_real2::<F>(op, a, b)) {
        return out;
    }
    same_dtype(op, a, b)?;
    let s = broadcast_output(op, a.dtype(), a.shape(), b.shape())?;
    Ok(Tensor::from_data(match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => Data::F32(kernels::zip(x, y, &s, real_fn::<F, f32>())?),
        (Data::F64(x), Data::F64(y)) => Data::F64(kernels::zip(x, y, &s, real_fn::<F, f64>())?),
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: a.dtype(),
                allowed: "float32, float64",
            });
        }
    }))
}

macro_rules! binary_ops {
    (@forward numeric, $tf:literal, $a:ident, $b:ident, |$p:ident, $q:ident| $fwd:expr) => {{
        struct Forward;
        impl NumFn2 for Forward {
            #[inline(always)]
            fn f<T: Num>($p: T, $q: T) -> T {
                $fwd
            }
        }
        apply_num2::<Forward>($tf, $a, $b)
    }};
    (@forward float, $tf:literal, $a:ident, $b:ident, |$p:ident, $q:ident| $fwd:expr) => {{
        struct Forward;
        impl RealFn2 for Forward {
            #[inline(always)]
            fn f<T: Real>($p: T, $q: T) -> T {
                $fwd
            }
        }
        apply_real2::<Forward>($tf, $a, $b)
    }};

    (@forward bool, $tf:literal, $a:ident, $b:ident, |$p:ident, $q:ident| $fwd:expr) => {{
        fn forward($p: bool, $q: bool) -> bool {
            $fwd
        }
        apply_bool2($tf, $a, $b, forward)
    }};

    (@diff nondiff) => {
        false
    };
    (@diff $($t:tt)*) => {
        true
    };

    (@record $name:ident $tf:literal, $a:ident, $b:ident, $out:ident, [nondiff]) => {};
    (@record $name:ident $tf:literal, $a:ident, $b:ident, $out:ident,
        [saves($($save:ident),*) $g:ident: $ga:expr, $gb:expr]) => {
        // (each rule names every save; `let _` marks the ones it leaves unused)
        tape::record_rule($tf, &[$a, $b], &$out, [$(&$save),*], || (), [
            Some(|$g, [$($save),*], _| {
                $(let _ = $save;)*
                $ga
            }),
            Some(|$g, [$($save),*], _| {
                $(let _ = $save;)*
                $gb
            }),
        ])
    };

    // Each operand's gradient needs only its partner: save an operand only
    // when the other one may get a gradient, so `y * 0.5` keeps 0.5, never
    // `y` (a constant, or any input no tape watches, gets no gradient).
    //
    // A later op that saves this product may remake it instead of keeping
    // it (`tape::record_remakeable`).
    (@record $name:ident $tf:literal, $a:ident, $b:ident, $out:ident,
        [saves_partner $g:ident: $ga:expr, $gb:expr]) => {
        match (tape::may_need_gradient($a), tape::may_need_gradient($b)) {
            (true, false) => tape::record_remakeable($tf, [$a, $b], &$out, [$b], tape::Remake::Binary($name), [
                Some(|$g, [$b], _| $ga),
                None,
            ]),
            (false, true) => tape::record_remakeable($tf, [$a, $b], &$out, [$a], tape::Remake::Binary($name), [
                None,
                Some(|$g, [$a], _| $gb),
            ]),
            _ => tape::record_remakeable($tf, [$a, $b], &$out, [$a, $b], tape::Remake::Binary($name), [
                Some(|$g, [$a, $b], _| {
                    let _ = $a;
                    $ga
                }),
                Some(|$g, [$a, $b], _| {
                    let _ = $b;
                    $gb
                }),
            ]),
        }
    };

    // The operand and output names the rows' VJPs refer to are declared once.
    (($a:ident, $b:ident) -> $out:ident;
     $(
        $(#[doc = $doc:literal])*
        $name:ident $tf:literal $kind:ident $domain:ident |$p:ident, $q:ident| $fwd:expr
            => [$($vjp:tt)*];
     )*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name($a: &Tensor, $b: &Tensor) -> Result<Tensor> {
                if let Some(out) = crate::ops::complex::binary($tf, $a, $b) {
                    return out;
                }
                if let Some(out) = crate::ops::strings::binary($tf, $a, $b) {
                    return out;
                }
                let $out = binary_ops!(@forward $kind, $tf, $a, $b, |$p, $q| $fwd)?;
                crate::trace::note_op($tf, &[$a, $b], &$out);
                binary_ops!(@record $name $tf, $a, $b, $out, [$($vjp)*]);
                Ok($out)
            }
        )*

        pub(crate) const BINARY_OPS: &[OpInfo] = &[$(OpInfo {
            name: stringify!($name),
            arity: 2,
            differentiable: binary_ops!(@diff $($vjp)*),
            domain: stringify!($domain),
            dtypes: stringify!($kind),
            doc: concat!($($doc, "\n",)* ""),
            kernel: OpFn::Binary($name),
        }),*];
    };
}

binary_ops! {
    (a, b) -> out;
    /// a + b elementwise with broadcasting; both operands must share a dtype (TF never promotes).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.add(tf.constant([1, 2]), tf.constant([10, 20])))
    ///     tapegrad.Tensor([11 22], shape=(2,), dtype=int32)
    add "AddV2" numeric real |p, q| p + q => [saves() g: Ok(g.clone()), Ok(g.clone())];
    /// a − b elementwise with broadcasting; d/db = −g.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.subtract(tf.constant([[5.0], [7.0]]), tf.constant([1.0, 2.0])))
    ///     tapegrad.Tensor(
    ///     [[4. 3.]
    ///      [6. 5.]], shape=(2, 2), dtype=float32)
    subtract "Sub" numeric real |p, q| p - q => [saves() g: Ok(g.clone()), g.neg()];
    /// a · b elementwise with broadcasting; d/da = g·b, d/db = g·a.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.multiply(tf.constant([1.0, 2.0]), 3.0))
    ///     tapegrad.Tensor([3. 6.], shape=(2,), dtype=float32)
    multiply "Mul" numeric real |p, q| p * q => [saves_partner g: g.mul(b), g.mul(a)];
    /// d(a/b)/db = −a/b² = −(a/b)/b, read from the output.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.divide(tf.constant([1.0, 3.0]), tf.constant([2.0, 4.0])))
    ///     tapegrad.Tensor([0.5  0.75], shape=(2,), dtype=float32)
    divide "RealDiv" float real |p, q| p / q => [saves(b, out) g: g.div(b), g.mul(out)?.div(b)?.neg()];
    /// NaN propagates; on ties the gradient goes to `a` (TF's convention).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.maximum(tf.constant([1, 5, 3]), tf.constant([4, 2, 3])))
    ///     tapegrad.Tensor([4 5 3], shape=(3,), dtype=int32)
    maximum "Maximum" numeric real |p, q| if p >= q || p.is_nan() { p } else { q }
        => [saves(a, b) g: route(&greater_equal(a, b)?, g, true), route(&greater_equal(a, b)?, g, false)];
    /// NaN propagates; on ties the gradient goes to `a`.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.minimum(tf.constant([1, 5, 3]), tf.constant([4, 2, 3])))
    ///     tapegrad.Tensor([1 2 3], shape=(3,), dtype=int32)
    minimum "Minimum" numeric real |p, q| if p <= q || p.is_nan() { p } else { q }
        => [saves(a, b) g: route(&less_equal(a, b)?, g, true), route(&less_equal(a, b)?, g, false)];
    /// (a − b)²; d/da = 2(a − b)·g = −d/db.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.squared_difference(tf.constant([1.0, 5.0]), tf.constant([3.0, 5.0])))
    ///     tapegrad.Tensor([4. 0.], shape=(2,), dtype=float32)
    squared_difference "SquaredDifference" numeric real |p, q| (p - q) * (p - q)
        => [saves(a, b) g: g.mul(&a.sub(b)?)?.scale(2.0), g.mul(&a.sub(b)?)?.scale(-2.0)];
    /// TF's TanhGrad, the VJP of tanh in one pass: a = y = tanh(x), b = g,
    /// out = g·(1 − y²); d/dy = −2·y·g, d/dg = 1 − y².
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> tanh_grad = tf._core.ops['tanh_grad']
    ///     >>> print(tanh_grad(tf.constant([0.0, 0.5]), tf.constant([1.0, 2.0])))
    ///     tapegrad.Tensor([1.  1.5], shape=(2,), dtype=float32)
    tanh_grad "TanhGrad" float real |p, q| q * (T::ONE - p * p)
        => [saves(a, b) g: g.mul(b)?.mul(a)?.scale(-2.0), tanh_grad(a, g)];
    /// TF's SigmoidGrad, the VJP of sigmoid in one pass: a = y = σ(x),
    /// b = g, out = g·y(1 − y); d/dy = g·(1 − 2y), d/dg = y(1 − y).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> sigmoid_grad = tf._core.ops['sigmoid_grad']
    ///     >>> print(sigmoid_grad(tf.constant([0.5, 0.25]), tf.constant([1.0, 2.0])))
    ///     tapegrad.Tensor([0.25  0.375], shape=(2,), dtype=float32)
    sigmoid_grad "SigmoidGrad" float real |p, q| q * (p * (T::ONE - p))
        => [saves(a, b) g: g.mul(b)?.mul(&Tensor::scalar_of(a.dtype(), 1.0).sub(&a.scale(2.0)?)?),
            sigmoid_grad(a, g)];
    /// Elementwise and of two bool tensors, with broadcasting.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.logical_and(tf.constant([True, True, False]), tf.constant([True, False, False])))
    ///     tapegrad.Tensor([ True False False], shape=(3,), dtype=bool)
    logical_and "LogicalAnd" bool real |p, q| p && q => [nondiff];
    /// Elementwise or of two bool tensors, with broadcasting.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.logical_or(tf.constant([True, True, False]), tf.constant([True, False, False])))
    ///     tapegrad.Tensor([ True  True False], shape=(3,), dtype=bool)
    logical_or "LogicalOr" bool real |p, q| p || q => [nondiff];
}

fn apply_bool2(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    f: fn(bool, bool) -> bool,
) -> Result<Tensor> {
    let s = broadcast_output(op, DType::Bool, a.shape(), b.shape())?;
    match (a.data(), b.data()) {
        (Data::Bool(x), Data::Bool(y)) => {
            Ok(Tensor::from_data(Data::Bool(kernels::zip(x, y, &s, f)?)))
        }
        _ => Err(Error::UnsupportedDType {
            op,
            dtype: if a.dtype() == DType::Bool {
                b.dtype()
            } else {
                a.dtype()
            },
            allowed: "bool",
        }),
    }
}

/// Floor division and its remainder for one element type. Integer division
/// by zero is refused by the caller.
trait FloorDiv: Copy {
    fn floor_div(self, q: Self) -> Self;
    fn floor_mod(self, q: Self) -> Self;
}

macro_rules! impl_floor_div {
    (float: $($f:ty),*; int: $($i:ty),*) => {
        $(impl FloorDiv for $f {
            fn floor_div(self, q: Self) -> Self {
                (self / q).floor()
            }
            // numpy's and TF's remainder takes the divisor's sign
            fn floor_mod(self, q: Self) -> Self {
                let r = self % q;
                if r != 0.0 && ((r < 0.0) != (q < 0.0)) { r + q } else { r }
            }
        })*
        $(impl FloorDiv for $i {
            fn floor_div(self, q: Self) -> Self {
                let d = self.wrapping_div(q);
                if self.wrapping_rem(q) != 0 && ((self < 0) != (q < 0)) { d - 1 } else { d }
            }
            fn floor_mod(self, q: Self) -> Self {
                let r = self.wrapping_rem(q);
                if r != 0 && ((r < 0) != (q < 0)) { r + q } else { r }
            }
        })*
    };
}
impl_floor_div!(float: f32, f64; int: i32, i64);

fn floor_kernel(op: &'static str, a: &Tensor, b: &Tensor, rem: bool) -> Result<Tensor> {
    if let Some(out) = via_compute([a, b], false, |[a, b]| floor_kernel(op, a, b, rem)) {
        return out;
    }
    same_dtype(op, a, b)?;
    let s = broadcast_output(op, a.dtype(), a.shape(), b.shape())?;
    fn go<T: FloorDiv + Send + Sync + Clone>(
        x: &ndarray::ArcArray<T, ndarray::IxDyn>,
        y: &ndarray::ArcArray<T, ndarray::IxDyn>,
        s: &[usize],
        rem: bool,
    ) -> Result<ndarray::ArcArray<T, ndarray::IxDyn>> {
        if rem {
            kernels::zip(x, y, s, |p: T, q: T| p.floor_mod(q))
        } else {
            kernels::zip(x, y, s, |p: T, q: T| p.floor_div(q))
        }
    }
    let zero_divisor = match b.data() {
        Data::I32(y) => y.iter().any(|&v| v == 0),
        Data::I64(y) => y.iter().any(|&v| v == 0),
        _ => false,
    };
    if zero_divisor {
        return Err(Error::invalid(op, "Integer division by zero"));
    }
    Ok(Tensor::from_data(match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => Data::F32(go(x, y, &s, rem)?),
        (Data::F64(x), Data::F64(y)) => Data::F64(go(x, y, &s, rem)?),
        (Data::I32(x), Data::I32(y)) => Data::I32(go(x, y, &s, rem)?),
        (Data::I64(x), Data::I64(y)) => Data::I64(go(x, y, &s, rem)?),
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: a.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
    }))
}

/// ⌊a / b⌋ (Python's `//`); not differentiable, as in TF.
pub fn floordiv(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    floor_kernel("FloorDiv", a, b, false)
}

/// Python's `/` on tensors: `divide`, except that two integer operands of
/// one dtype are divided as float: float32 for the 8- and 16-bit integers,
/// float64 for the 32- and 64-bit ones, as in TF.
pub fn truediv(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dtype().is_int() && a.dtype() == b.dtype() {
        let float = if a.dtype().size_of() <= 2 {
            DType::F32
        } else {
            DType::F64
        };
        return divide(&cast(a, float)?, &cast(b, float)?);
    }
    divide(a, b)
}

/// x / y, and exactly 0 where y = 0 (whatever x is: 0, inf, NaN), as TF's
/// `DivNoNan`; integers divide as `truediv` does. The quotient divides by 1
/// where y = 0, so no derivative meets the 0/0 that a mask applied after
/// the fact would still differentiate: d/dx = 1/y, d/dy = −x/y², both 0
/// where y = 0.
pub fn divide_no_nan(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let op = "DivNoNan";
    let at_zero = equal(y, &Tensor::full(op, y.dtype(), &[], 0.0)?)?;
    let safe = where_(&at_zero, &Tensor::full(op, y.dtype(), &[], 1.0)?, y)?;
    let quotient = truediv(x, &safe)?;
    where_(
        &at_zero,
        &Tensor::full(op, quotient.dtype(), &[], 0.0)?,
        &quotient,
    )
}

/// a − b·⌊a / b⌋ (Python's `%`, the sign of `b`); d/da = g, d/db = −⌊a/b⌋·g.
pub fn floormod(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "FloorMod";
    let out = floor_kernel(op, a, b, true)?;
    tape::record_rule(
        op,
        &[a, b],
        &out,
        [a, b],
        || (),
        [
            Some(|g, _, _| Ok(g.clone())),
            Some(|g, [a, b], _| g.mul(&floordiv(a, b)?)?.neg()),
        ],
    );
    Ok(out)
}

pub(crate) const FLOOR_OPS: &[OpInfo] = &[
    OpInfo {
        name: "floordiv",
        arity: 2,
        differentiable: false,
        domain: "real",
        dtypes: "numeric",
        doc: "⌊x / y⌋ elementwise (Python's `//`); integer division by zero is an error.\n\nExample:\n    >>> import tapegrad as tf\n    >>> print(tf.math.floordiv(tf.constant([7, -7]), tf.constant([2, 2])))\n    tapegrad.Tensor([ 3 -4], shape=(2,), dtype=int32)",
        kernel: OpFn::Binary(floordiv),
    },
    OpInfo {
        name: "floormod",
        arity: 2,
        differentiable: true,
        domain: "real",
        dtypes: "numeric",
        doc: "x − y·⌊x / y⌋ elementwise (Python's `%`: the result has the sign of y).\n\nExample:\n    >>> import tapegrad as tf\n    >>> print(tf.math.floormod(tf.constant([7, -7]), tf.constant([3, 3])))\n    tapegrad.Tensor([1 2], shape=(2,), dtype=int32)",
        kernel: OpFn::Binary(floormod),
    },
];

/// `t` clipped to `[lo, hi]`, as TF composes it: `maximum(minimum(t, hi), lo)`,
/// so at a bound the gradient still flows to `t`.
pub fn clip_by_value(t: &Tensor, lo: &Tensor, hi: &Tensor) -> Result<Tensor> {
    // checked before computing: enlarging bounds could ask for a huge output
    let enlarged = |bound: &Tensor| {
        crate::shape::broadcast_shapes("clip_by_value", t.shape(), bound.shape())
            .is_ok_and(|s| s != t.shape())
    };
    if enlarged(lo) || enlarged(hi) {
        return Err(Error::invalid(
            "clip_by_value",
            format!(
                "the clip bounds (shapes {:?} and {:?}) may not enlarge the shape {:?} of the clipped tensor",
                lo.shape(),
                hi.shape(),
                t.shape()
            ),
        ));
    }
    maximum(&minimum(t, hi)?, lo)
}

/// `g` where `mask` is `when`, zero elsewhere: how max/min split a gradient.
fn route(mask: &Tensor, g: &Tensor, when: bool) -> Result<Tensor> {
    let zero = zeros(g.dtype(), &[])?;
    if when {
        where_(mask, g, &zero)
    } else {
        where_(mask, &zero, g)
    }
}

/// `a ** b`. For integers a negative exponent is an error, as in TF.
pub fn pow(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "Pow";
    if let Some(out) = crate::ops::complex::binary(op, a, b) {
        return out;
    }
    let out = match (a.data(), b.data()) {
        (Data::I32(_), Data::I32(e)) if e.iter().any(|&v| v < 0) => {
            return Err(Error::invalid(
                op,
                "Integers to negative integer powers are not allowed",
            ));
        }
        (Data::I64(_), Data::I64(e)) if e.iter().any(|&v| v < 0) => {
            return Err(Error::invalid(
                op,
                "Integers to negative integer powers are not allowed",
            ));
        }
        _ if a.dtype().is_int() && b.dtype() == a.dtype() && a.dtype().is_storage_only() => {
            let out = pow(&widen(a, false)?, &widen(b, false)?)?;
            return narrow(&out, a.dtype(), false);
        }
        _ => match small_integer_power(a, b) {
            Some(out) => out,
            None => {
                struct Forward;
                impl NumFn2 for Forward {
                    #[inline(always)]
                    fn f<T: Num>(p: T, q: T) -> T {
                        p.pow(q)
                    }
                }
                apply_num2::<Forward>(op, a, b)?
            }
        },
    };
    // d(aᵇ)/da = b·aᵇ⁻¹; d(aᵇ)/db = aᵇ·ln a, taken as 0 where a ≤ 0 (TF
    // masks the log there).
    tape::record_rule(
        op,
        &[a, b],
        &out,
        [a, b, &out],
        || (),
        [
            Some(|g, [a, b, _], _| {
                let one = Tensor::scalar_of(b.dtype(), 1.0);
                g.mul(b)?.mul(&pow(a, &b.sub(&one)?)?)
            }),
            Some(|g, [a, _, out], _| {
                let zero = zeros(a.dtype(), &[])?;
                let positive = greater(a, &zero)?;
                let safe_a = where_(&positive, a, &Tensor::scalar_of(a.dtype(), 1.0))?;
                let log_a = where_(&positive, &super::log(&safe_a)?, &zero)?;
                g.mul(out)?.mul(&log_a)
            }),
        ],
    );
    Ok(out)
}

/// x·log y, exactly 0 where x = 0 even where y is 0 or inf (TF's Xlogy:
/// the x = 0 terms of an entropy vanish); float dtypes, broadcasting.
pub fn xlogy(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let op = "Xlogy";
    if let Some(out) = crate::ops::complex::binary(op, x, y) {
        return out;
    }
    struct Forward;
    impl RealFn2 for Forward {
        #[inline(always)]
        fn f<T: Real>(p: T, q: T) -> T {
            if p == T::ZERO { T::ZERO } else { p * q.ln() }
        }
    }
    let out = apply_real2::<Forward>(op, x, y)?;
    // d/dx = log y and d/dy = x / y where x ≠ 0, both 0 where x = 0: as
    // xlogy(x ≠ 0, y) and xdivy(x, y), so every order has the same zeros.
    tape::record_rule(
        op,
        &[x, y],
        &out,
        [x, y],
        || (),
        [
            Some(|g, [x, y], _| g.mul(&xlogy(&nonzero(x)?, y)?)),
            Some(|g, [x, y], _| g.mul(&xdivy(x, y)?)),
        ],
    );
    Ok(out)
}

/// x / y, exactly 0 where x = 0 even where y is 0 (TF's Xdivy); float
/// dtypes, broadcasting.
pub fn xdivy(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let op = "Xdivy";
    if let Some(out) = crate::ops::complex::binary(op, x, y) {
        return out;
    }
    struct Forward;
    impl RealFn2 for Forward {
        #[inline(always)]
        fn f<T: Real>(p: T, q: T) -> T {
            if p == T::ZERO { T::ZERO } else { p / q }
        }
    }
    let out = apply_real2::<Forward>(op, x, y)?;
    // d/dx = 1 / y and d/dy = −x / y² where x ≠ 0, both 0 where x = 0
    tape::record_rule(
        op,
        &[x, y],
        &out,
        [x, y],
        || (),
        [
            Some(|g, [x, y], _| g.mul(&xdivy(&nonzero(x)?, y)?)),
            Some(|g, [x, y], _| g.mul(&xdivy(&x.neg()?, &y.mul(y)?)?)),
        ],
    );
    Ok(out)
}

/// 1 where `x` ≠ 0, else 0, in `x`'s dtype (no gradient flows through it).
fn nonzero(x: &Tensor) -> Result<Tensor> {
    cast(&not_equal(x, &zeros(x.dtype(), &[])?)?, x.dtype())
}

/// `x ** k` for a float `x` and a scalar exponent k ∈ {0, 1, 2, 3} by
/// multiplication (exact, and far cheaper than `powf`); `None` otherwise.
/// (k = 0 is 1 everywhere, NaN and inf included, as C's `pow`: the
/// gradient of `x ** 1`, itself the gradient of `x ** 2`, asks for it in
/// every Hessian-vector product of a square.)
fn small_integer_power(a: &Tensor, b: &Tensor) -> Option<Tensor> {
    if !a.dtype().is_float() || a.dtype() != b.dtype() || b.numel() != 1 || b.rank() > a.rank() {
        return None;
    }
    fn by_products<T: Real>(x: T, k: u8) -> T {
        match k {
            0 => T::ONE,
            1 => x,
            2 => x * x,
            _ => x * x * x,
        }
    }
    let k = match b.item_f64()? {
        0.0 => 0,
        1.0 => 1,
        2.0 => 2,
        3.0 => 3,
        _ => return None,
    };
    Some(Tensor::from_data(match a.data() {
        Data::F32(x) => Data::F32(kernels::map(x, |v| by_products(v, k)).ok()?),
        Data::F64(x) => Data::F64(kernels::map(x, |v| by_products(v, k)).ok()?),
        _ => return None,
    }))
}

/// x · y, but 0 wherever y is 0 even if x is infinite or NaN (TF's
/// `MulNoNan`), with broadcasting. The VJP rules of sqrt, rsqrt and
/// reciprocal multiply their upstream gradient in with it, as TF's gradient
/// kernels do: a zero upstream gradient (the masked branch of a `where`)
/// stays zero where the local derivative is infinite or undefined.
/// d/dx = mul_no_nan(g, y), d/dy = mul_no_nan(x, g): the derivative in y
/// is x itself, so forward mode (which differentiates at y = 0) sees it.
pub(crate) fn mul_no_nan(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let out = tape::without_recording(|| {
        let zero = Tensor::scalar_of(x.dtype(), 0.0);
        where_(&equal(y, &zero)?, &zero, &x.mul(y)?)
    })?;
    tape::record_rule(
        "MulNoNan",
        &[x, y],
        &out,
        [x, y],
        || (),
        [
            Some(|g, [_, y], _| mul_no_nan(g, y)),
            Some(|g, [x, _], _| mul_no_nan(x, g)),
        ],
    );
    Ok(out)
}

/// `cond ? x : y` elementwise, all three broadcast together.
pub fn where_(cond: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let op = "SelectV2";
    let Data::Bool(c) = cond.data() else {
        return Err(Error::UnsupportedDType {
            op,
            dtype: cond.dtype(),
            allowed: "bool (condition)",
        });
    };
    same_dtype(op, x, y)?;
    let s = broadcast_output(op, x.dtype(), cond.shape(), x.shape())?;
    let s = broadcast_output(op, x.dtype(), &s, y.shape())?;
    let out = Tensor::from_data(match (x.data(), y.data()) {
        (Data::Str(p), Data::Str(q)) => Data::Str(crate::ops::strings::select(c, p, q, &s)?),
        _ => crate::zip_data!(x.data(), y.data(),
            |p, q| kernels::select(c, p, q, &s)?,
            else return Err(Error::invalid(op, "dtypes checked equal differ"))),
    });
    tape::record_rule(
        op,
        &[cond, x, y],
        &out,
        [cond],
        || (),
        [
            None,
            Some(|g, [cond], _| route(cond, g, true)),
            Some(|g, [cond], _| route(cond, g, false)),
        ],
    );
    Ok(out)
}

/// Comparisons give bool tensors and are not differentiable.
macro_rules! compare_ops {
    ($($(#[doc = $doc:literal])* $name:ident $tf:literal |$p:ident, $q:ident| $cmp:expr;)*) => {
    pub(crate) const COMPARE_OPS: &[OpInfo] = &[$(OpInfo {
        name: stringify!($name),
        arity: 2,
        differentiable: false,
        domain: "real",
        dtypes: "any",
        doc: concat!("Elementwise `", stringify!($cmp), "` as a bool tensor (not differentiable).\n", $($doc, "\n",)* ""),
        kernel: OpFn::Binary($name),
    }),*];
    $(
        $(#[doc = $doc])*
        pub fn $name(a: &Tensor, b: &Tensor) -> Result<Tensor> {
            let op = $tf;
            if let Some(out) = crate::ops::complex::compare(op, a, b) {
                return out;
            }
            if let Some(out) = via_compute([a, b], true, |[a, b]| $name(a, b)) {
                return out;
            }
            same_dtype(op, a, b)?;
            let s = broadcast_output(op, DType::Bool, a.shape(), b.shape())?;
            fn cmp<T: PartialOrd>($p: T, $q: T) -> bool {
                $cmp
            }
            Ok(Tensor::from_data(Data::Bool(match (a.data(), b.data()) {
                (Data::F32(x), Data::F32(y)) => kernels::zip(x, y, &s, cmp::<f32>)?,
                (Data::F64(x), Data::F64(y)) => kernels::zip(x, y, &s, cmp::<f64>)?,
                (Data::I32(x), Data::I32(y)) => kernels::zip(x, y, &s, cmp::<i32>)?,
                (Data::I64(x), Data::I64(y)) => kernels::zip(x, y, &s, cmp::<i64>)?,
                (Data::Bool(x), Data::Bool(y)) => kernels::zip(x, y, &s, cmp::<bool>)?,
                (Data::Str(x), Data::Str(y)) => crate::ops::strings::compare(op, x, y, &s, |p: &Bytes, q: &Bytes| cmp(p, q))?,
                _ => return Err(Error::invalid(op, "dtypes checked equal differ")),
            })))
        }
    )*};
}

compare_ops! {
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.equal(tf.constant([1, 2, 3]), tf.constant([1, 0, 3])))
    ///     tapegrad.Tensor([ True False  True], shape=(3,), dtype=bool)
    equal "Equal" |p, q| p == q;
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.not_equal(tf.constant([1, 2, 3]), tf.constant([1, 0, 3])))
    ///     tapegrad.Tensor([False  True False], shape=(3,), dtype=bool)
    not_equal "NotEqual" |p, q| p != q;
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.less(tf.constant([1, 2, 3]), 2))
    ///     tapegrad.Tensor([ True False False], shape=(3,), dtype=bool)
    less "Less" |p, q| p < q;
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.less_equal(tf.constant([1, 2, 3]), 2))
    ///     tapegrad.Tensor([ True  True False], shape=(3,), dtype=bool)
    less_equal "LessEqual" |p, q| p <= q;
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.greater(tf.constant([1, 2, 3]), 2))
    ///     tapegrad.Tensor([False False  True], shape=(3,), dtype=bool)
    greater "Greater" |p, q| p > q;
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.greater_equal(tf.constant([1, 2, 3]), 2))
    ///     tapegrad.Tensor([False  True  True], shape=(3,), dtype=bool)
    greater_equal "GreaterEqual" |p, q| p >= q;
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (divide_no_nan) => { $crate::ops::with_example!(
        r#"x / y, and 0 where y = 0 (even where x is 0, inf or NaN); integers divide as `truediv` does. d/dx = 1/y and d/dy = −x/y², both 0 where y = 0."#,
        r#">>> print(tf.math.divide_no_nan(tf.constant([3.0, 1.0]), tf.constant([2.0, 0.0])))
tapegrad.Tensor([1.5 0. ], shape=(2,), dtype=float32)"#
    ) };
    (where_) => { $crate::ops::with_example!(
        r#"`x` where `condition` is true, else `y` (broadcast); with `condition` alone, the coordinates of its true elements."#,
        r#">>> c = tf.constant([True, False, True])
>>> print(tf.where(c, tf.constant([1, 2, 3]), tf.constant([-1, -2, -3])))
tapegrad.Tensor([ 1 -2  3], shape=(3,), dtype=int32)
>>> print(tf.where(c))
tapegrad.Tensor(
[[0]
 [2]], shape=(2, 1), dtype=int64)"#
    ) };
    (clip_by_value) => { $crate::ops::with_example!(
        r#"Clips to [clip_value_min, clip_value_max] elementwise; the gradient flows where the value was not clipped."#,
        r#">>> print(tf.clip_by_value(tf.constant([-2.0, 0.5, 3.0]), 0.0, 1.0))
tapegrad.Tensor([0.  0.5 1. ], shape=(3,), dtype=float32)"#
    ) };
    (xlogy) => { $crate::ops::with_example!(
        r#"x·log y elementwise, exactly 0 where x = 0 (even where y is 0 or inf); d/dx = log y and d/dy = x / y where x ≠ 0, both 0 where x = 0."#,
        r#">>> print(tf.math.xlogy(tf.constant([0.0, 2.0]), tf.constant([0.0, 4.0])))
tapegrad.Tensor([0.        2.7725887], shape=(2,), dtype=float32)"#
    ) };
    (xdivy) => { $crate::ops::with_example!(
        r#"x / y elementwise, exactly 0 where x = 0 (even where y is 0); d/dx = 1 / y and d/dy = −x / y² where x ≠ 0, both 0 where x = 0."#,
        r#">>> print(tf.math.xdivy(tf.constant([0.0, 3.0]), tf.constant([0.0, 2.0])))
tapegrad.Tensor([0.  1.5], shape=(2,), dtype=float32)"#
    ) };
    ($name:ident) => { $crate::ops::complex::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truediv_divides_equal_int_dtypes_as_float64() {
        let a = Tensor::from_vec(&[2], vec![1i32, 7]).unwrap();
        let b = Tensor::from_vec(&[2], vec![2i32, 2]).unwrap();
        let q = truediv(&a, &b).unwrap();
        assert_eq!(q.dtype(), DType::F64);
        assert_eq!(q.array::<f64>().unwrap().as_slice().unwrap(), &[0.5, 3.5]);
        let x = Tensor::from_vec(&[1], vec![3.0f32]).unwrap();
        let y = Tensor::from_vec(&[1], vec![2.0f32]).unwrap();
        assert_eq!(truediv(&x, &y).unwrap().dtype(), DType::F32);
    }
}
