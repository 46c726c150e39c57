//! Reductions over axes, and the sum that undoes a broadcast.

use ndarray::{ArcArray, IxDyn};
use num_complex::Complex;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::reduce::{arg_axis, fold_axes, scan_axis, sum_axes};
use crate::ops::complex::conj;
use crate::ops::convert::{computed, widen};
use crate::ops::{
    abs, broadcast_to, cast, equal, exp, float_only, is_finite, lead, log, logical_and, reshape_to,
    sqrt, square, squared_difference, stop_gradient, transpose, where_, with_lead, zeros,
};
use crate::shape::{broadcast_reduction_axes, normalize_axes, normalize_axis};
use crate::tape;
use crate::tensor::{Data, Tensor};

/// A kernel's result (reduced axes kept as 1) reshaped to the op's output shape.
fn shaped<T: Clone>(
    op: &'static str,
    a: ArcArray<T, IxDyn>,
    shape: &[usize],
) -> Result<ArcArray<T, IxDyn>> {
    a.into_shape_clone(IxDyn(shape))
        .map_err(|_| Error::invalid(op, "internal reshape failed"))
}

/// Resolve TF's `axis` argument: `None` reduces everything.
fn resolve_axes(op: &'static str, x: &Tensor, axis: Option<&[i64]>) -> Result<Vec<usize>> {
    match axis {
        None => Ok((0..x.rank()).collect()),
        Some(a) => normalize_axes(op, a, x.rank()),
    }
}

/// The shape after reducing `axes`, with them kept as 1 or dropped.
fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// Sum over `axis` (all axes when `None`).
pub fn reduce_sum(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let op = "Sum";
    let axes = resolve_axes(op, x, axis)?;
    let out_shape = reduced_shape(x.shape(), &axes, keepdims);
    let dim = IxDyn(&out_shape);
    let reshape_err = |_| Error::invalid(op, "internal reshape failed");
    let out = Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(
            sum_axes(a, &axes)?
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::F64(a) => Data::F64(
            sum_axes(a, &axes)?
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::I32(a) => Data::I32(
            sum_axes(a, &axes)?
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::I64(a) => Data::I64(
            sum_axes(a, &axes)?
                .into_shape_clone(dim)
                .map_err(reshape_err)?,
        ),
        Data::Bool(_) | Data::Str(_) => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: x.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
        Data::C64(_) | Data::C128(_) => {
            crate::ops::complex::by_parts(x, |w| reduce_sum(w, axis, keepdims))?
        }
        // float16/bfloat16 accumulate in float32 and round once
        _ => computed([x], false, |[w]| reduce_sum(w, axis, keepdims))?,
    });
    if out_shape.is_empty() {
        crate::trace::note_op(op, &[x], &out);
    }
    record_sum(x, &axes, &out);
    Ok(out)
}

/// `reduce_sum(x)` over every axis as a tape node on a zero scalar, the sum
/// not computed: for a traced sum whose value nothing reads, only its
/// gradient (a replayed loss that the function does not return). The VJP
/// reads only `x`'s shape, so the gradients are `reduce_sum`'s.
pub fn reduce_sum_unevaluated(x: &Tensor) -> Result<Tensor> {
    let out = zeros(x.dtype(), &[])?;
    let axes: Vec<usize> = (0..x.rank()).collect();
    record_sum(x, &axes, &out);
    Ok(out)
}

/// Record `out = reduce_sum(x)` over `axes` on the active tapes.
fn record_sum(x: &Tensor, axes: &[usize], out: &Tensor) {
    // Every input element contributed once: spread g back over the reduced axes.
    let ctx = || {
        let in_shape = x.shape().to_vec();
        let kept = reduced_shape(&in_shape, axes, true);
        (in_shape, kept, out.rank())
    };
    tape::record_rule(
        "Sum",
        &[x],
        out,
        [],
        ctx,
        [Some(|g, [], (in_shape, kept, out_rank)| {
            let lead = lead(g, *out_rank);
            broadcast_to(
                &reshape_to(g, &with_lead(lead, kept))?,
                &with_lead(lead, in_shape),
            )
        })],
    );
}

/// Mean over `axis`; integer means truncate, as in TF.
pub fn reduce_mean(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let op = "Mean";
    let axes = resolve_axes(op, x, axis)?;
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    if x.dtype().is_storage_only() {
        // TF accumulates a narrow integer mean wider (uint8 [255, 255] has
        // mean 255) and a half-precision one in float32
        let wide = cast(x, x.dtype().compute_dtype())?;
        return cast(&reduce_mean(&wide, axis, keepdims)?, x.dtype());
    }
    let sum = reduce_sum(x, axis, keepdims)?;
    match sum.data() {
        Data::I32(a) => Ok(Tensor::from_data(Data::I32(crate::kernels::map(a, |v| {
            if count == 0 { 0 } else { v / count as i32 }
        })?))),
        Data::I64(a) => Ok(Tensor::from_data(Data::I64(crate::kernels::map(a, |v| {
            if count == 0 { 0 } else { v / count as i64 }
        })?))),
        // 0/0 is NaN for an empty float reduction, as in TF.
        _ => sum.div(&Tensor::scalar_of(x.dtype(), count as f64)),
    }
}

/// The Euclidean norm over `axis` (all elements when `None`). Its gradient
/// at the zero vector is NaN, as in TF: d√s/ds is infinite there.
pub fn norm_euclidean(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    if x.dtype().is_complex() {
        // √Σ z·conj(z): complex, as TF's norm and EuclideanNorm
        return sqrt(&reduce_sum(&x.mul(&conj(x)?)?, axis, keepdims)?);
    }
    if !x.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op: "norm",
            dtype: x.dtype(),
            allowed: "float32, float64",
        });
    }
    sqrt(&reduce_sum(&square(x)?, axis, keepdims)?)
}

