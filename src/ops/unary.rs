//! Elementwise ops of one tensor, one row each:
//! `name "TfOpName" dtypes domain |v| forward => [vjp]`, where the VJP is
//! `g, in x: …` (saves the input), `g, out y: …` (saves the output, when the
//! derivative is cheaper from it), `g: …` (saves nothing) or `nondiff`.

use std::mem::MaybeUninit;

use crate::dtype::{Num, Real};
use crate::error::{Error, Result};
use crate::kernels;
use crate::ops::convert::via_compute;
use crate::ops::{
    OpFn, OpInfo, greater, less, logical_and, mul_no_nan, sigmoid_grad, tanh_grad, where_, zeros,
};
use crate::tape;
use crate::tensor::{Data, Tensor};

/// The float functions the rows below need beyond `Real`.
pub(crate) trait Float: Real {
    fn exp_m1(self) -> Self;
    fn ln_1p(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Half to even, as TF and numpy round.
    fn round_even(self) -> Self;
    fn erf(self) -> Self;
    fn is_infinite(self) -> bool;
}

macro_rules! impl_float {
    ($($t:ty: exp_m1 = $exp_m1:path, ln_1p = $ln_1p:path, erf = $erf:path);*) => {$(
        impl Float for $t {
            #[inline(always)] fn exp_m1(self) -> Self { $exp_m1(self) }
            #[inline(always)] fn ln_1p(self) -> Self { $ln_1p(self) }
            #[inline(always)] fn tan(self) -> Self { <$t>::tan(self) }
            #[inline(always)] fn asin(self) -> Self { <$t>::asin(self) }
            #[inline(always)] fn acos(self) -> Self { <$t>::acos(self) }
            #[inline(always)] fn atan(self) -> Self { <$t>::atan(self) }
            #[inline(always)] fn sinh(self) -> Self { <$t>::sinh(self) }
            #[inline(always)] fn cosh(self) -> Self { <$t>::cosh(self) }
            #[inline(always)] fn asinh(self) -> Self { <$t>::asinh(self) }
            #[inline(always)] fn acosh(self) -> Self { <$t>::acosh(self) }
            #[inline(always)] fn atanh(self) -> Self { <$t>::atanh(self) }
            #[inline(always)] fn floor(self) -> Self { <$t>::floor(self) }
            #[inline(always)] fn ceil(self) -> Self { <$t>::ceil(self) }
            #[inline(always)] fn round_even(self) -> Self { <$t>::round_ties_even(self) }
            #[inline(always)] fn erf(self) -> Self { $erf(self) }
            #[inline(always)] fn is_infinite(self) -> bool { <$t>::is_infinite(self) }
        }
    )*};
}
// float32's are the vectorisable ones of `fastmath` (within 1 ulp of libm);
// float64 keeps libm (and the series below for erf, which std lacks).
impl_float!(
    f32: exp_m1 = crate::fastmath::exp_m1_f32, ln_1p = crate::fastmath::ln_1p_f32,
        erf = crate::fastmath::erf_f32;
    f64: exp_m1 = f64::exp_m1, ln_1p = f64::ln_1p, erf = erf_f64
);

/// erf to full f64 precision. |x| < 3: the series
/// erf x = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), whose terms are
/// all positive (no cancellation); beyond, 1 − erfc x with erfc's continued
/// fraction erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
fn erf_f64(x: f64) -> f64 {
    const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 3.0 {
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * a * a / (2.0 * n + 1.0);
            sum += term;
        }
        FRAC_2_SQRT_PI * (-a * a).exp() * sum
    } else if a < 27.0 {
        let mut f = a;
        for k in (1..60).rev() {
            f = a + (k as f64 / 2.0) / f;
        }
        1.0 - (-a * a).exp() / (f * std::f64::consts::PI.sqrt())
    } else {
        1.0
    };
    if x < 0.0 { -r } else { r }
}

