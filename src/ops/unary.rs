//! Elementwise ops of one tensor, one row each:
//! `name "TfOpName" dtypes domain |v| forward => [vjp]`, where the VJP is
//! `g, in x: …` (saves the input), `g, out y: …` (saves the output, when the
//! derivative is cheaper from it), `g: …` (saves nothing) or `nondiff`.

use crate::dtype::{Num, Real};
use crate::error::{Error, Result};
use crate::kernels;
use crate::ops::{OpFn, OpInfo};
use crate::tape;
use crate::tensor::{Data, Tensor};

/// A forward function over float elements.
pub(crate) trait RealFn {
    fn f<T: Real>(v: T) -> T;
}

/// A forward function over every numeric element type.
pub(crate) trait NumFn {
    fn f<T: Num>(v: T) -> T;
}

pub(crate) fn apply_real<F: RealFn>(op: &'static str, x: &Tensor) -> Result<Tensor> {
    Ok(Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(kernels::map(a, F::f::<f32>)),
        Data::F64(a) => Data::F64(kernels::map(a, F::f::<f64>)),
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
    Ok(Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(kernels::map(a, F::f::<f32>)),
        Data::F64(a) => Data::F64(kernels::map(a, F::f::<f64>)),
        Data::I32(a) => Data::I32(kernels::map(a, F::f::<i32>)),
        Data::I64(a) => Data::I64(kernels::map(a, F::f::<i64>)),
        Data::Bool(_) => {
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
            fn f<T: Real>($v: T) -> T {
                $fwd
            }
        }
        apply_real::<Forward>($tf, $x)
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

    (@record $tf:literal, $x:ident, $y:ident, [nondiff]) => {};
    (@record $tf:literal, $x:ident, $y:ident, [$g:ident: $vjp:expr]) => {
        tape::record($tf, &[$x], &[&$y], || {
            Box::new(move |grads, _| {
                let $g = &grads[0];
                Ok(vec![Some($vjp?)])
            })
        })
    };
    (@record $tf:literal, $x:ident, $y:ident, [$g:ident, in $sx:ident: $vjp:expr]) => {
        tape::record($tf, &[$x], &[&$y], || {
            let $sx = $x.clone();
            Box::new(move |grads, _| {
                let $g = &grads[0];
                let $sx = &$sx;
                Ok(vec![Some($vjp?)])
            })
        })
    };
    (@record $tf:literal, $x:ident, $y:ident, [$g:ident, out $sy:ident: $vjp:expr]) => {
        tape::record($tf, &[$x], &[&$y], || {
            let $sy = $y.clone();
            Box::new(move |grads, _| {
                let $g = &grads[0];
                let $sy = &$sy;
                Ok(vec![Some($vjp?)])
            })
        })
    };
}

macro_rules! unary_ops {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident $tf:literal $kind:ident $domain:ident |$v:ident| $fwd:expr => [$($vjp:tt)*];
    )*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name(x: &Tensor) -> Result<Tensor> {
                let y = unary_op!(@forward $kind, $tf, x, |$v| $fwd)?;
                unary_op!(@record $tf, x, y, [$($vjp)*]);
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
    negative "Neg" numeric real |v| -v => [g: g.neg()];
    /// |x|; the subgradient at 0 is 0, as in TF.
    abs "Abs" numeric real |v| if v < T::ZERO { -v } else { v } => [g, in x: g.mul(&sign(x)?)];
    /// −1, 0 or 1 (NaN stays NaN); the gradient is zero everywhere, as in TF.
    sign "Sign" numeric real |v| if v > T::ZERO { T::ONE } else if v < T::ZERO { -T::ONE } else { v }
        => [g: crate::ops::zeros_like(g)];
    /// x²
    square "Square" numeric real |v| v * v => [g, in x: g.mul(x)?.scale(2.0)];
    /// eˣ; d/dx eˣ = eˣ, read from the output.
    exp "Exp" float real |v| v.exp() => [g, out y: g.mul(y)];
    /// Natural logarithm.
    log "Log" float positive |v| v.ln() => [g, in x: g.div(x)];
    sin "Sin" float real |v| v.sin() => [g, in x: g.mul(&cos(x)?)];
    cos "Cos" float real |v| v.cos() => [g, in x: g.mul(&sin(x)?)?.neg()];
    /// d tanh = 1 − tanh², read from the output.
    tanh "Tanh" float real |v| v.tanh() => [g, out y: g.mul(&ones_minus_square(y)?)];
    /// d √x = 1 / (2√x), read from the output.
    sqrt "Sqrt" float positive |v| v.sqrt() => [g, out y: g.div(y)?.scale(0.5)];
}

/// 1 − y², the factor in the derivatives of tanh.
fn ones_minus_square(y: &Tensor) -> Result<Tensor> {
    Tensor::scalar_of(y.dtype(), 1.0).sub(&square(y)?)
}