/// Sum a gradient `g` of shape `lead ++ out` (with `nlead` leading batch
/// dimensions, see `ops::lead`) down to `lead ++ shape`, where `out` is
/// `shape` broadcast. Unlike `sum_to_shape`, this knows where the batch
/// dimensions end, so an input of lower rank than the output is summed over
/// the output's extra leading axes, not over the batch.
pub fn unbroadcast(g: &Tensor, nlead: usize, shape: &[usize]) -> Result<Tensor> {
    // most gradients already have their input's shape: nothing to build
    // (the backward pass calls this for every gradient it passes on)
    if nlead == 0 && g.shape() == shape {
        return Ok(g.clone());
    }
    let out_rank = g.rank().saturating_sub(nlead);
    if out_rank < shape.len() {
        return Err(Error::ShapeMismatch {
            op: "unbroadcast",
            lhs: g.shape().to_vec(),
            rhs: shape.to_vec(),
        });
    }
    let extra = out_rank - shape.len();
    let lead = g.shape()[..nlead].to_vec();
    let g = if extra > 0 {
        let axes: Vec<i64> = (nlead..nlead + extra).map(|a| a as i64).collect();
        reduce_sum(g, Some(&axes), false)?
    } else {
        g.clone()
    };
    sum_to_shape(&g, &with_lead(&lead, shape))
}

/// Sum `g` down to `shape`, undoing a broadcast; `g` itself when the shapes
/// already agree. The backward traversal applies this to every gradient.
pub fn sum_to_shape(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank().wrapping_sub(shape.len());
    let compatible = g.rank() >= shape.len()
        && shape
            .iter()
            .zip(&g.shape()[lead..])
            .all(|(&s, &d)| s == d || s == 1);
    if !compatible {
        return Err(Error::ShapeMismatch {
            op: "sum_to_shape",
            lhs: g.shape().to_vec(),
            rhs: shape.to_vec(),
        });
    }
    let axes: Vec<i64> = broadcast_reduction_axes(shape, g.shape())
        .into_iter()
        .map(|a| a as i64)
        .collect();
    reshape_to(&reduce_sum(g, Some(&axes), true)?, shape)
}

/// The maximum over `axis`. Where several elements tie for it, they share
/// the gradient evenly, as in TF.
pub fn reduce_max(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    extreme("Max", x, axis, keepdims, true)
}

/// The minimum over `axis`; ties share the gradient evenly.
pub fn reduce_min(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    extreme("Min", x, axis, keepdims, false)
}

fn extreme(
    op: &'static str,
    x: &Tensor,
    axis: Option<&[i64]>,
    keepdims: bool,
    max: bool,
) -> Result<Tensor> {
    let axes = resolve_axes(op, x, axis)?;
    let out_shape = reduced_shape(x.shape(), &axes, keepdims);
    // NaN wins (once the accumulator is NaN no comparison replaces it).
    macro_rules! float {
        ($a:expr, $t:ty) => {{
            let init = if max {
                <$t>::NEG_INFINITY
            } else {
                <$t>::INFINITY
            };
            let pick = |acc: $t, v: $t| {
                if v.is_nan() || (max && v > acc) || (!max && v < acc) {
                    v
                } else {
                    acc
                }
            };
            shaped(op, fold_axes($a, &axes, init, pick)?, &out_shape)?
        }};
    }
    macro_rules! int {
        ($a:expr, $t:ty) => {{
            let init = if max { <$t>::MIN } else { <$t>::MAX };
            let pick = |acc: $t, v: $t| if max { acc.max(v) } else { acc.min(v) };
            shaped(op, fold_axes($a, &axes, init, pick)?, &out_shape)?
        }};
    }
    let out = Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(float!(a, f32)),
        Data::F64(a) => Data::F64(float!(a, f64)),
        Data::I32(a) => Data::I32(int!(a, i32)),
        Data::I64(a) => Data::I64(int!(a, i64)),
        Data::Bool(_) | Data::C64(_) | Data::C128(_) | Data::Str(_) => {
            return Err(numeric_only(op, x));
        }
        _ => computed([x], true, |[w]| extreme(op, w, axis, keepdims, max))?,
    });
    // d max = g · [x = max] / #{x = max}
    let ctx = || {
        let kept = reduced_shape(x.shape(), &axes, true);
        let axes: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
        (kept, out_shape.len(), axes)
    };
    tape::record_rule(
        op,
        &[x],
        &out,
        [x, &out],
        ctx,
        [Some(|g, [x, y], (kept, out_rank, axes)| {
            let hits = cast(&equal(x, &reshape_to(y, kept)?)?, x.dtype())?;
            let share = hits.div(&reduce_sum(&hits, Some(axes), true)?)?;
            let g = reshape_to(g, &with_lead(lead(g, *out_rank), kept))?;
            g.mul(&share)
        })],
    );
    Ok(out)
}

fn numeric_only(op: &'static str, x: &Tensor) -> Error {
    Error::UnsupportedDType {
        op,
        dtype: x.dtype(),
        allowed: "float32, float64, int32, int64",
    }
}