// The element functions go to the kernels as `#[inline(always)]` closures,
// never as fn items: a fn item is called through an `Fn::call` shim that
// LLVM compiles out of line, for the baseline target, so the kernel's
// AVX-512/AVX2 versions (`kernels::strided::fill_flat`) ran every
// function (float32 sin and cos among them) on 128-bit SSE2 vectors.
#[inline(always)]
fn real_fn<F: RealFn, T: Float>() -> impl Fn(T) -> T + Send + Sync {
    #[inline(always)]
    |v| F::f::<T>(v)
}

#[inline(always)]
fn num_fn<F: NumFn, T: Num>() -> impl Fn(T) -> T + Send + Sync {
    #[inline(always)]
    |v| F::f::<T>(v)
}

/// A forward function over float elements.
pub(crate) trait RealFn {
    fn f<T: Float>(v: T) -> T;

    /// The float32 kernel over a contiguous slice (`out` as long as `xs`):
    /// `f` per element unless a row names a slice function (one that must
    /// see a block at once to leave its vector path, as `fastmath::sin_f32s`).
    #[inline(always)]
    fn f32s(xs: &[f32], out: &mut [MaybeUninit<f32>]) {
        for (o, &x) in out.iter_mut().zip(xs) {
            o.write(Self::f(x));
        }
    }
}

/// A forward function over bools.
pub(crate) trait BoolFn {
    fn f(v: bool) -> bool;
}

pub(crate) fn apply_bool<F: BoolFn>(op: &'static str, x: &Tensor) -> Result<Tensor> {
    match x.data() {
        Data::Bool(a) => Ok(Tensor::from_data(Data::Bool(kernels::map(
            a,
            #[inline(always)]
            |v| F::f(v),
        )?))),
        _ => Err(Error::UnsupportedDType {
            op,
            dtype: x.dtype(),
            allowed: "bool",
        }),
    }
}

/// A forward function over every numeric element type.
pub(crate) trait NumFn {
    fn f<T: Num>(v: T) -> T;
}

pub(crate) fn apply_real<F: RealFn>(op: &'static str, x: &Tensor) -> Result<Tensor> {
    if let Some(out) = via_compute([x], false, |[x]| apply_real::<F>(op, x)) {
        return out;
    }
    Ok(Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(kernels::map_slices(
            a,
            #[inline(always)]
            |xs, out| F::f32s(xs, out),
        )?),
        Data::F64(a) => Data::F64(kernels::map(a, real_fn::<F, f64>())?),
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: x.dtype(),
                allowed: "float32, float64",
            });
        }
    }))
}

pub(crate) fn apply_num<F: NumFn>(op: &'static str, x: &Tensor) -> Result<Tensor> {
    if let Some(out) = via_compute([x], false, |[x]| apply_num::<F>(op, x)) {
        return out;
    }
    Ok(Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(kernels::map(a, num_fn::<F, f32>())?),
        Data::F64(a) => Data::F64(kernels::map(a, num_fn::<F, f64>())?),
        Data::I32(a) => Data::I32(kernels::map(a, num_fn::<F, i32>())?),
        Data::I64(a) => Data::I64(kernels::map(a, num_fn::<F, i64>())?),
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: x.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
    }))
}

