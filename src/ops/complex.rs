//! complex64 and complex128: kernels of their own (a complex value cannot
//! compute in another dtype) and TF's gradient convention.
//!
//! **The convention.** For a real loss L of z = x + iy, TF's gradient with
//! respect to z is ∂L/∂x + i·∂L/∂y (so `|z|²` has gradient 2z). A VJP
//! therefore maps the upstream g of w = f(z) to
//! g_z = g·conj(∂w/∂z) + conj(g)·(∂w/∂conj z); for a holomorphic f that is
//! g·conj(f′(z)) (`exp`: g·conj(eᶻ); `a·b`: g·conj(b)), and the
//! non-holomorphic ops write theirs out: `real` → complex(g, 0), `imag` →
//! complex(0, g), `conj` → conj(g), `abs` → g·z/|z|, `angle` →
//! g·(−y + ix)/|z|². Every rule is written with ops, so higher orders come
//! from the same rules.
//!
//! The elementwise tables (`unary.rs`, `binary.rs`) and the comparisons
//! hand a complex operand to `unary`/`binary`/`compare` here first: the ops
//! TF defines on complex run below, every other one is refused with TF's
//! kind of error (an unsupported dtype naming the op), never computed on a
//! part of the value.

use num_complex::{Complex, ComplexFloat};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels;
use crate::ops::{cast, same_dtype, zeros_like};
use crate::shape::broadcast_output;
use crate::tape;
use crate::tensor::{Data, Element, Tensor};

/// The complex element types, with their parts.
pub(crate) trait Cx: ComplexFloat + Element + PartialEq {
    type Part: Element + PartialEq;
    fn real_part(self) -> Self::Part;
    fn imag_part(self) -> Self::Part;
    /// |z| (hypot: no overflow for large parts).
    fn modulus(self) -> Self::Part;
    /// The argument, atan2(y, x).
    fn argument(self) -> Self::Part;
    /// z/|z|, and 0 at 0 (TF's `sign` of a complex value).
    fn unit(self) -> Self;
    /// eᶻ − 1 without the cancellation of `exp(z) − 1` near 0.
    fn exp_m1(self) -> Self;
    /// log(1 + z) without the rounding of `1 + z` near 0.
    fn ln_1p(self) -> Self;
    /// i·z.
    fn times_i(self) -> Self;
    /// −i·z.
    fn times_minus_i(self) -> Self;
    /// tanh z, finite for any real part.
    fn tanh_principal(self) -> Self;
    /// asin z, acos z and atanh z on their principal branches, a zero
    /// imaginary part's sign choosing the side of a branch cut.
    fn asin_principal(self) -> Self;
    fn acos_principal(self) -> Self;
    fn atanh_principal(self) -> Self;
    fn acosh_principal(self) -> Self;
}

macro_rules! impl_cx {
    ($($part:ty),*) => {$(
        impl Cx for Complex<$part> {
            type Part = $part;
            #[inline(always)]
            fn real_part(self) -> $part { self.re }
            #[inline(always)]
            fn imag_part(self) -> $part { self.im }
            #[inline(always)]
            fn modulus(self) -> $part { self.norm() }
            #[inline(always)]
            fn argument(self) -> $part { self.arg() }
            #[inline(always)]
            fn unit(self) -> Self {
                let r = self.norm();
                if r == 0.0 { self } else { self.unscale(r) }
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                // eˣ(cos y + i·sin y) − 1, the real part as expm1(x) − 2eˣ·sin²(y/2)
                // (cos y − 1 = −2 sin²(y/2)): both parts keep their digits near 0
                let em1 = self.re.exp_m1();
                let half = (self.im * 0.5).sin();
                Complex::new(em1 - 2.0 * (em1 + 1.0) * half * half, (em1 + 1.0) * self.im.sin())
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                // log|1 + z| + i·arg(1 + z); near |1 + z| = 1 the modulus goes
                // through |1 + z|² − 1 = x(2 + x) + y² and log1p, which keeps
                // the digits 1 + z would round away
                let (x, y) = (self.re, self.im);
                let r = (x + 1.0).hypot(y);
                let log_r = if r > 0.5 && r < 2.0 { 0.5 * (x * (2.0 + x) + y * y).ln_1p() } else { r.ln() };
                Complex::new(log_r, y.atan2(x + 1.0))
            }
            #[inline(always)]
            fn times_i(self) -> Self {
                Complex::new(-self.im, self.re)
            }
            #[inline(always)]
            fn times_minus_i(self) -> Self {
                Complex::new(self.im, -self.re)
            }
            #[inline(always)]
            fn tanh_principal(self) -> Self {
                let (x, y) = (self.re, self.im);
                if x.abs() > 20.0 {
                    // ±1 to the last digit; the imaginary part is
                    // 2·sin 2y·e^(−2|x|) (sinh² would overflow below)
                    return Complex::new(<$part>::copysign(1.0, x), 2.0 * (2.0 * y).sin() * (-2.0 * x.abs()).exp());
                }
                // Kahan: with t = tan y, β = 1 + t², s = sinh x, ρ = √(1 + s²),
                // tanh z = (β·ρ·s + i·t)/(1 + β·s²)
                let t = y.tan();
                let beta = 1.0 + t * t;
                let s = x.sinh();
                let den = 1.0 + beta * s * s;
                Complex::new(beta * (1.0 + s * s).sqrt() * s / den, t / den)
            }
            #[inline(always)]
            fn asin_principal(self) -> Self {
                // Kahan's formulas, with 1 − z and 1 + z formed part by part
                // so a signed zero survives, and nothing squared:
                // asin z = atan2(x, Re(√(1−z)·√(1+z))) + i·asinh(Im(conj √(1−z)·√(1+z)))
                let minus = Complex::new(1.0 - self.re, -self.im).sqrt();
                let plus = Complex::new(1.0 + self.re, self.im).sqrt();
                Complex::new(self.re.atan2((minus * plus).re), (minus.conj() * plus).im.asinh())
            }
            #[inline(always)]
            fn acos_principal(self) -> Self {
                // acos z = 2·atan2(Re √(1−z), Re √(1+z)) + i·asinh(Im(conj √(1+z)·√(1−z)))
                let minus = Complex::new(1.0 - self.re, -self.im).sqrt();
                let plus = Complex::new(1.0 + self.re, self.im).sqrt();
                Complex::new(2.0 * minus.re.atan2(plus.re), (plus.conj() * minus).im.asinh())
            }
            #[inline(always)]
            fn acosh_principal(self) -> Self {
                // acosh z = 2·log(√((z + 1)/2) + √((z − 1)/2)) (Kahan), the
                // parts formed one by one so a zero imaginary part keeps its
                // sign, which picks the side of the cut (−∞, 1)
                let half = |re: $part| Complex::new(0.5 * re, 0.5 * self.im).sqrt();
                (half(self.re + 1.0) + half(self.re - 1.0)).ln() * 2.0
            }
            #[inline(always)]
            fn atanh_principal(self) -> Self {
                // Re = ¼·log1p(4x/((1 − x)² + y²)) (no cancellation of two
                // logs for large |z|), Im = ½·atan2(2y, (1 − x)(1 + x) − y²)
                let (x, y) = (self.re, self.im);
                let one_minus = 1.0 - x;
                Complex::new(
                    0.25 * (4.0 * x / (one_minus * one_minus + y * y)).ln_1p(),
                    0.5 * (2.0 * y).atan2(one_minus * (1.0 + x) - y * y),
                )
            }
        }
    )*};
}
impl_cx!(f32, f64);