/// The product over `axis` (1 for an empty reduction).
pub fn reduce_prod(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let op = "Prod";
    let axes = resolve_axes(op, x, axis)?;
    let out_shape = reduced_shape(x.shape(), &axes, keepdims);
    let out = Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(shaped(
            op,
            fold_axes(a, &axes, 1.0, |p, v| p * v)?,
            &out_shape,
        )?),
        Data::F64(a) => Data::F64(shaped(
            op,
            fold_axes(a, &axes, 1.0, |p, v| p * v)?,
            &out_shape,
        )?),
        Data::I32(a) => Data::I32(shaped(
            op,
            fold_axes(a, &axes, 1, i32::wrapping_mul)?,
            &out_shape,
        )?),
        Data::I64(a) => Data::I64(shaped(
            op,
            fold_axes(a, &axes, 1, i64::wrapping_mul)?,
            &out_shape,
        )?),
        Data::C64(a) => Data::C64(shaped(
            op,
            fold_axes(a, &axes, Complex::new(1.0, 0.0), |p, v| p * v)?,
            &out_shape,
        )?),
        Data::C128(a) => Data::C128(shaped(
            op,
            fold_axes(a, &axes, Complex::new(1.0, 0.0), |p, v| p * v)?,
            &out_shape,
        )?),
        Data::Bool(_) | Data::Str(_) => return Err(numeric_only(op, x)),
        _ => computed([x], false, |[w]| reduce_prod(w, axis, keepdims))?,
    });
    let ctx = || (reduced_shape(x.shape(), &axes, true), out_shape.len(), axes);
    tape::record_rule(
        op,
        &[x],
        &out,
        [x],
        ctx,
        [Some(|g, [x], (kept, out_rank, axes)| {
            let g = reshape_to(g, &with_lead(lead(g, *out_rank), kept))?;
            // (complex: g·conj(∂/∂x), TF's convention)
            g.mul(&conj(&product_of_others(x, axes)?)?)
        })],
    );
    Ok(out)
}

/// For each element, the product of the other elements of its reduction:
/// d(x₁⋯xₙ)/dxᵢ. TF's construction, exact where some xᵢ are zero: move the
/// reduced axes first, flatten them, and multiply the exclusive running
/// products from the left and from the right.
fn product_of_others(x: &Tensor, axes: &[usize]) -> Result<Tensor> {
    let other: Vec<usize> = (0..x.rank()).filter(|a| !axes.contains(a)).collect();
    let perm: Vec<usize> = axes.iter().chain(&other).copied().collect();
    let perm_i: Vec<i64> = perm.iter().map(|&a| a as i64).collect();
    let moved_shape: Vec<usize> = perm.iter().map(|&a| x.shape()[a]).collect();
    let r: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let rest: usize = other.iter().map(|&a| x.shape()[a]).product();
    let flat = reshape_to(&transpose(x, Some(&perm_i))?, &[r, rest])?;
    let both = cumprod(&flat, 0, true, false)?.mul(&cumprod(&flat, 0, true, true)?)?;
    let mut inverse = vec![0i64; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i as i64;
    }
    transpose(&reshape_to(&both, &moved_shape)?, Some(&inverse))
}

/// Running sum along `axis`; `exclusive` leaves each element out of its own
/// sum, `reverse` sums from the end. Its VJP is the running sum the other way.
pub fn cumsum(x: &Tensor, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
    scan("Cumsum", x, axis, exclusive, reverse, false)
}

/// Running product along `axis`. Its VJP is exact at zeros too (TF's
/// divides by `x`, so it is wrong there; see `cumprod_grad`).
pub fn cumprod(x: &Tensor, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
    scan("Cumprod", x, axis, exclusive, reverse, true)
}

fn scan(
    op: &'static str,
    x: &Tensor,
    axis: i64,
    exclusive: bool,
    reverse: bool,
    product: bool,
) -> Result<Tensor> {
    let ax = normalize_axis(op, axis, x.rank())?;
    macro_rules! go {
        ($a:expr, $zero:expr, $one:expr) => {
            if product {
                scan_axis($a, ax, exclusive, reverse, $one, |p, v| p * v)?
            } else {
                scan_axis($a, ax, exclusive, reverse, $zero, |p, v| p + v)?
            }
        };
    }
    let out = Tensor::from_data(match x.data() {
        Data::F32(a) => Data::F32(go!(a, 0.0, 1.0)),
        Data::F64(a) => Data::F64(go!(a, 0.0, 1.0)),
        Data::I32(a) => Data::I32(if product {
            scan_axis(a, ax, exclusive, reverse, 1, i32::wrapping_mul)?
        } else {
            scan_axis(a, ax, exclusive, reverse, 0, i32::wrapping_add)?
        }),
        Data::I64(a) => Data::I64(if product {
            scan_axis(a, ax, exclusive, reverse, 1, i64::wrapping_mul)?
        } else {
            scan_axis(a, ax, exclusive, reverse, 0, i64::wrapping_add)?
        }),
        Data::C64(a) => Data::C64(go!(a, Complex::new(0.0, 0.0), Complex::new(1.0, 0.0))),
        Data::C128(a) => Data::C128(go!(a, Complex::new(0.0, 0.0), Complex::new(1.0, 0.0))),
        Data::Bool(_) | Data::Str(_) => return Err(numeric_only(op, x)),
        _ => computed([x], false, |[w]| {
            scan(op, w, axis, exclusive, reverse, product)
        })?,
    });
    // (the gradient's axis: past any leading batch dimensions)
    let ctx = || (ax, exclusive, reverse);
    if product {
        tape::record_rule(
            op,
            &[x],
            &out,
            [x],
            ctx,
            [Some(|g, [x], &(ax, exclusive, reverse)| {
                // complex (TF's convention): g·conj(J) = conj(conj(g)·J)
                conj(&cumprod_grad(x, &conj(g)?, ax, exclusive, reverse, 1)?)
            })],
        );
    } else {
        let ctx = || (ax, exclusive, reverse, x.rank());
        tape::record_rule(
            op,
            &[x],
            &out,
            [],
            ctx,
            [Some(|g, [], &(ax, exclusive, reverse, rank)| {
                cumsum(g, (ax + g.rank() - rank) as i64, exclusive, !reverse)
            })],
        );
    }
    Ok(out)
}