macro_rules! unary_op {
    (@forward float, $tf:literal, $x:ident, |$v:ident| $fwd:expr) => {{
        struct Forward;
        impl RealFn for Forward {
            #[inline(always)]
            fn f<T: Float>($v: T) -> T {
                $fwd
            }
        }
        apply_real::<Forward>($tf, $x)
    }};
    (@forward float($f32s:path), $tf:literal, $x:ident, |$v:ident| $fwd:expr) => {{
        struct Forward;
        impl RealFn for Forward {
            #[inline(always)]
            fn f<T: Float>($v: T) -> T {
                $fwd
            }
            #[inline(always)]
            fn f32s(xs: &[f32], out: &mut [MaybeUninit<f32>]) {
                $f32s(xs, out)
            }
        }
        apply_real::<Forward>($tf, $x)
    }};
    (@forward bool, $tf:literal, $x:ident, |$v:ident| $fwd:expr) => {{
        struct Forward;
        impl BoolFn for Forward {
            #[inline(always)]
            fn f($v: bool) -> bool {
                $fwd
            }
        }
        apply_bool::<Forward>($tf, $x)
    }};
    (@forward numeric, $tf:literal, $x:ident, |$v:ident| $fwd:expr) => {{
        struct Forward;
        impl NumFn for Forward {
            #[inline(always)]
            fn f<T: Num>($v: T) -> T {
                $fwd
            }
        }
        apply_num::<Forward>($tf, $x)
    }};
    (@diff nondiff) => {
        false
    };
    (@diff $($t:tt)*) => {
        true
    };

    // The op itself makes its output again: a node that saves the output
    // (this one, for `out` rules, or a later one) may remake it instead of
    // keeping it (`tape::Remade`).
    (@record $name:ident $tf:literal, $x:ident, $y:ident, [nondiff]) => {};
    (@record $name:ident $tf:literal, $x:ident, $y:ident, [$g:ident: $vjp:expr]) => {
        unary_op!(@remakeable $name $tf, $x, $y, [], |$g, [], _| $vjp)
    };
    (@record $name:ident $tf:literal, $x:ident, $y:ident, [$g:ident, in $sx:ident: $vjp:expr]) => {
        unary_op!(@remakeable $name $tf, $x, $y, [$x], |$g, [$sx], _| $vjp)
    };
    (@record $name:ident $tf:literal, $x:ident, $y:ident, [$g:ident, out $sy:ident: $vjp:expr]) => {
        unary_op!(@remakeable $name $tf, $x, $y, [&$y], |$g, [$sy], _| $vjp)
    };
    (@remakeable $name:ident $tf:literal, $x:ident, $y:ident, $saves:expr, $rule:expr) => {
        tape::record_remakeable($tf, [$x], &$y, $saves, tape::Remake::Unary($name), [Some($rule)])
    };
}

macro_rules! unary_ops {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident $tf:literal $kind:ident $(($f32s:path))? $domain:ident |$v:ident| $fwd:expr
            => [$($vjp:tt)*];
    )*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name(x: &Tensor) -> Result<Tensor> {
                if let Some(y) = crate::ops::complex::unary($tf, x) {
                    return y;
                }
                let y = unary_op!(@forward $kind $(($f32s))?, $tf, x, |$v| $fwd)?;
                crate::trace::note_op($tf, &[x], &y);
                unary_op!(@record $name $tf, x, y, [$($vjp)*]);
                Ok(y)
            }
        )*

        pub(crate) const UNARY_OPS: &[OpInfo] = &[$(OpInfo {
            name: stringify!($name),
            arity: 1,
            differentiable: unary_op!(@diff $($vjp)*),
            domain: stringify!($domain),
            dtypes: stringify!($kind),
            doc: concat!($($doc, "\n",)* ""),
            kernel: OpFn::Unary($name),
        }),*];
    };
}