/// A function of one complex element, for both precisions.
trait Map {
    fn f<T: Cx>(z: T) -> T;
}

/// A function of two complex elements.
trait Map2 {
    fn f<T: Cx>(p: T, q: T) -> T;
}

/// A complex element to one of its parts.
trait ToPart {
    fn f<T: Cx>(z: T) -> T::Part;
}

macro_rules! complex_fns {
    ($($name:ident: $kind:ident |$($v:ident),*| $body:expr;)*) => {$(
        struct $name;
        complex_fns!(@impl $kind $name |$($v),*| $body);
    )*};
    (@impl map $name:ident |$z:ident| $body:expr) => {
        impl Map for $name {
            #[inline(always)]
            fn f<T: Cx>($z: T) -> T { $body }
        }
    };
    (@impl map2 $name:ident |$p:ident, $q:ident| $body:expr) => {
        impl Map2 for $name {
            #[inline(always)]
            fn f<T: Cx>($p: T, $q: T) -> T { $body }
        }
    };
    (@impl part $name:ident |$z:ident| $body:expr) => {
        impl ToPart for $name {
            #[inline(always)]
            fn f<T: Cx>($z: T) -> T::Part { $body }
        }
    };
}

complex_fns! {
    Negate: map |z| -z;
    Conjugate: map |z| z.conj();
    Reciprocal: map |z| z.recip();
    Square: map |z| z * z;
    Sqrt: map |z| z.sqrt();
    Rsqrt: map |z| z.sqrt().recip();
    Exp: map |z| z.exp();
    Log: map |z| z.ln();
    Sin: map |z| z.sin();
    Cos: map |z| z.cos();
    Tanh: map |z| z.tanh_principal();
    // tan z = −i·tanh(iz), asinh z = −i·asin(iz), atan z = −i·atanh(iz)
    Tan: map |z| z.times_i().tanh_principal().times_minus_i();
    Sinh: map |z| z.sinh();
    Cosh: map |z| z.cosh();
    Asin: map |z| z.asin_principal();
    Acos: map |z| z.acos_principal();
    Atan: map |z| z.times_i().atanh_principal().times_minus_i();
    Asinh: map |z| z.times_i().asin_principal().times_minus_i();
    Atanh: map |z| z.atanh_principal();
    Acosh: map |z| z.acosh_principal();
    Expm1: map |z| Cx::exp_m1(z);
    Log1p: map |z| Cx::ln_1p(z);
    // 1/(1 + e⁻ᶻ), as TF's complex logistic
    Sigmoid: map |z| (T::one() + (-z).exp()).recip();
    Sign: map |z| z.unit();
    Add: map2 |p, q| p + q;
    Sub: map2 |p, q| p - q;
    Mul: map2 |p, q| p * q;
    Div: map2 |p, q| p / q;
    // TF's complex pow is exp(q·log p) (`std::pow`), 0^q = 0 for q ≠ 0
    Pow: map2 |p, q| if p == T::zero() && q != T::zero() { p } else { (q * p.ln()).exp() };
    // exactly 0 where p = 0, whatever q (TF's Xlogy, Xdivy)
    Xlogy: map2 |p, q| if p == T::zero() { T::zero() } else { p * q.ln() };
    Xdivy: map2 |p, q| if p == T::zero() { T::zero() } else { p / q };
    RealPart: part |z| z.real_part();
    ImagPart: part |z| z.imag_part();
    Modulus: part |z| z.modulus();
    Argument: part |z| z.argument();
}

fn not_complex(op: &'static str, x: &Tensor) -> Error {
    Error::invalid(
        op,
        format!("expected a complex tensor, got {}", x.dtype().name()),
    )
}

fn map<F: Map>(op: &'static str, x: &Tensor) -> Result<Tensor> {
    Ok(Tensor::from_data(match x.data() {
        Data::C64(a) => Data::C64(kernels::map(a, F::f::<Complex<f32>>)?),
        Data::C128(a) => Data::C128(kernels::map(a, F::f::<Complex<f64>>)?),
        _ => return Err(not_complex(op, x)),
    }))
}