/// The VJP of `cumprod`, without dividing by zero. Along one line, in the
/// scan's direction, each output y_k is the product over a prefix I(k), and
/// d y_k / d x_j is the product over I(k) without j, for every prefix that
/// holds j. Before the line's first zero that is y_k / x_j (x_j ≠ 0); at
/// the first zero z it is the same scan of x with x_z read as 1; past z
/// every such prefix holds x_z, so it is x_z times the same VJP of x with
/// x_z read as 1. That last factor is taken `depth` levels deep (the rule
/// uses 1, so second derivatives are exact too); past the last level it is
/// 0, its value but not its derivative at lines with that many zeros.
/// `g` may carry batch dims.
fn cumprod_grad(
    x: &Tensor,
    g: &Tensor,
    ax: usize,
    exclusive: bool,
    reverse: bool,
    depth: usize,
) -> Result<Tensor> {
    let gax = (ax + g.rank() - x.rank()) as i64;
    let back = |y: &Tensor| cumsum(&y.mul(g)?, gax, exclusive, !reverse);
    let zero = Tensor::scalar_of(x.dtype(), 0.0);
    let one = Tensor::scalar_of(x.dtype(), 1.0);
    let is_zero = equal(x, &zero)?;
    let zero_count = cast(&is_zero, DType::F64)?;
    if reduce_sum(&zero_count, None, false)?.item_f64() == Some(0.0) {
        // no zero: d y_k / d x_j = y_k / x_j
        return back(&cumprod(x, ax as i64, exclusive, reverse)?)?.div(x);
    }
    // zeros met so far in the scan's direction, this element included
    let zeros_so_far = cumsum(&cast(&is_zero, x.dtype())?, ax as i64, false, reverse)?;
    let before_first = equal(&zeros_so_far, &zero)?;
    let first = logical_and(&is_zero, &equal(&zeros_so_far, &one)?)?;
    let up_to_first =
        back(&cumprod(x, ax as i64, exclusive, reverse)?)?.div(&where_(&before_first, x, &one)?)?;
    let first_as_one = where_(&first, &one, x)?;
    let at_first = back(&cumprod(&first_as_one, ax as i64, exclusive, reverse)?)?;
    let past_first = match depth {
        0 => zero.clone(),
        _ => {
            // x_z on every element of its line (0, but its derivative is 1)
            let x_first = reduce_sum(&where_(&first, x, &zero)?, Some(&[ax as i64]), true)?;
            cumprod_grad(&first_as_one, g, ax, exclusive, reverse, depth - 1)?.mul(&x_first)?
        }
    };
    where_(
        &before_first,
        &up_to_first,
        &where_(&first, &at_first, &past_first)?,
    )
}

/// log Σ eˣ over `axis`, computed around the (finite) maximum so that large
/// inputs do not overflow.
pub fn reduce_logsumexp(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    float_only("ReduceLogSumExp", x.dtype())?;
    let raw_max = reduce_max(x, axis, true)?;
    let shift = stop_gradient(&where_(
        &is_finite(&raw_max)?,
        &raw_max,
        &zeros(x.dtype(), &[])?,
    )?);
    let lse = log(&reduce_sum(&exp(&x.sub(&shift)?)?, axis, true)?)?.add(&shift)?;
    let axes = resolve_axes("ReduceLogSumExp", x, axis)?;
    reshape_to(&lse, &reduced_shape(x.shape(), &axes, keepdims))
}

/// The (biased) variance over `axis`: mean((x − mean x)²).
/// A complex `x` has the real variance mean(|x − mean x|²), as TF.
pub fn reduce_variance(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    float_or_complex("ReduceVariance", x.dtype())?;
    let mean = reduce_mean(x, axis, true)?;
    if x.dtype().is_complex() {
        // |d|² as real(conj(d)·d), TF's composition (its gradient is 2·g·d)
        let d = x.sub(&mean)?;
        return reduce_mean(&crate::ops::real(&conj(&d)?.mul(&d)?)?, axis, keepdims);
    }
    reduce_mean(&squared_difference(x, &mean)?, axis, keepdims)
}

/// The standard deviation over `axis`: √variance (real for a complex `x`).
pub fn reduce_std(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    float_or_complex("ReduceStd", x.dtype())?;
    sqrt(&reduce_variance(x, axis, keepdims)?)
}

/// `float_only`, letting complex dtypes through too.
fn float_or_complex(op: &'static str, dtype: DType) -> Result<()> {
    if dtype.is_complex() {
        return Ok(());
    }
    float_only(op, dtype)
}

/// Logical or over `axis` of a bool tensor (false when empty).
pub fn reduce_any(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    logical_fold("Any", x, axis, keepdims, false)
}

/// Logical and over `axis` of a bool tensor (true when empty).
pub fn reduce_all(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    logical_fold("All", x, axis, keepdims, true)
}

fn logical_fold(
    op: &'static str,
    x: &Tensor,
    axis: Option<&[i64]>,
    keepdims: bool,
    all: bool,
) -> Result<Tensor> {
    let Data::Bool(a) = x.data() else {
        return Err(Error::UnsupportedDType {
            op,
            dtype: x.dtype(),
            allowed: "bool",
        });
    };
    let axes = resolve_axes(op, x, axis)?;
    let out_shape = reduced_shape(x.shape(), &axes, keepdims);
    let folded = if all {
        fold_axes(a, &axes, true, |p, v| p && v)?
    } else {
        fold_axes(a, &axes, false, |p, v| p || v)?
    };
    Ok(Tensor::from_data(Data::Bool(shaped(
        op, folded, &out_shape,
    )?)))
}