unary_ops! {
    /// -x
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.negative(tf.constant([1.0, -2.0])))
    ///     tapegrad.Tensor([-1.  2.], shape=(2,), dtype=float32)
    negative "Neg" numeric real |v| -v => [g: g.neg()];
    /// |x|; the subgradient at 0 is 0, as in TF.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.abs(tf.constant([-1.5, 0.0, 2.0])))
    ///     tapegrad.Tensor([1.5 0.  2. ], shape=(3,), dtype=float32)
    abs "Abs" numeric real |v| if v < T::ZERO { -v } else { v } => [g, in x: g.mul(&sign(x)?)];
    /// −1, 0 or 1 (NaN stays NaN); the gradient is zero everywhere, as in TF.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.sign(tf.constant([-3.0, 0.0, 2.0])))
    ///     tapegrad.Tensor([-1.  0.  1.], shape=(3,), dtype=float32)
    sign "Sign" numeric real |v| if v > T::ZERO { T::ONE } else if v < T::ZERO { -T::ONE } else { v }
        => [g: crate::ops::zeros_like(g)];
    /// x²
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.square(tf.constant([1, -2, 3])))
    ///     tapegrad.Tensor([1 4 9], shape=(3,), dtype=int32)
    square "Square" numeric real |v| v * v => [g, in x: g.mul(x)?.scale(2.0)];
    /// eˣ; d/dx eˣ = eˣ, read from the output.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.exp(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([1.        2.7182817], shape=(2,), dtype=float32)
    exp "Exp" float real |v| v.exp() => [g, out y: g.mul(y)];
    /// Natural logarithm.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.log(tf.constant([1.0, 4.0])))
    ///     tapegrad.Tensor([0.        1.3862944], shape=(2,), dtype=float32)
    log "Log" float positive |v| v.ln() => [g, in x: g.div(x)];
    /// sin x; d = cos x.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.sin(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.         0.84147096], shape=(2,), dtype=float32)
    sin "Sin" float(crate::fastmath::sin_f32s) real |v| v.sin() => [g, in x: grad_times::<Cos>(g, x, false, || g.mul(&cos(x)?))];
    /// cos x; d = −sin x.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.cos(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([1.        0.5403023], shape=(2,), dtype=float32)
    cos "Cos" float(crate::fastmath::cos_f32s) real |v| v.cos() => [g, in x: grad_times::<Sin>(g, x, true, || g.mul(&sin(x)?)?.neg())];
    /// Hyperbolic tangent.
    /// d tanh = 1 − tanh², read from the output.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.tanh(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        0.7615942], shape=(2,), dtype=float32)
    tanh "Tanh" float real |v| v.tanh() => [g, out y: tanh_grad(y, g)];
    /// √x.
    /// d √x = 1 / (2√x), read from the output; times a zero upstream
    /// gradient it is 0 even at x ≤ 0 (TF's SqrtGrad, see `mul_no_nan`).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.sqrt(tf.constant([4.0, 9.0])))
    ///     tapegrad.Tensor([2. 3.], shape=(2,), dtype=float32)
    sqrt "Sqrt" float positive |v| v.sqrt() => [g, out y: mul_no_nan(&reciprocal(y)?.scale(0.5)?, g)];
    /// 1/√x.
    /// d x^(−1/2) = −½ x^(−3/2) = −½ y³ (0 for a zero upstream gradient,
    /// as TF's RsqrtGrad).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.rsqrt(tf.constant([4.0, 16.0])))
    ///     tapegrad.Tensor([0.5  0.25], shape=(2,), dtype=float32)
    rsqrt "Rsqrt" float positive |v| T::ONE / v.sqrt() => [g, out y: mul_no_nan(&y.mul(&square(y)?)?.scale(-0.5)?, g)];
    /// 1/x.
    /// d (1/x) = −1/x² = −y² (0 for a zero upstream gradient, as TF's
    /// ReciprocalGrad).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.reciprocal(tf.constant([2.0, 4.0])))
    ///     tapegrad.Tensor([0.5  0.25], shape=(2,), dtype=float32)
    reciprocal "Reciprocal" float positive |v| T::ONE / v => [g, out y: mul_no_nan(&square(y)?.neg()?, g)];
    /// eˣ − 1, accurate near 0; d = eˣ.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.expm1(tf.constant([0.0, 1e-7], dtype=tf.float64)))
    ///     tapegrad.Tensor([0.00000000e+00 1.00000005e-07], shape=(2,), dtype=float64)
    expm1 "Expm1" float real |v| v.exp_m1() => [g, in x: g.mul(&exp(x)?)];
    /// ln(1 + x), accurate near 0; d = 1/(1 + x).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.log1p(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        0.6931472], shape=(2,), dtype=float32)
    log1p "Log1p" float positive |v| v.ln_1p() => [g, in x: g.div(&plus_one(x)?)];
    /// tan x.
    /// d tan = 1 + tan², read from the output.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.tan(tf.constant([0.0, 0.5])))
    ///     tapegrad.Tensor([0.        0.5463025], shape=(2,), dtype=float32)
    tan "Tan" float unit |v| v.tan() => [g, out y: g.mul(&plus_one(&square(y)?)?)];
    /// arcsin x, defined on [−1, 1].
    /// d asin = 1/√(1 − x²).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.asin(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        1.5707964], shape=(2,), dtype=float32)
    asin "Asin" float unit |v| v.asin() => [g, in x: g.div(&sqrt(&ones_minus_square(x)?)?)];
    /// arccos x, defined on [−1, 1].
    /// d acos = −1/√(1 − x²).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.acos(tf.constant([1.0, 0.0])))
    ///     tapegrad.Tensor([0.        1.5707964], shape=(2,), dtype=float32)
    acos "Acos" float unit |v| v.acos() => [g, in x: g.div(&sqrt(&ones_minus_square(x)?)?)?.neg()];
    /// arctan x.
    /// d atan = 1/(1 + x²).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.atan(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        0.7853982], shape=(2,), dtype=float32)
    atan "Atan" float real |v| v.atan() => [g, in x: g.div(&plus_one(&square(x)?)?)];
    /// sinh x; d = cosh x.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.sinh(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        1.1752012], shape=(2,), dtype=float32)
    sinh "Sinh" float real |v| v.sinh() => [g, in x: g.mul(&cosh(x)?)];
    /// cosh x; d = sinh x.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.cosh(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([1.        1.5430806], shape=(2,), dtype=float32)
    cosh "Cosh" float real |v| v.cosh() => [g, in x: g.mul(&sinh(x)?)];
    /// Inverse hyperbolic sine.
    /// d asinh = 1/√(1 + x²).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.asinh(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        0.8813736], shape=(2,), dtype=float32)
    asinh "Asinh" float real |v| v.asinh() => [g, in x: g.div(&sqrt(&plus_one(&square(x)?)?)?)];
    /// Inverse hyperbolic cosine, defined on [1, ∞) (NaN below).
    /// d acosh = 1/sinh(acosh x) (inf at 1, as TF).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.acosh(tf.constant([1.0, 2.0])))
    ///     tapegrad.Tensor([0.       1.316958], shape=(2,), dtype=float32)
    acosh "Acosh" float above_one |v| v.acosh() => [g, out y: g.div(&sinh(y)?)];
    /// Inverse hyperbolic tangent, defined on (−1, 1).
    /// d atanh = 1/(1 − x²).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.atanh(tf.constant([0.0, 0.5])))
    ///     tapegrad.Tensor([0.         0.54930615], shape=(2,), dtype=float32)
    atanh "Atanh" float unit |v| v.atanh() => [g, in x: g.div(&ones_minus_square(x)?)];
    /// The error function 2/√π ∫₀ˣ e^(−t²) dt.
    /// d erf = 2/√π · e^(−x²).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.erf(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        0.8427008], shape=(2,), dtype=float32)
    erf "Erf" float real |v| v.erf()
        => [g, in x: g.mul(&exp(&square(x)?.neg()?)?)?.scale(std::f64::consts::FRAC_2_SQRT_PI)];
    /// Rounds down; not differentiable (TF's gradient is None).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.floor(tf.constant([-1.5, 0.5, 2.0])))
    ///     tapegrad.Tensor([-2.  0.  2.], shape=(3,), dtype=float32)
    floor "Floor" float real |v| v.floor() => [nondiff];
    /// Rounds up; not differentiable (TF's gradient is None).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.ceil(tf.constant([-1.5, 0.5, 2.0])))
    ///     tapegrad.Tensor([-1.  1.  2.], shape=(3,), dtype=float32)
    ceil "Ceil" float real |v| v.ceil() => [nondiff];
    /// Rounds half to even, as TF and numpy do.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.round(tf.constant([0.5, 1.5, 2.5, -0.5])))
    ///     tapegrad.Tensor([ 0.  2.  2. -0.], shape=(4,), dtype=float32)
    round "Round" float real |v| v.round_even() => [nondiff];
    /// 1 / (1 + e⁻ˣ); d = y(1 − y), read from the output.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.sigmoid(tf.constant([0.0, 2.0])))
    ///     tapegrad.Tensor([0.5      0.880797], shape=(2,), dtype=float32)
    sigmoid "Sigmoid" float real |v| sigmoid_of(v) => [g, out y: sigmoid_grad(y, g)];
    /// max(x, 0); the subgradient at 0 is 0, as in TF.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.relu(tf.constant([-1.0, 0.0, 2.0])))
    ///     tapegrad.Tensor([0. 0. 2.], shape=(3,), dtype=float32)
    relu "Relu" numeric real |v| if v > T::ZERO { v } else { T::ZERO }
        => [g, in x: where_(&greater(x, &zeros(x.dtype(), &[])?)?, g, &zeros(g.dtype(), &[])?)];
    /// min(max(x, 0), 6); the gradient is 1 strictly inside (0, 6), 0 elsewhere.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.relu6(tf.constant([-1.0, 3.0, 8.0])))
    ///     tapegrad.Tensor([0. 3. 6.], shape=(3,), dtype=float32)
    relu6 "Relu6" numeric real |v| if v > T::ZERO { if v < T::from_f64(6.0) { v } else { T::from_f64(6.0) } } else { T::ZERO }
        => [g, in x: where_(&inside_0_6(x)?, g, &zeros(g.dtype(), &[])?)];
    /// x if x > 0 else eˣ − 1.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.elu(tf.constant([-1.0, 2.0])))
    ///     tapegrad.Tensor([-0.63212055  2.        ], shape=(2,), dtype=float32)
    elu "Elu" float real |v| if v > T::ZERO { v } else { v.exp_m1() }
        => [g, in x: where_(&positive(x)?, g, &g.mul(&exp(x)?)?)];
    /// λ·(x if x > 0 else α(eˣ − 1)) with TF's λ and α.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.selu(tf.constant([-1.0, 2.0])))
    ///     tapegrad.Tensor([-1.1113307  2.101402 ], shape=(2,), dtype=float32)
    selu "Selu" float real |v| T::from_f64(SELU_SCALE) * if v > T::ZERO { v } else { T::from_f64(SELU_ALPHA) * v.exp_m1() }
        => [g, in x: where_(&positive(x)?, &g.scale(SELU_SCALE)?, &g.mul(&exp(x)?)?.scale(SELU_SCALE * SELU_ALPHA)?)];
    /// ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^(−|x|)); d = sigmoid(x).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.softplus(tf.constant([0.0, 100.0])))
    ///     tapegrad.Tensor([  0.6931472 100.       ], shape=(2,), dtype=float32)
    softplus "Softplus" float real |v| (if v > T::ZERO { v } else { T::ZERO }) + (-v.abs()).exp().ln_1p()
        => [g, in x: g.mul(&sigmoid(x)?)];
    /// The exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)); d = Φ(x) + x·φ(x).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.gelu(tf.constant([-1.0, 0.0, 1.0])))
    ///     tapegrad.Tensor([-0.15865526  0.          0.8413447 ], shape=(3,), dtype=float32)
    gelu "Gelu" float real |v| T::from_f64(0.5) * v * (T::ONE + (v * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
        => [g, in x: g.mul(&gelu_grad(x)?)];
    /// x / (1 + |x|); d = 1/(1 + |x|)².
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.softsign(tf.constant([-3.0, 1.0])))
    ///     tapegrad.Tensor([-0.75  0.5 ], shape=(2,), dtype=float32)
    softsign "Softsign" float real |v| v / (T::ONE + v.abs())
        => [g, in x: g.div(&square(&plus_one(&abs(x)?)?)?)];
    /// x·sigmoid(x) (also `swish`); d = s(1 + x(1 − s)), s = sigmoid(x).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.nn.silu(tf.constant([0.0, 1.0])))
    ///     tapegrad.Tensor([0.        0.7310586], shape=(2,), dtype=float32)
    silu "Silu" float real |v| v * sigmoid_of(v)
        => [g, in x: g.mul(&sigmoid(x)?.mul(&plus_one(&x.mul(&one_minus(&sigmoid(x)?)?)?)?)?)];
    /// log sigmoid(x) = −softplus(−x), computed without overflow; d = sigmoid(−x).
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.log_sigmoid(tf.constant([0.0, -100.0])))
    ///     tapegrad.Tensor([  -0.6931472 -100.       ], shape=(2,), dtype=float32)
    log_sigmoid "LogSigmoid" float real |v| -((if v < T::ZERO { -v } else { T::ZERO }) + (-v.abs()).exp().ln_1p())
        => [g, in x: g.mul(&sigmoid(&x.neg()?)?)];
    /// Elementwise not of a bool tensor.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.logical_not(tf.constant([True, False])))
    ///     tapegrad.Tensor([False  True], shape=(2,), dtype=bool)
    logical_not "LogicalNot" bool real |v| !v => [nondiff];
}