fn map2<F: Map2>(op: &'static str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_dtype(op, a, b)?;
    let s = broadcast_output(op, a.dtype(), a.shape(), b.shape())?;
    Ok(Tensor::from_data(match (a.data(), b.data()) {
        (Data::C64(x), Data::C64(y)) => Data::C64(kernels::zip(x, y, &s, F::f::<Complex<f32>>)?),
        (Data::C128(x), Data::C128(y)) => Data::C128(kernels::zip(x, y, &s, F::f::<Complex<f64>>)?),
        _ => return Err(not_complex(op, a)),
    }))
}

fn part<F: ToPart>(op: &'static str, x: &Tensor) -> Result<Tensor> {
    Ok(Tensor::from_data(match x.data() {
        Data::C64(a) => Data::F32(kernels::map(a, F::f::<Complex<f32>>)?),
        Data::C128(a) => Data::F64(kernels::map(a, F::f::<Complex<f64>>)?),
        _ => return Err(not_complex(op, x)),
    }))
}

/// `f` of the real and of the imaginary part of a complex tensor,
/// recombined: how the ops that are linear over the reals (sums,
/// scatter-adds) run on complex values with the real kernels. The parts
/// are fresh tensors no tape watches, so nothing here is recorded; the
/// caller records its own op.
pub(crate) fn by_parts(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Data> {
    let op = "complex parts";
    let re = f(&part::<RealPart>(op, x)?)?;
    let im = f(&part::<ImagPart>(op, x)?)?;
    Ok(complex(&re, &im)?.data().clone())
}

/// `by_parts` of an op of two complex tensors of one dtype (a scatter of
/// updates into a tensor): `f` on the two real parts, then on the two
/// imaginary parts.
pub(crate) fn by_parts2(
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Data> {
    let op = "complex parts";
    same_dtype(op, a, b)?;
    let re = f(&part::<RealPart>(op, a)?, &part::<RealPart>(op, b)?)?;
    let im = f(&part::<ImagPart>(op, a)?, &part::<ImagPart>(op, b)?)?;
    Ok(complex(&re, &im)?.data().clone())
}

/// A real tensor as the complex dtype of its precision (imaginary part 0).
fn as_complex(x: &Tensor) -> Result<Tensor> {
    match x.dtype() {
        DType::F32 => cast(x, DType::C64),
        DType::F64 => cast(x, DType::C128),
        _ => Ok(x.clone()),
    }
}

/// `re + i·im` elementwise (TF's `tf.complex`): two float32 tensors give
/// complex64, two float64 ones complex128, broadcasting. d/dre = real(g),
/// d/dim = imag(g).
pub fn complex(re: &Tensor, im: &Tensor) -> Result<Tensor> {
    let op = "Complex";
    if re.dtype() != im.dtype() || !matches!(re.dtype(), DType::F32 | DType::F64) {
        return Err(Error::invalid(
            op,
            format!(
                "The `real` and `imag` components have incorrect types: {} {}. They must be consistent, and one of [tf.float32, tf.float64]",
                re.dtype().name(),
                im.dtype().name()
            ),
        ));
    }
    let s = broadcast_output(op, re.dtype(), re.shape(), im.shape())?;
    let out = Tensor::from_data(match (re.data(), im.data()) {
        (Data::F32(x), Data::F32(y)) => Data::C64(kernels::zip(x, y, &s, Complex::new)?),
        (Data::F64(x), Data::F64(y)) => Data::C128(kernels::zip(x, y, &s, Complex::new)?),
        _ => return Err(Error::invalid(op, "dtypes checked float differ")),
    });
    tape::record_rule(
        op,
        &[re, im],
        &out,
        [],
        || (),
        [Some(|g, [], _| real(g)), Some(|g, [], _| imag(g))],
    );
    Ok(out)
}

/// The real part; a real tensor is its own real part (as in TF). The VJP
/// is complex(g, 0).
pub fn real(x: &Tensor) -> Result<Tensor> {
    let op = "Real";
    if !x.dtype().is_complex() {
        return Ok(x.clone());
    }
    let out = part::<RealPart>(op, x)?;
    tape::record_rule(op, &[x], &out, [], || (), [Some(|g, [], _| as_complex(g))]);
    Ok(out)
}

/// The imaginary part; zeros for a real tensor (as in TF). The VJP is
/// complex(0, g).
pub fn imag(x: &Tensor) -> Result<Tensor> {
    let op = "Imag";
    if !x.dtype().is_complex() {
        return zeros_like(x);
    }
    let out = part::<ImagPart>(op, x)?;
    tape::record_rule(
        op,
        &[x],
        &out,
        [],
        || (),
        [Some(|g, [], _| complex(&zeros_like(g)?, g))],
    );
    Ok(out)
}

/// The complex conjugate; a real tensor is returned as it is (TF). The VJP
/// is conj(g).
pub fn conj(x: &Tensor) -> Result<Tensor> {
    let op = "Conj";
    if !x.dtype().is_complex() {
        return Ok(x.clone());
    }
    let out = map::<Conjugate>(op, x)?;
    tape::record_rule(op, &[x], &out, [], || (), [Some(|g, [], _| conj(g))]);
    Ok(out)
}

/// The argument atan2(imag, real) of a complex tensor (a real tensor: π
/// where it is negative, else 0, as TF). The VJP is g·(−y + ix)/|z|², i.e.
/// −complex(g, 0)/(y + ix).
pub fn angle(x: &Tensor) -> Result<Tensor> {
    let op = "Angle";
    if !x.dtype().is_complex() {
        let negative = crate::ops::less(x, &zeros_like(x)?)?;
        let pi = Tensor::scalar_of(x.dtype(), std::f64::consts::PI);
        return crate::ops::where_(&negative, &pi, &zeros_like(x)?);
    }
    let out = part::<Argument>(op, x)?;
    tape::record_rule(
        op,
        &[x],
        &out,
        [x],
        || (),
        [Some(|g, [x], _| {
            let swapped = complex(&imag(x)?, &real(x)?)?;
            as_complex(g)?.div(&swapped)?.neg()
        })],
    );
    Ok(out)
}

/// `x` adjoint: the conjugate transpose of its last two axes (TF's
/// `tf.linalg.adjoint`; the transpose for real dtypes).
pub fn adjoint(x: &Tensor) -> Result<Tensor> {
    conj(&crate::ops::matrix_t(x)?)
}

fn unsupported(op: &'static str, x: &Tensor) -> Error {
    Error::UnsupportedDType {
        op,
        dtype: x.dtype(),
        allowed: "real dtypes only, as in TF",
    }
}

/// A unary table op on a complex tensor (`None` when `x` is not complex).
pub(crate) fn unary(op: &'static str, x: &Tensor) -> Option<Result<Tensor>> {
    x.dtype().is_complex().then(|| unary_complex(op, x))
}

/// Record a unary op whose VJP is g·conj(f′), f′ computed from the input
/// and the output.
type Derivative = fn(&Tensor, &Tensor) -> Result<Tensor>;

fn holomorphic(op: &'static str, x: &Tensor, y: Tensor, derivative: Derivative) -> Result<Tensor> {
    tape::record_rule(
        op,
        &[x],
        &y,
        [x, &y],
        move || derivative,
        [Some(|g, [x, y], derivative: &Derivative| {
            g.mul(&conj(&derivative(x, y)?)?)
        })],
    );
    Ok(y)
}

/// 1 in `t`'s dtype, to broadcast.
fn one(t: &Tensor) -> Tensor {
    Tensor::scalar_of(t.dtype(), 1.0)
}

/// 1 where `t` ≠ 0, else 0, in `t`'s dtype (no gradient flows through it).
fn nonzero(t: &Tensor) -> Result<Tensor> {
    cast(&crate::ops::not_equal(t, &zeros_like(t)?)?, t.dtype())
}

fn unary_complex(op: &'static str, x: &Tensor) -> Result<Tensor> {
    match op {
        "Neg" => {
            let y = map::<Negate>(op, x)?;
            tape::record_rule(op, &[x], &y, [], || (), [Some(|g, [], _| g.neg())]);
            Ok(y)
        }
        "Abs" => {
            let y = part::<Modulus>(op, x)?;
            // g·z/|z|, 0 at z = 0 (TF divides with div_no_nan), written with
            // z and |z| so that it differentiates again
            tape::record_rule(
                op,
                &[x],
                &y,
                [x, &y],
                || (),
                [Some(|g, [x, y], _| {
                    let at_zero = crate::ops::equal(y, &zeros_like(y)?)?;
                    let one = Tensor::scalar_of(y.dtype(), 1.0);
                    let unit = x.div(&as_complex(&crate::ops::where_(&at_zero, &one, y)?)?)?;
                    let unit = crate::ops::where_(&at_zero, &zeros_like(&unit)?, &unit)?;
                    as_complex(g)?.mul(&unit)
                })],
            );
            Ok(y)
        }
        "Sign" => {
            let y = map::<Sign>(op, x)?;
            tape::record_rule(op, &[x], &y, [], || (), [Some(|g, [], _| zeros_like(g))]);
            Ok(y)
        }
        "Square" => holomorphic(op, x, map::<Square>(op, x)?, |x, _| x.scale(2.0)),
        "Reciprocal" => holomorphic(op, x, map::<Reciprocal>(op, x)?, |_, y| y.mul(y)?.neg()),
        "Sqrt" => holomorphic(op, x, map::<Sqrt>(op, x)?, |_, y| {
            crate::ops::reciprocal(y)?.scale(0.5)
        }),
        "Rsqrt" => holomorphic(op, x, map::<Rsqrt>(op, x)?, |_, y| {
            y.mul(y)?.mul(y)?.scale(-0.5)
        }),
        "Exp" => holomorphic(op, x, map::<Exp>(op, x)?, |_, y| Ok(y.clone())),
        "Log" => holomorphic(op, x, map::<Log>(op, x)?, |x, _| crate::ops::reciprocal(x)),
        "Sin" => holomorphic(op, x, map::<Sin>(op, x)?, |x, _| crate::ops::cos(x)),
        "Cos" => holomorphic(op, x, map::<Cos>(op, x)?, |x, _| crate::ops::sin(x)?.neg()),
        "Tanh" => holomorphic(op, x, map::<Tanh>(op, x)?, |_, y| {
            let one = Tensor::scalar_of(y.dtype(), 1.0);
            one.sub(&y.mul(y)?)
        }),
        "Tan" => holomorphic(op, x, map::<Tan>(op, x)?, |_, y| one(y).add(&y.mul(y)?)),
        "Sinh" => holomorphic(op, x, map::<Sinh>(op, x)?, |x, _| crate::ops::cosh(x)),
        "Cosh" => holomorphic(op, x, map::<Cosh>(op, x)?, |x, _| crate::ops::sinh(x)),
        "Sigmoid" => holomorphic(op, x, map::<Sigmoid>(op, x)?, |_, y| y.mul(&one(y).sub(y)?)),
        "Expm1" => holomorphic(op, x, map::<Expm1>(op, x)?, |x, _| crate::ops::exp(x)),
        "Log1p" => holomorphic(op, x, map::<Log1p>(op, x)?, |x, _| {
            crate::ops::reciprocal(&one(x).add(x)?)
        }),
        // the derivatives as TF writes them (1/√(1 − z²), 1/cosh(asinh z), …):
        // equal off the branch cuts, and TF's own on them
        "Asin" => holomorphic(op, x, map::<Asin>(op, x)?, |x, _| {
            crate::ops::reciprocal(&crate::ops::sqrt(&one(x).sub(&x.mul(x)?)?)?)
        }),
        "Acos" => holomorphic(op, x, map::<Acos>(op, x)?, |x, _| {
            crate::ops::reciprocal(&crate::ops::sqrt(&one(x).sub(&x.mul(x)?)?)?)?.neg()
        }),
        "Atan" => holomorphic(op, x, map::<Atan>(op, x)?, |x, _| {
            crate::ops::reciprocal(&one(x).add(&x.mul(x)?)?)
        }),
        "Asinh" => holomorphic(op, x, map::<Asinh>(op, x)?, |_, y| {
            crate::ops::reciprocal(&crate::ops::cosh(y)?)
        }),
        "Acosh" => holomorphic(op, x, map::<Acosh>(op, x)?, |_, y| {
            crate::ops::reciprocal(&crate::ops::sinh(y)?)
        }),
        "Atanh" => holomorphic(op, x, map::<Atanh>(op, x)?, |x, _| {
            crate::ops::reciprocal(&one(x).sub(&x.mul(x)?)?)
        }),
        _ => Err(unsupported(op, x)),
    }
}

/// A binary table op (or `pow`) with a complex operand (`None` when neither
/// is complex). Operands of different dtypes are refused, as TF does.
pub(crate) fn binary(op: &'static str, a: &Tensor, b: &Tensor) -> Option<Result<Tensor>> {
    (a.dtype().is_complex() || b.dtype().is_complex()).then(|| binary_complex(op, a, b))
}

fn binary_complex(op: &'static str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_dtype(op, a, b)?;
    type BinaryRule = fn(&Tensor, &Tensor, &Tensor, &Tensor) -> Result<Tensor>;
    let record = |out: &Tensor, rules: [BinaryRule; 2]| {
        let [ra, rb] = rules;
        tape::record_rule(
            op,
            &[a, b],
            out,
            [a, b, out],
            move || (ra, rb),
            [
                Some(|g, [a, b, out], (ra, _): &(BinaryRule, BinaryRule)| ra(g, a, b, out)),
                Some(|g, [a, b, out], (_, rb): &(BinaryRule, BinaryRule)| rb(g, a, b, out)),
            ],
        );
    };
    let out = match op {
        "AddV2" => {
            let out = map2::<Add>(op, a, b)?;
            record(
                &out,
                [|g, _, _, _| Ok(g.clone()), |g, _, _, _| Ok(g.clone())],
            );
            out
        }
        "Sub" => {
            let out = map2::<Sub>(op, a, b)?;
            record(&out, [|g, _, _, _| Ok(g.clone()), |g, _, _, _| g.neg()]);
            out
        }
        "Mul" => {
            let out = map2::<Mul>(op, a, b)?;
            record(
                &out,
                [|g, _, b, _| g.mul(&conj(b)?), |g, a, _, _| g.mul(&conj(a)?)],
            );
            out
        }
        "RealDiv" => {
            let out = map2::<Div>(op, a, b)?;
            // d(a/b)/da = 1/b, d(a/b)/db = −(a/b)/b
            record(
                &out,
                [
                    |g, _, b, _| g.div(&conj(b)?),
                    |g, _, b, out| g.mul(&conj(&out.div(b)?.neg()?)?),
                ],
            );
            out
        }
        // TF's complex SquaredDifference is (a − b)·conj(a − b), real-valued;
        // composed, the ops below record its gradient
        "SquaredDifference" => {
            let d = a.sub(b)?;
            return d.mul(&conj(&d)?);
        }
        "Pow" => {
            let out = map2::<Pow>(op, a, b)?;
            // d/da = b·a^(b−1); d/db = a^b·log a, with log a read as 0 at
            // a = 0 (TF masks it there)
            record(
                &out,
                [
                    |g, a, b, _| {
                        let one = Tensor::scalar_of(b.dtype(), 1.0);
                        g.mul(&conj(&b.mul(&crate::ops::pow(a, &b.sub(&one)?)?)?)?)
                    },
                    |g, a, _, out| {
                        let zero = zeros_like(a)?;
                        let nonzero = crate::ops::not_equal(a, &zero)?;
                        let one = Tensor::scalar_of(a.dtype(), 1.0);
                        let safe = crate::ops::where_(&nonzero, a, &one)?;
                        let log_a = crate::ops::where_(&nonzero, &crate::ops::log(&safe)?, &zero)?;
                        g.mul(&conj(&out.mul(&log_a)?)?)
                    },
                ],
            );
            out
        }
        // d/da = log b and d/db = a/b where a ≠ 0, both 0 where a = 0 (the
        // real rule's zeros, so every order keeps them), conjugated as the
        // convention asks (TF's Xlogy/Xdivy gradients leave that out)
        "Xlogy" => {
            let out = map2::<Xlogy>(op, a, b)?;
            record(
                &out,
                [
                    |g, a, b, _| g.mul(&conj(&crate::ops::xlogy(&nonzero(a)?, b)?)?),
                    |g, a, b, _| g.mul(&conj(&crate::ops::xdivy(a, b)?)?),
                ],
            );
            out
        }
        // d/da = 1/b and d/db = −a/b² where a ≠ 0, both 0 where a = 0
        "Xdivy" => {
            let out = map2::<Xdivy>(op, a, b)?;
            record(
                &out,
                [
                    |g, a, b, _| g.mul(&conj(&crate::ops::xdivy(&nonzero(a)?, b)?)?),
                    |g, a, b, _| g.mul(&conj(&crate::ops::xdivy(&a.neg()?, &b.mul(b)?)?)?),
                ],
            );
            out
        }
        _ => return Err(unsupported(op, a)),
    };
    Ok(out)
}

/// `==` and `!=` of complex tensors; the ordering comparisons are refused
/// (complex numbers have no order), as in TF.
pub(crate) fn compare(op: &'static str, a: &Tensor, b: &Tensor) -> Option<Result<Tensor>> {
    if !a.dtype().is_complex() && !b.dtype().is_complex() {
        return None;
    }
    Some((|| {
        same_dtype(op, a, b)?;
        let s = broadcast_output(op, DType::Bool, a.shape(), b.shape())?;
        let equal = match op {
            "Equal" => true,
            "NotEqual" => false,
            _ => return Err(unsupported(op, a)),
        };
        fn eq<T: PartialEq>(equal: bool) -> impl Fn(T, T) -> bool + Sync + Send {
            move |p, q| (p == q) == equal
        }
        Ok(Tensor::from_data(Data::Bool(match (a.data(), b.data()) {
            (Data::C64(x), Data::C64(y)) => kernels::zip(x, y, &s, eq(equal))?,
            (Data::C128(x), Data::C128(y)) => kernels::zip(x, y, &s, eq(equal))?,
            _ => return Err(not_complex(op, a)),
        })))
    })())
}

/// `a @ b` of two complex matrices (ndarray's product; complex matmul has
/// no packed kernel here).
pub(crate) fn matmul_2d<T: Cx + ndarray::LinalgScalar>(
    a: ndarray::ArrayView2<'_, T>,
    b: ndarray::ArrayView2<'_, T>,
    ta: bool,
    tb: bool,
) -> Result<ndarray::ArrayD<T>> {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    Ok(a.dot(&b).into_dyn())
}

/// The size of the square matrices of a complex stack.
fn square_matrices(op: &'static str, a: &Tensor) -> Result<usize> {
    let r = a.rank();
    if r < 2 || a.shape()[r - 1] != a.shape()[r - 2] {
        return Err(Error::invalid(
            op,
            format!("Input matrix must be square, got shape {:?}", a.shape()),
        ));
    }
    Ok(a.shape()[r - 1])
}

/// A complex matrix stack M = X + iY as the real stack [[X, −Y], [Y, X]].
/// The map is a ring homomorphism, so the real inverse (or solution) of the
/// embedding is the embedding of the complex one: its first block column
/// holds the real and the imaginary part. Made of ops, so the gradients
/// (in the convention, through `real`/`imag`/`complex`) and every higher
/// order follow; a singular A has a singular embedding (det = |det A|²).
fn embed(a: &Tensor) -> Result<Tensor> {
    let (x, y) = (real(a)?, imag(a)?);
    let top = crate::ops::concat(&[x.clone(), y.neg()?], -1)?;
    let bottom = crate::ops::concat(&[y, x], -1)?;
    crate::ops::concat(&[top, bottom], -2)
}

/// The complex stack whose real and imaginary parts are the first and the
/// next `n` rows (axis −2) of `m`.
fn unembed_rows(m: &Tensor, n: usize) -> Result<Tensor> {
    let axis = m.rank() - 2;
    complex(
        &crate::ops::slice_along(m, axis, 0, n)?,
        &crate::ops::slice_along(m, axis, n, n)?,
    )
}

/// `tf.linalg.inv` of a complex stack, through the real embedding.
pub(crate) fn inv(a: &Tensor) -> Result<Tensor> {
    let n = square_matrices("MatrixInverse", a)?;
    let e = crate::ops::inv(&embed(a)?)?;
    unembed_rows(&crate::ops::slice_along(&e, e.rank() - 1, 0, n)?, n)
}

/// `tf.linalg.solve` of complex stacks: embed(A)·[Re X; Im X] = [Re B; Im B].
pub(crate) fn solve(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "MatrixSolve";
    same_dtype(op, a, b)?;
    let n = square_matrices(op, a)?;
    if b.rank() < 2 || b.shape()[b.rank() - 2] != n {
        return Err(Error::invalid(
            op,
            format!(
                "Input matrix and right-hand side must have the same number of rows and batch shape: {:?} vs. {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let rhs = crate::ops::concat(&[real(b)?, imag(b)?], -2)?;
    unembed_rows(&crate::ops::solve(&embed(a)?, &rhs)?, n)
}

/// det of an n×n row-major complex matrix: LU with partial pivoting on the
/// largest modulus, the product of the pivots (0 when a column has none).
fn lu_det(mut m: Vec<Complex<f64>>, n: usize) -> Complex<f64> {
    let zero = Complex::new(0.0, 0.0);
    let mut det = Complex::new(1.0, 0.0);
    for k in 0..n {
        let p = (k..n)
            .max_by(|&i, &j| m[i * n + k].norm().total_cmp(&m[j * n + k].norm()))
            .unwrap_or(k);
        if m[p * n + k] == zero {
            return zero;
        }
        if p != k {
            for c in 0..n {
                m.swap(k * n + c, p * n + c);
            }
            det = -det;
        }
        let pivot = m[k * n + k];
        det *= pivot;
        for i in k + 1..n {
            let f = m[i * n + k] / pivot;
            for c in k + 1..n {
                let above = m[k * n + c];
                m[i * n + c] -= f * above;
            }
        }
    }
    det
}

/// `tf.linalg.det` of a complex stack (computed in complex128). The VJP of
/// d det = det·tr(A⁻¹·dA) is g·conj(det)·(A⁻¹)ᴴ.
pub(crate) fn det(a: &Tensor) -> Result<Tensor> {
    let op = "MatrixDeterminant";
    let n = square_matrices(op, a)?;
    let values = complex128_values(op, a)?;
    let batch = &a.shape()[..a.rank() - 2];
    let dets: Vec<Complex<f64>> = if n == 0 {
        vec![Complex::new(1.0, 0.0); batch.iter().product()]
    } else {
        values
            .chunks(n * n)
            .map(|m| lu_det(m.to_vec(), n))
            .collect()
    };
    let d = in_dtype_of(a, batch, dets)?;
    tape::record_rule(
        op,
        &[a],
        &d,
        [a, &d],
        || (),
        [Some(|g, [a, d], _| {
            let s = g.mul(&conj(d)?)?;
            let lead = crate::ops::lead(g, a.rank() - 2);
            let shape = crate::ops::with_lead(&crate::ops::with_lead(lead, d.shape()), &[1, 1]);
            crate::ops::reshape_to(&s, &shape)?.mul(&adjoint(&crate::ops::inv(a)?)?)
        })],
    );
    Ok(d)
}

/// The complex Cholesky factor L (lower, L·Lᴴ = A) of each matrix of a
/// Hermitian positive-definite stack, computed in complex128; no gradient
/// is recorded (`crate::ops::cholesky` records it). Only the lower triangle
/// and the real part of the diagonal are read, as TF:
/// L_jj = √(Re A_jj − Σ_p |L_jp|²), L_ij = (A_ij − Σ_p L_ip·conj(L_jp)) / L_jj.
pub(crate) fn cholesky(a: &Tensor) -> Result<Tensor> {
    let op = "Cholesky";
    let n = square_matrices(op, a)?;
    let values = complex128_values(op, a)?;
    let mut out = vec![Complex::new(0.0, 0.0); values.len()];
    for (m, l) in values
        .chunks(n.max(1) * n.max(1))
        .zip(out.chunks_mut(n.max(1) * n.max(1)))
    {
        for i in 0..n {
            for j in 0..=i {
                let s: Complex<f64> = (0..j).map(|p| l[i * n + p] * l[j * n + p].conj()).sum();
                if i == j {
                    let d = m[i * n + i].re - s.re;
                    // TF's complex kernel returns garbage here; refuse as the real one does.
                    if d.is_nan() || d <= 0.0 {
                        return Err(Error::invalid(
                            op,
                            "Cholesky decomposition was not successful. The input might not be valid.",
                        ));
                    }
                    l[i * n + i] = Complex::new(d.sqrt(), 0.0);
                } else {
                    l[i * n + j] = (m[i * n + j] - s) / l[j * n + j].re;
                }
            }
        }
    }
    in_dtype_of(a, a.shape(), out)
}

/// A complex stack's elements in complex128, in logical order (kernels that
/// compute in complex128 whatever the input's precision).
fn complex128_values(op: &'static str, a: &Tensor) -> Result<Vec<Complex<f64>>> {
    if !a.dtype().is_complex() {
        return Err(not_complex(op, a));
    }
    let wide = crate::ops::convert_dtype(a, DType::C128)?;
    Ok(wide
        .array::<Complex<f64>>()
        .map_or_else(Vec::new, |v| v.iter().copied().collect()))
}

/// complex128 `values` of `shape` back in `like`'s complex dtype.
fn in_dtype_of(like: &Tensor, shape: &[usize], values: Vec<Complex<f64>>) -> Result<Tensor> {
    crate::ops::convert_dtype(&Tensor::from_vec(shape, values)?, like.dtype())
}

/// Values of a complex tensor as (re, im) pairs, for tests.
#[cfg(test)]
fn pairs(t: &Tensor) -> Vec<(f64, f64)> {
    fn of<T: Cx>(a: &ndarray::ArcArray<T, ndarray::IxDyn>) -> Vec<(f64, f64)>
    where
        T::Part: Into<f64>,
    {
        a.iter()
            .map(|z| (z.real_part().into(), z.imag_part().into()))
            .collect()
    }
    match t.data() {
        Data::C64(a) => of(a),
        Data::C128(a) => of(a),
        _ => Vec::new(),
    }
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (complex) => { $crate::ops::with_example!(
        r#"`real + i·imag` elementwise: float32 parts give complex64, float64 ones complex128 (TF's `tf.complex`); d/dreal = real(g), d/dimag = imag(g)."#,
        r#">>> print(tf.complex(tf.constant([1.0, 2.0]), tf.constant([3.0, -4.0])))
tapegrad.Tensor([1.+3.j 2.-4.j], shape=(2,), dtype=complex64)"#
    ) };
    (real) => { $crate::ops::with_example!(
        r#"The real part of a complex tensor (a real tensor is returned as it is); d = complex(g, 0)."#,
        r#">>> print(tf.math.real(tf.constant([1 + 2j, 3 - 4j])))
tapegrad.Tensor([1. 3.], shape=(2,), dtype=float64)"#
    ) };
    (imag) => { $crate::ops::with_example!(
        r#"The imaginary part of a complex tensor (zeros for a real one); d = complex(0, g)."#,
        r#">>> print(tf.math.imag(tf.constant([1 + 2j, 3 - 4j])))
tapegrad.Tensor([ 2. -4.], shape=(2,), dtype=float64)"#
    ) };
    (conj) => { $crate::ops::with_example!(
        r#"The complex conjugate (a real tensor is returned as it is); d = conj(g)."#,
        r#">>> print(tf.math.conj(tf.constant([1 + 2j, 3 - 4j], tf.complex64)))
tapegrad.Tensor([1.-2.j 3.+4.j], shape=(2,), dtype=complex64)"#
    ) };
    (angle) => { $crate::ops::with_example!(
        r#"The argument atan2(imag, real) of each complex element (a real tensor: π where negative, else 0)."#,
        r#">>> print(tf.math.angle(tf.constant([1j, -1 + 0j])))
tapegrad.Tensor([1.57079633 3.14159265], shape=(2,), dtype=float64)"#
    ) };
    (adjoint) => { $crate::ops::with_example!(
        r#"The conjugate transpose of the last two axes (the transpose for real dtypes)."#,
        r#">>> print(tf.linalg.adjoint(tf.constant([[1 + 1j, 2 - 1j]], tf.complex64)))
tapegrad.Tensor(
[[1.-1.j]
 [2.+1.j]], shape=(2, 1), dtype=complex64)"#
    ) };
    ($name:ident) => { $crate::ops::create::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    fn c128(v: &[(f64, f64)]) -> Tensor {
        let z: Vec<Complex<f64>> = v.iter().map(|&(r, i)| Complex::new(r, i)).collect();
        Tensor::from_vec(&[v.len()], z).unwrap()
    }

    #[test]
    fn arithmetic_and_parts() {
        let z = c128(&[(1.0, 2.0), (-3.0, -4.0)]);
        let w = c128(&[(0.5, -1.0), (2.0, 0.25)]);
        assert_eq!(pairs(&z.mul(&w).unwrap()), [(2.5, 0.0), (-5.0, -8.75)]);
        assert_eq!(pairs(&conj(&z).unwrap()), [(1.0, -2.0), (-3.0, 4.0)]);
        let m = crate::ops::abs(&z).unwrap();
        assert_eq!(m.dtype(), DType::F64);
        assert_eq!(m.array::<f64>().unwrap().as_slice().unwrap()[1], 5.0);
        let back = complex(&real(&z).unwrap(), &imag(&z).unwrap()).unwrap();
        assert_eq!(pairs(&back), pairs(&z));
    }

    #[test]
    fn branch_cuts_follow_the_sign_of_zero() {
        let z = c128(&[(2.0, 0.0), (2.0, -0.0)]);
        let asin = pairs(&crate::ops::asin(&z).unwrap());
        assert!(asin[0].1 > 1.3 && asin[1].1 < -1.3);
        let atanh = pairs(&crate::ops::atanh(&z).unwrap());
        assert_eq!(atanh[0].1, std::f64::consts::FRAC_PI_2);
        assert_eq!(atanh[1].1, -std::f64::consts::FRAC_PI_2);
        // expm1 and log1p keep the digits of a tiny argument
        let tiny = c128(&[(1e-20, 2e-20)]);
        assert_eq!(pairs(&crate::ops::expm1(&tiny).unwrap()), [(1e-20, 2e-20)]);
        assert_eq!(pairs(&crate::ops::log1p(&tiny).unwrap()), [(1e-20, 2e-20)]);
        // tanh of a large real part is ±1, not NaN
        let big = c128(&[(800.0, 1.0)]);
        assert_eq!(pairs(&crate::ops::tanh(&big).unwrap())[0].0, 1.0);
    }

    #[test]
    fn determinant_inverse_and_solve() {
        // [[1, i], [i, 1]]: det = 1 − i² = 2, inverse [[1, −i], [−i, 1]]/2
        let a = Tensor::from_vec(
            &[2, 2],
            vec![
                Complex::new(1.0, 0.0),
                Complex::new(0.0, 1.0),
                Complex::new(0.0, 1.0),
                Complex::new(1.0, 0.0),
            ],
        )
        .unwrap();
        assert_eq!(pairs(&det(&a).unwrap()), [(2.0, 0.0)]);
        let inverse = [(0.5, 0.0), (0.0, -0.5), (0.0, -0.5), (0.5, 0.0)];
        assert_eq!(pairs(&inv(&a).unwrap()), inverse);
        let b = Tensor::from_vec(
            &[2, 1],
            vec![Complex::new(1.0, 1.0), Complex::new(0.0, 0.0)],
        )
        .unwrap();
        // x = A⁻¹b = (1 + i)·[1/2, −i/2]
        assert_eq!(pairs(&solve(&a, &b).unwrap()), [(0.5, 0.5), (0.5, -0.5)]);
    }

    #[test]
    fn cholesky_of_a_hermitian_matrix() {
        // [[4, 1 − 2i], [1 + 2i, 6]] = L·Lᴴ with L = [[2, 0], [(1 + 2i)/2, √4.75]];
        // the upper triangle and the diagonal's imaginary parts are not read
        let a = |upper: Complex<f64>, diag_im: f64| {
            Tensor::from_vec(
                &[2, 2],
                vec![
                    Complex::new(4.0, diag_im),
                    upper,
                    Complex::new(1.0, 2.0),
                    Complex::new(6.0, -diag_im),
                ],
            )
            .unwrap()
        };
        let want = [(2.0, 0.0), (0.0, 0.0), (0.5, 1.0), (4.75f64.sqrt(), 0.0)];
        assert_eq!(
            pairs(&cholesky(&a(Complex::new(1.0, -2.0), 0.0)).unwrap()),
            want
        );
        assert_eq!(
            pairs(&cholesky(&a(Complex::new(99.0, 9.0), 3.0)).unwrap()),
            want
        );
        // with a unit diagonal the last pivot is 1 − |1 + 2i|² = −4: refused
        let not_definite = Tensor::from_vec(
            &[2, 2],
            vec![
                Complex::new(1.0, 0.0),
                Complex::new(0.0, 0.0),
                Complex::new(1.0, 2.0),
                Complex::new(1.0, 0.0),
            ],
        )
        .unwrap();
        assert!(cholesky(&not_definite).is_err());
    }

    #[test]
    fn refuses_what_tf_refuses() {
        let z = c128(&[(1.0, 2.0)]);
        assert!(matches!(
            crate::ops::less(&z, &z),
            Err(Error::UnsupportedDType { op: "Less", .. })
        ));
        assert!(matches!(
            crate::ops::relu(&z),
            Err(Error::UnsupportedDType { op: "Relu", .. })
        ));
        let x = Tensor::from_vec(&[1], vec![1.0f64]).unwrap();
        assert!(matches!(
            crate::ops::add(&z, &x),
            Err(Error::DTypeMismatch { .. })
        ));
    }
}