/// The index of the largest element along `axis` (the first on ties), as
/// int64 or int32. Not differentiable.
pub fn argmax(x: &Tensor, axis: i64, output_type: DType) -> Result<Tensor> {
    let out = arg_extreme("ArgMax", x, axis, output_type, true)?;
    crate::tape::record_escape("argmax (no gradient)", x.id(), Some(out.id()));
    Ok(out)
}

/// The index of the smallest element along `axis` (the first on ties).
pub fn argmin(x: &Tensor, axis: i64, output_type: DType) -> Result<Tensor> {
    let out = arg_extreme("ArgMin", x, axis, output_type, false)?;
    crate::tape::record_escape("argmin (no gradient)", x.id(), Some(out.id()));
    Ok(out)
}

fn arg_extreme(
    op: &'static str,
    x: &Tensor,
    axis: i64,
    output_type: DType,
    max: bool,
) -> Result<Tensor> {
    if !output_type.is_int() {
        return Err(Error::invalid(
            op,
            format!(
                "output_type must be int32 or int64, not {}",
                output_type.name()
            ),
        ));
    }
    let ax = normalize_axis(op, axis, x.rank().max(1))?;
    if x.rank() == 0 {
        return Err(Error::invalid(
            op,
            "cannot reduce a scalar (rank 0) tensor over an axis",
        ));
    }
    if x.shape()[ax] == 0 {
        return Err(Error::invalid(
            op,
            format!("Reduction axis {ax} is empty in shape {:?}", x.shape()),
        ));
    }
    // NaN counts as the extreme, as numpy's argmax does
    macro_rules! pick {
        ($a:expr) => {
            arg_axis($a, ax, |v, best| {
                (v.is_nan() && !best.is_nan()) || (max && v > best) || (!max && v < best)
            })?
        };
    }
    let idx = match x.data() {
        Data::F32(a) => pick!(a),
        Data::F64(a) => pick!(a),
        Data::I32(a) => arg_axis(a, ax, |v, best| if max { v > best } else { v < best })?,
        Data::I64(a) => arg_axis(a, ax, |v, best| if max { v > best } else { v < best })?,
        Data::Bool(_) | Data::C64(_) | Data::C128(_) | Data::Str(_) => {
            return Err(numeric_only(op, x));
        }
        _ => return arg_extreme(op, &widen(x, true)?, axis, output_type, max),
    };
    cast(&Tensor::from_data(Data::I64(idx)), output_type)
}

/// The `ord` of `tf.norm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormOrd {
    /// 'euclidean' / 'fro': the square root of the sum of squares.
    Euclidean,
    /// A vector p-norm, (Σ|x|ᵖ)^(1/p), p > 0 (p = 2 is `Euclidean`).
    P(f64),
    /// The largest |x| (vectors), the largest absolute row sum (matrices).
    Inf,
}

impl NormOrd {
    /// `tf.norm`'s `ord` given as a string: 'euclidean' or 'fro'.
    pub fn from_name(name: &str) -> Result<NormOrd> {
        match name {
            "euclidean" | "fro" => Ok(NormOrd::Euclidean),
            _ => Err(Error::invalid(
                "norm",
                format!(
                    "ord={name:?} is not supported; use 'euclidean', 'fro', 1, 2, inf or a positive number"
                ),
            )),
        }
    }

    /// `tf.norm`'s `ord` given as a number: inf, or p (checked by `norm`).
    pub fn from_number(p: f64) -> NormOrd {
        if p == f64::INFINITY {
            NormOrd::Inf
        } else {
            NormOrd::P(p)
        }
    }
}

/// `tf.norm`: a vector norm over one axis (or all elements when `axis` is
/// `None`), or a matrix norm over two axes (ord 'fro', 1 or inf).
///
/// For a complex `x` the euclidean/'fro' norm is √Σ z·conj(z), complex with
/// a zero imaginary part, and the others are real (sums and maxima of |z|),
/// as TF computes them.
pub fn norm(x: &Tensor, ord: NormOrd, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let op = "norm";
    float_or_complex(op, x.dtype())?;
    if let NormOrd::P(p) = ord
        && (p.is_nan() || p <= 0.0)
    {
        return Err(Error::invalid(
            op,
            format!("'ord' must be a supported vector norm, got {p}"),
        ));
    }
    let matrix = match axis {
        None => false,
        Some(a) if a.len() == 1 => false,
        Some(a) if a.len() == 2 => {
            let ax = normalize_axes(op, a, x.rank())?;
            if ax.len() != 2 {
                return Err(Error::invalid(
                    op,
                    format!("axis {a:?} names the same axis twice"),
                ));
            }
            true
        }
        Some(a) => {
            return Err(Error::invalid(
                op,
                format!("'axis' must be None, an integer, or a pair of integers, got {a:?}"),
            ));
        }
    };
    let abs_x = || abs(x);
    match (ord, matrix) {
        (NormOrd::Euclidean, _) | (NormOrd::P(2.0), false) => norm_euclidean(x, axis, keepdims),
        (NormOrd::P(1.0), false) => reduce_sum(&abs_x()?, axis, keepdims),
        (NormOrd::P(p), false) => {
            let s = reduce_sum(
                &crate::ops::pow(&abs_x()?, &Tensor::scalar_of(x.dtype().real_dtype(), p))?,
                axis,
                keepdims,
            )?;
            crate::ops::pow(&s, &Tensor::scalar_of(x.dtype().real_dtype(), 1.0 / p))
        }
        (NormOrd::Inf, false) => reduce_max(&abs_x()?, axis, keepdims),
        // matrices: ord 1 sums down the rows first, inf along the columns
        (NormOrd::P(1.0), true) | (NormOrd::Inf, true) => {
            let a = axis.unwrap_or_default();
            let (sum_ax, max_ax) = if ord == NormOrd::Inf {
                (a[1], a[0])
            } else {
                (a[0], a[1])
            };
            let sums = reduce_sum(&abs_x()?, Some(&[sum_ax]), true)?;
            let m = reduce_max(&sums, Some(&[max_ax]), true)?;
            if keepdims {
                Ok(m)
            } else {
                let axes = normalize_axes(op, a, x.rank())?;
                reshape_to(&m, &reduced_shape(x.shape(), &axes, false))
            }
        }
        (NormOrd::P(p), true) => Err(Error::Unimplemented {
            op,
            msg: format!("matrix norm with ord={p} is not supported (use 'fro', 1 or inf)"),
        }),
    }
}