const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// 1 / (1 + e⁻ˣ) from e = e^(−|x|) ∈ (0, 1], which never overflows:
/// 1/(1 + e) for x ≥ 0, e/(1 + e) below. Both sides are computed and one
/// selected, so the loop stays branch-free and vectorises.
#[inline(always)]
pub(crate) fn sigmoid_of<T: Float>(v: T) -> T {
    let e = (-v.abs()).exp();
    let r = T::ONE / (T::ONE + e);
    if v >= T::ZERO { r } else { e * r }
}

/// `g·d(x)`, or `−(g·d(x))` when `negate`, for a VJP whose factor `d` is an
/// elementwise function of the saved input (cos x in sin's, sin x in cos's);
/// `composite` makes the same value from ops.
///
/// Why: in a plain backward pass (nothing records, traces or checks
/// numerics) the factor is never needed as a tensor, and making it costs an
/// allocation and a kernel call of its own (a third of a small op's
/// backward). So it is computed block by block into the output and
/// multiplied there: the same float32 blocks `d`'s own op would see (its
/// slice function may treat a block as a whole) and the same roundings in
/// the same order, so bitwise the value of `composite`. When something
/// records, `composite` runs instead: its ops have gradients of their own
/// (second order), and the NaN check and a trace see each one.
fn grad_times<D: RealFn>(
    g: &Tensor,
    x: &Tensor,
    negate: bool,
    composite: impl FnOnce() -> Result<Tensor>,
) -> Result<Tensor> {
    if tape::is_observed() {
        return composite();
    }
    let fused = match (g.data(), x.data()) {
        // (closures marked to inline: called out of line, they would run
        // on the baseline target, not in the kernels' AVX-512 loops)
        (Data::F32(gs), Data::F32(xs)) => kernels::zip_slices(
            gs,
            xs,
            #[inline(always)]
            |gs, xs, out| {
                D::f32s(xs, out);
                for (o, &g) in out.iter_mut().zip(gs) {
                    // SAFETY: `f32s` wrote every slot of `out`.
                    let p = g * unsafe { o.assume_init() };
                    o.write(if negate { -p } else { p });
                }
            },
        )
        .map(|r| r.map(Data::F32)),
        (Data::F64(gs), Data::F64(xs)) => kernels::zip_slices(
            gs,
            xs,
            #[inline(always)]
            |gs, xs, out| {
                for ((o, &g), &x) in out.iter_mut().zip(gs).zip(xs) {
                    let p = g * D::f(x);
                    o.write(if negate { -p } else { p });
                }
            },
        )
        .map(|r| r.map(Data::F64)),
        _ => None,
    };
    match fused {
        Some(data) => Ok(Tensor::from_data(data?)),
        None => composite(),
    }
}