/// The number of non-zero (true) elements over `axis`, as `dtype` (int64 by default in TF).
pub fn count_nonzero(
    x: &Tensor,
    axis: Option<&[i64]>,
    keepdims: bool,
    dtype: DType,
) -> Result<Tensor> {
    let nonzero = crate::ops::not_equal(x, &zeros(x.dtype(), &[])?)?;
    cast(
        &reduce_sum(&cast(&nonzero, DType::I64)?, axis, keepdims)?,
        dtype,
    )
}

/// √Σx² over `axis` (`tf.math.reduce_euclidean_norm`).
pub fn reduce_euclidean_norm(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    norm_euclidean(x, axis, keepdims)
}

/// The indices that sort `x` along `axis`, stably; `descending` keeps equal
/// elements in their original order too. Not differentiable.
pub fn argsort(x: &Tensor, axis: i64, descending: bool) -> Result<Tensor> {
    along_last("argsort", x, axis, |t| {
        argsort_rows("argsort", t, descending)
    })
}

/// `x` sorted along `axis`; the gradient follows the elements.
pub fn sort(x: &Tensor, axis: i64, descending: bool) -> Result<Tensor> {
    along_last("sort", x, axis, |t| {
        let idx = argsort_rows("sort", t, descending)?;
        let r = t.rank() as i64;
        crate::ops::gather(t, &idx, r - 1, r - 1)
    })
}

/// Apply a last-axis op along `axis`: swap that axis last, and back after.
fn along_last(
    op: &'static str,
    x: &Tensor,
    axis: i64,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let r = x.rank();
    let ax = normalize_axis(op, axis, r.max(1))?;
    if r == 0 || ax == r - 1 {
        return f(x);
    }
    let mut perm: Vec<i64> = (0..r as i64).collect();
    perm.swap(ax, r - 1);
    crate::ops::transpose(&f(&crate::ops::transpose(x, Some(&perm))?)?, Some(&perm))
}

/// The indices that sort each row (the last axis), stably.
fn argsort_rows(op: &'static str, x: &Tensor, descending: bool) -> Result<Tensor> {
    if x.rank() == 0 {
        return Err(Error::invalid(op, "cannot sort a scalar (rank 0) tensor"));
    }
    let n = x.shape()[x.rank() - 1];
    // (every buffer below is taken fallibly: a row of 2^28 elements needs
    // gigabytes of keys, indices and merge space)
    let mut values: Vec<f64> = crate::alloc::try_vec(op, x.shape())?;
    match x.data() {
        Data::Bool(_) | Data::Str(_) => return Err(numeric_only(op, x)),
        _ => {
            if let Some(a) = cast(x, DType::F64)?.array::<f64>() {
                values.extend(a.iter().copied());
            }
        }
    }
    let mut idx: Vec<i64> = crate::alloc::try_vec(op, x.shape())?;
    let mut since_poll = 0;
    for row in values.chunks(n.max(1)).filter(|_| n > 0) {
        // (counted: many short rows poll once per SORT_PIECE elements)
        since_poll += n;
        if since_poll >= SORT_PIECE {
            since_poll = 0;
            crate::interrupt::poll()?;
        }
        // NaN sorts last either way, as in numpy
        let before = |&i: &usize, &j: &usize| {
            let (a, b) = (row[i], row[j]);
            match (a.is_nan(), b.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if descending => b.total_cmp(&a),
                _ => a.total_cmp(&b),
            }
        };
        let mut positions: Vec<usize> = crate::alloc::try_vec(op, &[n])?;
        positions.extend(0..n);
        let order = stable_sort_interruptible(op, positions, before)?;
        idx.extend(order.into_iter().map(|i| i as i64));
    }
    Tensor::from_vec(x.shape(), idx)
}

/// Elements per piece of a long row sorted between interrupt polls.
const SORT_PIECE: usize = 1 << 20;