/// The factors `grad_times` computes, with the float32 slice functions of
/// the `cos` and `sin` rows.
struct Cos;
impl RealFn for Cos {
    #[inline(always)]
    fn f<T: Float>(v: T) -> T {
        v.cos()
    }
    #[inline(always)]
    fn f32s(xs: &[f32], out: &mut [MaybeUninit<f32>]) {
        crate::fastmath::cos_f32s(xs, out)
    }
}

struct Sin;
impl RealFn for Sin {
    #[inline(always)]
    fn f<T: Float>(v: T) -> T {
        v.sin()
    }
    #[inline(always)]
    fn f32s(xs: &[f32], out: &mut [MaybeUninit<f32>]) {
        crate::fastmath::sin_f32s(xs, out)
    }
}

/// 1 − y², the factor in the derivatives of tanh, asin and acos.
fn ones_minus_square(y: &Tensor) -> Result<Tensor> {
    Tensor::scalar_of(y.dtype(), 1.0).sub(&square(y)?)
}

fn one_minus(y: &Tensor) -> Result<Tensor> {
    Tensor::scalar_of(y.dtype(), 1.0).sub(y)
}

fn plus_one(y: &Tensor) -> Result<Tensor> {
    y.add(&Tensor::scalar_of(y.dtype(), 1.0))
}