/// `items` sorted stably by `cmp`, with an interrupt poll (Ctrl-C) between
/// pieces when the row is long: each `SORT_PIECE` run is sorted on its own,
/// then neighbouring runs are merged pairwise, left run first on ties. A
/// stable order is unique, so the result is bitwise that of one `sort_by`.
fn stable_sort_interruptible<T: Copy>(
    op: &'static str,
    mut items: Vec<T>,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Result<Vec<T>> {
    if items.len() <= SORT_PIECE {
        items.sort_by(&cmp);
        return Ok(items);
    }
    for piece in items.chunks_mut(SORT_PIECE) {
        crate::interrupt::poll()?;
        piece.sort_by(&cmp);
    }
    let mut run = SORT_PIECE;
    let mut merged: Vec<T> = crate::alloc::try_vec(op, &[items.len()])?;
    while run < items.len() {
        merged.clear();
        for pair in items.chunks(2 * run) {
            crate::interrupt::poll()?;
            let (left, right) = pair.split_at(run.min(pair.len()));
            let (mut i, mut j) = (0, 0);
            while i < left.len() && j < right.len() {
                // the right element goes first only when strictly before
                if cmp(&right[j], &left[i]) == std::cmp::Ordering::Less {
                    merged.push(right[j]);
                    j += 1;
                } else {
                    merged.push(left[i]);
                    i += 1;
                }
            }
            merged.extend_from_slice(&left[i..]);
            merged.extend_from_slice(&right[j..]);
        }
        std::mem::swap(&mut items, &mut merged);
        run *= 2;
    }
    Ok(items)
}

/// The `k` largest elements of each row and their indices (int32, as TF).
pub fn top_k(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    let op = "TopKV2";
    if x.rank() == 0 || k > x.shape()[x.rank() - 1] {
        return Err(Error::invalid(
            op,
            format!(
                "input must have at least k = {k} columns, got shape {:?}",
                x.shape()
            ),
        ));
    }
    let all = argsort_rows(op, x, true)?;
    let ax = x.rank() - 1;
    let idx = crate::ops::slice_along(&all, ax, 0, k)?;
    let values = crate::ops::gather(x, &idx, ax as i64, ax as i64)?;
    Ok((values, cast(&idx, DType::I32)?))
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (norm) => { $crate::ops::with_example!(
        r#"The vector norm of order `ord` ('euclidean'/'fro', 1, 2, inf or any p > 0), or over a pair of axes the matrix norm ('fro', 1 or inf)."#,
        r#">>> print(tf.norm(tf.constant([3.0, 4.0])))
tapegrad.Tensor(5.0, shape=(), dtype=float32)
>>> print(tf.norm(tf.constant([3.0, -4.0]), ord=1))
tapegrad.Tensor(7.0, shape=(), dtype=float32)"#
    ) };
    (count_nonzero) => { $crate::ops::with_example!(
        r#"The number of nonzero (or true) elements over `axis`, as int64."#,
        r#">>> print(tf.math.count_nonzero(tf.constant([[0, 1], [2, 0]]), axis=1))
tapegrad.Tensor([1 1], shape=(2,), dtype=int64)"#
    ) };
    (sort) => { $crate::ops::with_example!(
        r#"Sorted values along `axis` (ascending, or `direction="DESCENDING"`); the gradient scatters back to the original positions."#,
        r#">>> print(tf.sort(tf.constant([3, 1, 2]), direction="DESCENDING"))
tapegrad.Tensor([3 2 1], shape=(3,), dtype=int32)"#
    ) };
    (argsort) => { $crate::ops::with_example!(
        r#"Indices (int32) that sort `values` along `axis`; stable."#,
        r#">>> print(tf.argsort(tf.constant([3.0, 1.0, 2.0])))
tapegrad.Tensor([1 2 0], shape=(3,), dtype=int32)"#
    ) };
    (top_k) => { $crate::ops::with_example!(
        r#"The `k` largest values along the last axis and their int32 indices, largest first."#,
        r#">>> values, indices = tf.math.top_k(tf.constant([1.0, 5.0, 3.0]), k=2)
>>> print(values)
tapegrad.Tensor([5. 3.], shape=(2,), dtype=float32)
>>> print(indices)
tapegrad.Tensor([1 2], shape=(2,), dtype=int32)"#
    ) };
    (reduce_sum) => { $crate::ops::with_example!(
        r#"Sum over `axis` (all axes when None); `keepdims` keeps them as size 1."#,
        r#">>> x = tf.constant([[1, 2], [3, 4]])
>>> print(tf.reduce_sum(x))
tapegrad.Tensor(10, shape=(), dtype=int32)
>>> print(tf.reduce_sum(x, axis=0))
tapegrad.Tensor([4 6], shape=(2,), dtype=int32)"#
    ) };
    (reduce_mean) => { $crate::ops::with_example!(
        r#"Mean over `axis` (all axes when None); integer tensors give a truncated integer mean, as in TF."#,
        r#">>> print(tf.reduce_mean(tf.constant([[1.0, 2.0], [3.0, 5.0]]), axis=1))
tapegrad.Tensor([1.5 4. ], shape=(2,), dtype=float32)"#
    ) };
    (reduce_euclidean_norm) => { $crate::ops::with_example!(
        r#"√(Σ x²) over `axis` (all axes when None)."#,
        r#">>> print(tf.math.reduce_euclidean_norm(tf.constant([[3.0, 4.0], [6.0, 8.0]]), axis=1))
tapegrad.Tensor([ 5. 10.], shape=(2,), dtype=float32)"#
    ) };
    (reduce_max) => { $crate::ops::with_example!(
        r#"Maximum over `axis` (all axes when None); the gradient is shared equally among tied maxima, as in TF."#,
        r#">>> x = tf.constant([[1, 5], [7, 2]])
>>> print(tf.reduce_max(x))
tapegrad.Tensor(7, shape=(), dtype=int32)
>>> print(tf.reduce_max(x, axis=1, keepdims=True))
tapegrad.Tensor(
[[5]
 [7]], shape=(2, 1), dtype=int32)"#
    ) };
    (reduce_min) => { $crate::ops::with_example!(
        r#"Minimum over `axis` (all axes when None); the gradient is shared equally among tied minima."#,
        r#">>> print(tf.reduce_min(tf.constant([[1, 5], [7, 2]]), axis=0))
tapegrad.Tensor([1 2], shape=(2,), dtype=int32)"#
    ) };
    (reduce_prod) => { $crate::ops::with_example!(
        r#"Product over `axis` (all axes when None)."#,
        r#">>> print(tf.reduce_prod(tf.constant([[1.0, 2.0], [3.0, 4.0]]), axis=1))
tapegrad.Tensor([ 2. 12.], shape=(2,), dtype=float32)"#
    ) };
    (reduce_logsumexp) => { $crate::ops::with_example!(
        r#"log Σ eˣ over `axis`, computed as m + log Σ e^(x − m) with m the max, so large inputs do not overflow; the gradient is softmax(x)."#,
        r#">>> print(tf.reduce_logsumexp(tf.constant([1000.0, 1000.0])))
tapegrad.Tensor(1000.6932, shape=(), dtype=float32)"#
    ) };
    (reduce_variance) => { $crate::ops::with_example!(
        r#"Population variance (divides by n) over `axis`."#,
        r#">>> print(tf.math.reduce_variance(tf.constant([1.0, 2.0, 3.0, 4.0])))
tapegrad.Tensor(1.25, shape=(), dtype=float32)"#
    ) };
    (reduce_std) => { $crate::ops::with_example!(
        r#"Population standard deviation (√ of `reduce_variance`) over `axis`."#,
        r#">>> print(tf.math.reduce_std(tf.constant([1.0, 3.0])))
tapegrad.Tensor(1.0, shape=(), dtype=float32)"#
    ) };
    (reduce_any) => { $crate::ops::with_example!(
        r#"Logical or over `axis` of a bool tensor."#,
        r#">>> print(tf.reduce_any(tf.constant([[True, False], [False, False]]), axis=1))
tapegrad.Tensor([ True False], shape=(2,), dtype=bool)"#
    ) };
    (reduce_all) => { $crate::ops::with_example!(
        r#"Logical and over `axis` of a bool tensor."#,
        r#">>> print(tf.reduce_all(tf.constant([[True, True], [True, False]]), axis=1))
tapegrad.Tensor([ True False], shape=(2,), dtype=bool)"#
    ) };
    (argmax) => { $crate::ops::with_example!(
        r#"Index (int64 by default) of the largest value along `axis` (default 0); the first one on ties."#,
        r#">>> print(tf.argmax(tf.constant([[1, 9], [8, 2]])))
tapegrad.Tensor([1 0], shape=(2,), dtype=int64)
>>> print(tf.argmax(tf.constant([[1, 9], [8, 2]]), axis=1))
tapegrad.Tensor([1 0], shape=(2,), dtype=int64)"#
    ) };
    (argmin) => { $crate::ops::with_example!(
        r#"Index (int64 by default) of the smallest value along `axis` (default 0); the first one on ties."#,
        r#">>> print(tf.argmin(tf.constant([[1, 9], [8, 2]]), axis=1))
tapegrad.Tensor([0 1], shape=(2,), dtype=int64)"#
    ) };
    (cumsum) => { $crate::ops::with_example!(
        r#"Running sum along `axis`; `exclusive` starts from 0, `reverse` runs from the end."#,
        r#">>> print(tf.cumsum(tf.constant([1, 2, 3])))
tapegrad.Tensor([1 3 6], shape=(3,), dtype=int32)
>>> print(tf.cumsum(tf.constant([1, 2, 3]), exclusive=True))
tapegrad.Tensor([0 1 3], shape=(3,), dtype=int32)"#
    ) };
    (cumprod) => { $crate::ops::with_example!(
        r#"Running product along `axis`; `exclusive` starts from 1, `reverse` runs from the end."#,
        r#">>> print(tf.math.cumprod(tf.constant([1.0, 2.0, 3.0])))
tapegrad.Tensor([1. 2. 6.], shape=(3,), dtype=float32)"#
    ) };
    ($name:ident) => { $crate::ops::scatter::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_row_sorted_in_pieces_matches_one_stable_sort() {
        // few distinct keys: many ties, so stability shows in the order
        let n = 2 * SORT_PIECE + 12_345;
        let keys: Vec<u32> = (0..n as u64)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 97) as u32)
            .collect();
        let cmp = |&i: &usize, &j: &usize| keys[i].cmp(&keys[j]);
        let mut expected: Vec<usize> = (0..n).collect();
        expected.sort_by(cmp);
        let got = stable_sort_interruptible("test", (0..n).collect(), cmp).unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn unbroadcast_sums_over_the_output_axes_not_the_batch() {
        // batch 2, output [2, 3] broadcast from an input of shape [3]: the
        // output's extra axis (1) is summed, the batch axis (0) is kept
        let g = Tensor::from_vec(&[2, 2, 3], (0..12).map(f64::from).collect()).unwrap();
        let r = unbroadcast(&g, 1, &[3]).unwrap();
        assert_eq!(r.shape(), &[2, 3]);
        let v: Vec<f64> = r.array::<f64>().unwrap().iter().copied().collect();
        assert_eq!(v, vec![3.0, 5.0, 7.0, 15.0, 17.0, 19.0]);
        // a stretched size-1 axis is kept as 1
        let r = unbroadcast(&g, 1, &[1, 3]).unwrap();
        assert_eq!(r.shape(), &[2, 1, 3]);
    }

    #[test]
    fn norm_ord_from_python_values() {
        assert_eq!(NormOrd::from_name("fro").ok(), Some(NormOrd::Euclidean));
        assert_eq!(
            NormOrd::from_name("euclidean").ok(),
            Some(NormOrd::Euclidean)
        );
        let err = NormOrd::from_name("nuc").unwrap_err().to_string();
        assert!(
            err.starts_with("norm: ord=\"nuc\" is not supported"),
            "{err}"
        );
        assert_eq!(NormOrd::from_number(f64::INFINITY), NormOrd::Inf);
        assert_eq!(NormOrd::from_number(3.0), NormOrd::P(3.0));
    }
}