fn positive(x: &Tensor) -> Result<Tensor> {
    greater(x, &zeros(x.dtype(), &[])?)
}

fn inside_0_6(x: &Tensor) -> Result<Tensor> {
    logical_and(&positive(x)?, &less(x, &Tensor::scalar_of(x.dtype(), 6.0))?)
}

/// Φ(x) + x·φ(x): the derivative of x·Φ(x).
fn gelu_grad(x: &Tensor) -> Result<Tensor> {
    let half = Tensor::scalar_of(x.dtype(), 0.5);
    let cdf = half.mul(&plus_one(
        &erf(&x.scale(std::f64::consts::FRAC_1_SQRT_2)?)?,
    )?)?;
    let pdf = exp(&square(x)?.scale(-0.5)?)?.scale(1.0 / (2.0 * std::f64::consts::PI).sqrt())?;
    cdf.add(&x.mul(&pdf)?)
}

/// Float → bool tests (not differentiable).
macro_rules! predicate_ops {
    ($($(#[doc = $doc:literal])* $name:ident $tf:literal |$v:ident| $test:expr;)*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name(x: &Tensor) -> Result<Tensor> {
                #[inline(always)]
                fn test<T: Float>($v: T) -> bool {
                    $test
                }
                if let Some(out) = via_compute([x], false, |[x]| $name(x)) {
                    return out;
                }
                Ok(Tensor::from_data(Data::Bool(match x.data() {
                    Data::F32(a) => kernels::map(a, #[inline(always)] |v| test::<f32>(v))?,
                    Data::F64(a) => kernels::map(a, #[inline(always)] |v| test::<f64>(v))?,
                    _ => {
                        return Err(Error::UnsupportedDType {
                            op: $tf,
                            dtype: x.dtype(),
                            allowed: "float32, float64",
                        });
                    }
                })))
            }
        )*

        pub(crate) const PREDICATE_OPS: &[OpInfo] = &[$(OpInfo {
            name: stringify!($name),
            arity: 1,
            differentiable: false,
            domain: "real",
            dtypes: "float",
            doc: concat!($($doc, "\n",)* ""),
            kernel: OpFn::Unary($name),
        }),*];
    };
}

predicate_ops! {
    /// Neither infinite nor NaN.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.is_finite(tf.constant([1.0, float('inf'), float('nan')])))
    ///     tapegrad.Tensor([ True False False], shape=(3,), dtype=bool)
    is_finite "IsFinite" |v| !v.is_nan() && !v.is_infinite();
    /// True where x is +∞ or −∞.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.is_inf(tf.constant([1.0, float('-inf'), float('nan')])))
    ///     tapegrad.Tensor([False  True False], shape=(3,), dtype=bool)
    is_inf "IsInf" |v| v.is_infinite();
    /// True where x is NaN.
    ///
    /// Example:
    ///     >>> import tapegrad as tf
    ///     >>> print(tf.math.is_nan(tf.constant([1.0, float('inf'), float('nan')])))
    ///     tapegrad.Tensor([False False  True], shape=(3,), dtype=bool)
    is_nan "IsNan" |v| v.is_nan();
}
