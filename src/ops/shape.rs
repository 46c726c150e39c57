//! Ops that move or reinterpret elements: reshape, transpose, broadcast,
//! cast, identity. Their VJPs move the gradient back.

use ndarray::IxDyn;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels;
use crate::map_data;
use crate::ops::{lead, strings, sum_to_shape, with_lead};
use crate::shape::{broadcast_shapes, checked_numel, normalize_axis};
use crate::tape;
use crate::tensor::{Data, Tensor, check_alloc};

/// Reshape with TF's rules: at most one `-1`, which is inferred.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    let op = "Reshape";
    let n = x.numel();
    let unknown: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == -1).collect();
    if unknown.len() > 1 || shape.iter().any(|&d| d < -1) {
        return Err(Error::invalid(
            op,
            format!(
                "invalid target shape {shape:?}: only one dimension may be -1 and none may be negative"
            ),
        ));
    }
    let known: usize = checked_numel(
        &shape
            .iter()
            .filter(|&&d| d != -1)
            .map(|&d| d as usize)
            .collect::<Vec<_>>(),
    )
    .ok_or_else(|| Error::invalid(op, format!("target shape {shape:?} is too large")))?;
    let mut target: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(&i) = unknown.first() {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(Error::invalid(
                op,
                format!(
                    "Input to reshape is a tensor with {n} values, but the requested shape requires a multiple of {known}"
                ),
            ));
        }
        target[i] = n / known;
    } else if known != n {
        return Err(Error::invalid(
            op,
            format!(
                "Input to reshape is a tensor with {n} values, but the requested shape has {known}"
            ),
        ));
    }
    reshape_to(x, &target)
}

/// Reshape to a fully known shape with the same element count (shares the
/// buffer when the input is contiguous).
pub fn reshape_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    // an empty tensor can take absurd extents ([2^62, 0]): refuse them here
    // (a contiguous input is shared, not copied: no probe)
    crate::tensor::check_shape("Reshape", x.dtype(), shape, false)?;
    if checked_numel(shape) != Some(x.numel()) {
        return Err(Error::invalid(
            "Reshape",
            format!(
                "Input to reshape is a tensor with {} values, but the requested shape is {:?}",
                x.numel(),
                shape
            ),
        ));
    }
    let dim = IxDyn(shape);
    let err = |_| Error::invalid("Reshape", "internal reshape failed");
    let out = Tensor::from_data(
        map_data!(x.data(), a => kernels::standard(a)?.into_shape_clone(dim).map_err(err)?,
            str a => strings::standard(a).into_shape_clone(dim).map_err(err)?),
    );
    let ctx = || (x.shape().to_vec(), shape.len());
    tape::record_rule(
        "Reshape",
        &[x],
        &out,
        [],
        ctx,
        [Some(|g, [], (in_shape, out_rank)| {
            reshape_to(g, &with_lead(lead(g, *out_rank), in_shape))
        })],
    );
    Ok(out)
}

/// Permute axes (`perm = None` reverses them). A view: no data moves.
pub fn transpose(x: &Tensor, perm: Option<&[i64]>) -> Result<Tensor> {
    let op = "Transpose";
    let rank = x.rank();
    let perm: Vec<usize> = match perm {
        None => (0..rank).rev().collect(),
        Some(p) => {
            let mut seen = vec![false; rank];
            let valid = p.len() == rank
                && p.iter().all(|&a| {
                    let a = if a < 0 { a + rank as i64 } else { a };
                    (0..rank as i64).contains(&a) && !std::mem::replace(&mut seen[a as usize], true)
                });
            if !valid {
                return Err(Error::invalid(
                    op,
                    format!(
                        "{p:?} is not a valid permutation of the {rank} axes of a tensor of shape {:?}",
                        x.shape()
                    ),
                ));
            }
            p.iter()
                .map(|&a| {
                    if a < 0 {
                        (a + rank as i64) as usize
                    } else {
                        a as usize
                    }
                })
                .collect()
        }
    };
    let out = Tensor::from_data(
        map_data!(x.data(), a => a.clone().permuted_axes(IxDyn(&perm)),
        str a => a.clone().permuted_axes(IxDyn(&perm))),
    );
    let ctx = || {
        let mut inverse = vec![0i64; rank];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i as i64;
        }
        inverse
    };
    tape::record_rule(
        op,
        &[x],
        &out,
        [],
        ctx,
        [Some(|g, [], inverse| {
            let nb = g.rank() - inverse.len();
            let perm: Vec<i64> = (0..nb as i64)
                .chain(inverse.iter().map(|&p| p + nb as i64))
                .collect();
            transpose(g, Some(&perm))
        })],
    );
    Ok(out)
}

/// Broadcast `x` up to `shape` (materialised).
pub fn broadcast_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let op = "BroadcastTo";
    if x.shape() == shape {
        return Ok(x.clone());
    }
    if broadcast_shapes(op, x.shape(), shape)? != shape {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.shape().to_vec(),
            rhs: shape.to_vec(),
        });
    }
    check_alloc(op, x.dtype(), shape)?;
    let out = Tensor::from_data(map_data!(x.data(), a => kernels::broadcast_copy(a, shape)?,
        str a => strings::broadcast(op, a, shape)?));
    let ctx = || (x.shape().to_vec(), shape.len());
    tape::record_rule(
        op,
        &[x],
        &out,
        [],
        ctx,
        [Some(|g, [], (in_shape, out_rank)| {
            sum_to_shape(g, &with_lead(lead(g, *out_rank), in_shape))
        })],
    );
    Ok(out)
}

/// Convert to `dtype` (floats → ints truncate toward zero, as C and TF do).
/// Differentiable between float dtypes; the gradient is cast back.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    if x.dtype() == DType::String || dtype == DType::String {
        // TF: `as_string` formats numbers, `to_number` parses strings
        return Err(Error::Unimplemented {
            op: "Cast",
            msg: format!("Cast {} to {} is not supported", x.dtype(), dtype),
        });
    }
    macro_rules! convert {
        ($a:expr, $f:expr) => {
            match dtype {
                DType::F32 => Data::F32(kernels::map($a, |v| $f(v) as f32)?),
                DType::F64 => Data::F64(kernels::map($a, |v| $f(v) as f64)?),
                DType::I32 => Data::I32(kernels::map($a, |v| $f(v) as i32)?),
                DType::I64 => Data::I64(kernels::map($a, |v| $f(v) as i64)?),
                DType::Bool => Data::Bool(kernels::map($a, |v| $f(v) != 0.0)?),
                _ => return crate::ops::convert_dtype(x, dtype),
            }
        };
    }
    // the five native dtypes convert in parallel kernels; the rest by hub
    let converted = |x: &Tensor| -> Result<Tensor> {
        Ok(Tensor::from_data(match x.data() {
            Data::F32(a) => convert!(a, |v: f32| v as f64),
            Data::F64(a) => convert!(a, |v: f64| v),
            Data::I32(a) => convert!(a, |v: i32| v as f64),
            Data::I64(a) => match dtype {
                // through f64 would round large int64 values
                DType::I32 => Data::I32(kernels::map(a, |v| v as i32)?),
                _ => convert!(a, |v: i64| v as f64),
            },
            Data::Bool(a) => convert!(a, |v: bool| v as u8 as f64),
            _ => return crate::ops::convert_dtype(x, dtype),
        }))
    };
    let out = converted(x)?;
    // (complex → real keeps the real part, so the VJP cast back is TF's:
    // complex(g, 0) one way, real(g) the other)
    if x.dtype().is_differentiable() && dtype.is_differentiable() {
        tape::record_rule(
            "Cast",
            &[x],
            &out,
            [],
            || x.dtype(),
            [Some(|g, [], &back| cast(g, back))],
        );
    } else if x.dtype().is_differentiable() {
        tape::record_escape("cast to an integer or bool dtype", x.id(), Some(out.id()));
    }
    Ok(out)
}

/// The same values under a new id; gradients pass straight through.
pub fn identity(x: &Tensor) -> Result<Tensor> {
    let out = x.with_fresh_id();
    tape::record_rule(
        "Identity",
        &[x],
        &out,
        [],
        || (),
        [Some(|g, [], _| Ok(g.clone()))],
    );
    Ok(out)
}

/// The same values, but no tape sees through it.
pub fn stop_gradient(x: &Tensor) -> Tensor {
    let out = x.with_fresh_id();
    tape::record_escape("stop_gradient", x.id(), Some(out.id()));
    out
}

/// Insert a size-1 axis at `axis` (in `-rank-1 ..= rank`).
pub fn expand_dims(x: &Tensor, axis: i64) -> Result<Tensor> {
    let r = x.rank() as i64;
    if axis < -r - 1 || axis > r {
        return Err(Error::invalid(
            "ExpandDims",
            format!("Tried to expand dim index {axis} for tensor with {r} dimensions."),
        ));
    }
    let at = if axis < 0 { axis + r + 1 } else { axis } as usize;
    let mut shape = x.shape().to_vec();
    shape.insert(at, 1);
    reshape_to(x, &shape)
}

/// Drop size-1 axes: those in `axis`, or all of them when `None`.
pub fn squeeze(x: &Tensor, axis: Option<&[i64]>) -> Result<Tensor> {
    let op = "Squeeze";
    let shape = x.shape();
    let drop: Vec<usize> = match axis {
        None => (0..x.rank()).filter(|&i| shape[i] == 1).collect(),
        Some(a) => {
            let axes = crate::shape::normalize_axes(op, a, x.rank())?;
            if let Some(&bad) = axes.iter().find(|&&i| shape[i] != 1) {
                return Err(Error::invalid(
                    op,
                    format!(
                        "Can not squeeze dim[{bad}], expected a dimension of 1, got {} (shape {shape:?})",
                        shape[bad]
                    ),
                ));
            }
            axes
        }
    };
    let kept: Vec<usize> = (0..x.rank())
        .filter(|i| !drop.contains(i))
        .map(|i| shape[i])
        .collect();
    reshape_to(x, &kept)
}

/// One axis of a strided slice: `len` elements `start, start + step, …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisSlice {
    pub start: usize,
    pub step: isize,
    pub len: usize,
}

impl AxisSlice {
    /// The whole axis of length `d`.
    pub fn full(d: usize) -> AxisSlice {
        AxisSlice {
            start: 0,
            step: 1,
            len: d,
        }
    }

    /// `len` elements from `start`.
    pub fn range(start: usize, len: usize) -> AxisSlice {
        AxisSlice {
            start,
            step: 1,
            len,
        }
    }

    /// The same elements as ndarray's `Slice` (a negative step walks back
    /// from the end of the half-open range).
    fn to_ndarray(self) -> ndarray::Slice {
        if self.len == 0 {
            return ndarray::Slice::new(0, Some(0), 1);
        }
        let last = self.start as isize + (self.len as isize - 1) * self.step;
        let (lo, hi) = if self.step > 0 {
            (self.start as isize, last + 1)
        } else {
            (last, self.start as isize + 1)
        };
        ndarray::Slice::new(lo, Some(hi), self.step)
    }

    /// Does every element lie in `0..d`?
    fn fits(self, d: usize) -> bool {
        if self.len == 0 {
            return true;
        }
        let last = self.start as isize + (self.len as isize - 1) * self.step;
        self.start < d && self.step != 0 && (0..d as isize).contains(&last)
    }
}

fn check_spec(op: &'static str, shape: &[usize], spec: &[AxisSlice]) -> Result<()> {
    if spec.len() != shape.len() || spec.iter().zip(shape).any(|(s, &d)| !s.fits(d)) {
        return Err(Error::invalid(
            op,
            format!("slice {spec:?} does not fit in a tensor of shape {shape:?}"),
        ));
    }
    Ok(())
}

/// The same spec with whole-axis slices for `lead` leading dimensions.
fn lead_spec(lead: &[usize], spec: &[AxisSlice]) -> Vec<AxisSlice> {
    lead.iter()
        .map(|&d| AxisSlice::full(d))
        .chain(spec.iter().copied())
        .collect()
}

/// A strided slice (one `AxisSlice` per axis). Its VJP writes the gradient
/// back into zeros (`slice_grad`), whose own VJP is this slice again.
pub fn strided_slice(x: &Tensor, spec: &[AxisSlice]) -> Result<Tensor> {
    let op = "StridedSlice";
    check_spec(op, x.shape(), spec)?;
    if spec
        .iter()
        .zip(x.shape())
        .all(|(s, &d)| *s == AxisSlice::full(d))
    {
        return identity(x);
    }
    let out = Tensor::from_data(map_data!(x.data(), a => a
        .slice_each_axis(|ax| spec[ax.axis.index()].to_ndarray())
        .to_owned()
        .into_shared(), str a => a
        .slice_each_axis(|ax| spec[ax.axis.index()].to_ndarray())
        .to_owned()
        .into_shared()));
    let ctx = || (x.shape().to_vec(), spec.to_vec());
    tape::record_rule(
        op,
        &[x],
        &out,
        [],
        ctx,
        [Some(|g, [], (in_shape, spec)| {
            let lead = lead(g, spec.len());
            slice_grad(g, &with_lead(lead, in_shape), &lead_spec(lead, spec), 0.0)
        })],
    );
    Ok(out)
}

/// A tensor of `shape` filled with `fill`, holding `x` at the slice `spec`
/// (the transpose of `strided_slice`, and `pad`).
pub fn slice_grad(x: &Tensor, shape: &[usize], spec: &[AxisSlice], fill: f64) -> Result<Tensor> {
    let op = "StridedSliceGrad";
    check_spec(op, shape, spec)?;
    let sliced: Vec<usize> = spec.iter().map(|s| s.len).collect();
    if sliced != x.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.shape().to_vec(),
            rhs: sliced,
        });
    }
    // (by value: a shared base would be copied again, infallibly, by the
    // first write — an abort for a base that only just fits)
    let base = Tensor::full(op, x.dtype(), shape, fill)?.into_data();
    let out = Tensor::from_data(match (base, x.data()) {
        (Data::Str(b), Data::Str(a)) => Data::Str(place(b, a, spec)),
        (base, _) => crate::zip_data!(base, x.data(),
            |b, a| place(b, a, spec),
            else return Err(Error::invalid(op, "the base lost x's dtype"))),
    });
    let ctx = || spec.to_vec();
    tape::record_rule(
        op,
        &[x],
        &out,
        [],
        ctx,
        [Some(|g, [], spec| {
            strided_slice(g, &lead_spec(lead(g, spec.len()), spec))
        })],
    );
    Ok(out)
}

fn place<T: Clone>(
    mut out: ndarray::ArcArray<T, IxDyn>,
    a: &ndarray::ArcArray<T, IxDyn>,
    spec: &[AxisSlice],
) -> ndarray::ArcArray<T, IxDyn> {
    out.slice_each_axis_mut(|ax| spec[ax.axis.index()].to_ndarray())
        .assign(a);
    out
}

/// Reverse the order of elements along each of `axis`.
pub fn reverse(x: &Tensor, axis: &[i64]) -> Result<Tensor> {
    let axes = crate::shape::normalize_axes("ReverseV2", axis, x.rank())?;
    let spec: Vec<AxisSlice> = x
        .shape()
        .iter()
        .enumerate()
        .map(|(i, &d)| match (axes.contains(&i), d) {
            (true, d) if d > 0 => AxisSlice {
                start: d - 1,
                step: -1,
                len: d,
            },
            _ => AxisSlice::full(d),
        })
        .collect();
    strided_slice(x, &spec)
}

/// `tf.pad`'s `paddings`, an int matrix of shape [rank, 2], as
/// `(before, after)` pairs.
pub fn padding_pairs(p: &Tensor) -> Result<Vec<(usize, usize)>> {
    if !p.dtype().is_int() {
        return Err(Error::UnsupportedDType {
            op: "Pad",
            dtype: p.dtype(),
            allowed: "int32, int64 (paddings)",
        });
    }
    let flat: Vec<i64> = cast(p, DType::I64)?
        .array::<i64>()
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default();
    if p.rank() != 2 || p.shape()[1] != 2 || flat.iter().any(|&v| v < 0) {
        return Err(Error::invalid(
            "Pad",
            format!(
                "paddings must be a non-negative matrix of shape [rank, 2], got shape {:?}",
                p.shape()
            ),
        ));
    }
    Ok(flat
        .chunks(2)
        .map(|c| (c[0] as usize, c[1] as usize))
        .collect())
}

/// Pad with `value`: `paddings[i] = (before, after)` for each axis.
pub fn pad(x: &Tensor, paddings: &[(usize, usize)], value: f64) -> Result<Tensor> {
    if paddings.len() != x.rank() {
        return Err(Error::invalid(
            "Pad",
            format!(
                "The first dimension of paddings must be the rank of inputs: paddings has {} rows, input shape is {:?}",
                paddings.len(),
                x.shape()
            ),
        ));
    }
    // (paddings up to 2^63 each: the sum can overflow, refused as too large)
    let padded = |(&d, &(b, a)): (&usize, &(usize, usize))| d.checked_add(b)?.checked_add(a);
    let Some(shape) = x
        .shape()
        .iter()
        .zip(paddings)
        .map(padded)
        .collect::<Option<Vec<usize>>>()
    else {
        return Err(Error::ResourceExhausted {
            op: "Pad",
            shape: x.shape().to_vec(),
            bytes: u128::MAX,
        });
    };
    let spec: Vec<AxisSlice> = x
        .shape()
        .iter()
        .zip(paddings)
        .map(|(&d, &(b, _))| AxisSlice::range(b, d))
        .collect();
    slice_grad(x, &shape, &spec, value)
}

/// Join tensors of one dtype and rank along `axis`; the VJP slices the
/// gradient back into pieces.
pub fn concat(xs: &[Tensor], axis: i64) -> Result<Tensor> {
    let op = "ConcatV2";
    let Some(first) = xs.first() else {
        return Err(Error::invalid(op, "concat needs at least one tensor"));
    };
    if first.rank() == 0 {
        return Err(Error::invalid(
            op,
            "Can't concatenate scalars (use tf.stack instead)",
        ));
    }
    let ax = crate::shape::normalize_axis(op, axis, first.rank())?;
    for x in xs {
        crate::ops::same_dtype(op, first, x)?;
        let ok = x.rank() == first.rank()
            && (0..x.rank()).all(|i| i == ax || x.shape()[i] == first.shape()[i]);
        if !ok {
            return Err(Error::ShapeMismatch {
                op,
                lhs: first.shape().to_vec(),
                rhs: x.shape().to_vec(),
            });
        }
    }
    if xs.len() == 1 {
        return identity(first);
    }
    let mut shape = first.shape().to_vec();
    shape[ax] = xs.iter().map(|x| x.shape()[ax]).sum();
    check_alloc(op, first.dtype(), &shape)?;
    macro_rules! join {
        ($variant:ident) => {{
            let views: Vec<_> = xs
                .iter()
                .map(|x| match x.data() {
                    Data::$variant(a) => Some(a.view()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::invalid(op, "dtypes checked equal differ"))?;
            Data::$variant(kernels::concat(&views, ax, &shape)?)
        }};
    }
    let out = Tensor::from_data(match first.data() {
        Data::F32(_) => join!(F32),
        Data::F64(_) => join!(F64),
        Data::I32(_) => join!(I32),
        Data::I64(_) => join!(I64),
        Data::Bool(_) => join!(Bool),
        Data::U8(_) => join!(U8),
        Data::I8(_) => join!(I8),
        Data::I16(_) => join!(I16),
        Data::U16(_) => join!(U16),
        Data::U32(_) => join!(U32),
        Data::U64(_) => join!(U64),
        Data::F16(_) => join!(F16),
        Data::BF16(_) => join!(BF16),
        Data::C64(_) => join!(C64),
        Data::C128(_) => join!(C128),
        Data::Str(_) => join!(Str),
    });
    // input i's gradient is its slab of g along the joined axis
    let ctx = || {
        (
            xs.iter().map(|x| x.shape().to_vec()).collect::<Vec<_>>(),
            ax,
        )
    };
    tape::record_each(op, xs, &out, [], ctx, |i, g, [], (shapes, ax)| {
        let at: usize = shapes[..i].iter().map(|s| s[*ax]).sum();
        let piece: Vec<AxisSlice> = shapes[i]
            .iter()
            .enumerate()
            .map(|(k, &d)| {
                if k == *ax {
                    AxisSlice::range(at, d)
                } else {
                    AxisSlice::full(d)
                }
            })
            .collect();
        strided_slice(g, &lead_spec(lead(g, shapes[i].len()), &piece))
    });
    Ok(out)
}

/// Stack tensors of one shape along a new axis.
pub fn stack(xs: &[Tensor], axis: i64) -> Result<Tensor> {
    let op = "Pack";
    let Some(first) = xs.first() else {
        return Err(Error::invalid(op, "stack needs at least one tensor"));
    };
    if let Some(x) = xs.iter().find(|x| x.shape() != first.shape()) {
        return Err(Error::ShapeMismatch {
            op,
            lhs: first.shape().to_vec(),
            rhs: x.shape().to_vec(),
        });
    }
    let r = first.rank() as i64;
    if axis < -r - 1 || axis > r {
        return Err(Error::invalid(
            op,
            format!("axis {axis} is out of range for stacking tensors of rank {r}"),
        ));
    }
    let expanded = xs
        .iter()
        .map(|x| expand_dims(x, axis))
        .collect::<Result<Vec<_>>>()?;
    concat(&expanded, if axis < 0 { axis + r + 1 } else { axis })
}

/// The slices of `x` along `axis`, each without that axis.
pub fn unstack(x: &Tensor, axis: i64) -> Result<Vec<Tensor>> {
    let op = "Unpack";
    if x.rank() == 0 {
        return Err(Error::invalid(
            op,
            "cannot unstack a scalar (rank 0) tensor",
        ));
    }
    let ax = crate::shape::normalize_axis(op, axis, x.rank())?;
    let mut shape = x.shape().to_vec();
    shape.remove(ax);
    (0..x.shape()[ax])
        .map(|i| reshape_to(&slice_along(x, ax, i, 1)?, &shape))
        .collect()
}

/// `unstack`, checking TF's `num` (the expected count) when given.
pub fn unstack_num(x: &Tensor, axis: i64, num: Option<usize>) -> Result<Vec<Tensor>> {
    let parts = unstack(x, axis)?;
    match num.filter(|&n| n != parts.len()) {
        Some(n) => Err(Error::invalid(
            "Unpack",
            format!(
                "num = {n} does not match the dimension {} being unstacked",
                parts.len()
            ),
        )),
        None => Ok(parts),
    }
}

/// `tf.constant`'s value: `value` cast to `dtype` as a new tensor (never a
/// handle on what it came from), then given `shape`, a one-element value
/// filling the whole shape.
pub fn constant(value: &Tensor, dtype: Option<DType>, shape: Option<&[usize]>) -> Result<Tensor> {
    let t = match dtype {
        Some(d) => cast(value, d)?,
        None => value.clone(),
    };
    let t = stop_gradient(&t);
    match shape {
        Some(s) if t.numel() == 1 => broadcast_to(&reshape_to(&t, &[])?, s),
        Some(s) => reshape_to(&t, s),
        None => Ok(t),
    }
}

/// `len` elements from `start` along `axis`, every other axis whole.
pub fn slice_along(x: &Tensor, axis: usize, start: usize, len: usize) -> Result<Tensor> {
    let spec: Vec<AxisSlice> = x
        .shape()
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i == axis {
                AxisSlice::range(start, len)
            } else {
                AxisSlice::full(d)
            }
        })
        .collect();
    strided_slice(x, &spec)
}

/// The sizes of an even split of `x`'s `axis` into `n` parts.
pub fn even_split_sizes(x: &Tensor, n: i64, axis: i64) -> Result<Vec<i64>> {
    let ax = normalize_axis("Split", axis, x.rank().max(1))?;
    let d = x.shape().get(ax).copied().unwrap_or(0) as i64;
    // (an empty axis divides evenly any number of ways; cap the count of
    // outputs so that a huge one is an error, not an allocation abort)
    if n <= 0 || d % n != 0 || (d == 0 && n > 1 << 16) {
        return Err(Error::invalid(
            "Split",
            format!(
                "Number of ways to split should evenly divide the split dimension, but got split_dim {ax} (size = {d}) and num_split {n}"
            ),
        ));
    }
    Ok(vec![d / n; n as usize])
}

/// Split along `axis` into pieces of the given sizes (one may be -1, inferred).
pub fn split(x: &Tensor, sizes: &[i64], axis: i64) -> Result<Vec<Tensor>> {
    let op = "SplitV";
    if x.rank() == 0 {
        return Err(Error::invalid(op, "cannot split a scalar (rank 0) tensor"));
    }
    let ax = crate::shape::normalize_axis(op, axis, x.rank())?;
    let d = x.shape()[ax] as i64;
    let unknown = sizes.iter().filter(|&&s| s == -1).count();
    let known: i64 = sizes.iter().filter(|&&s| s != -1).sum();
    let bad = unknown > 1
        || sizes.iter().any(|&s| s < -1)
        || (unknown == 0 && known != d)
        || (unknown == 1 && known > d);
    if bad {
        return Err(Error::invalid(
            op,
            format!(
                "Determined shape must either match input shape along split_dim exactly if fully specified, or be less than the size of the input along split_dim if not fully specified. Got sizes {sizes:?} for a dimension of {d} (shape {:?})",
                x.shape()
            ),
        ));
    }
    let mut at = 0usize;
    sizes
        .iter()
        .map(|&s| {
            let n = if s == -1 {
                (d - known) as usize
            } else {
                s as usize
            };
            let piece = slice_along(x, ax, at, n);
            at += n;
            piece
        })
        .collect()
}

/// Repeat `x` `multiples[i]` times along each axis: reshape to
/// `[1, d₀, 1, d₁, …]`, broadcast to `[m₀, d₀, m₁, d₁, …]`, flatten pairs.
/// The VJP comes from the three (the broadcast's sums the copies).
pub fn tile(x: &Tensor, multiples: &[i64]) -> Result<Tensor> {
    let op = "Tile";
    if multiples.len() != x.rank() || multiples.iter().any(|&m| m < 0) {
        return Err(Error::invalid(
            op,
            format!(
                "Expected multiples argument to be a vector of length {} with non-negative entries, got {multiples:?}",
                x.rank()
            ),
        ));
    }
    let pairs: Vec<usize> = x.shape().iter().flat_map(|&d| [1, d]).collect();
    let wide: Vec<usize> = x
        .shape()
        .iter()
        .zip(multiples)
        .flat_map(|(&d, &m)| [m as usize, d])
        .collect();
    let out: Vec<usize> = x
        .shape()
        .iter()
        .zip(multiples)
        .map(|(&d, &m)| d.saturating_mul(m as usize))
        .collect();
    check_alloc(op, x.dtype(), &wide)?;
    reshape_to(&broadcast_to(&reshape_to(x, &pairs)?, &wide)?, &out)
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (transpose) => { $crate::ops::with_example!(
        r#"Permutes the axes by `perm` (default: reversed)."#,
        r#">>> print(tf.transpose(tf.constant([[1, 2, 3], [4, 5, 6]])))
tapegrad.Tensor(
[[1 4]
 [2 5]
 [3 6]], shape=(3, 2), dtype=int32)"#
    ) };
    (reshape) => { $crate::ops::with_example!(
        r#"Same elements, new shape; one entry may be -1 (inferred)."#,
        r#">>> print(tf.reshape(tf.range(6), [2, -1]))
tapegrad.Tensor(
[[0 1 2]
 [3 4 5]], shape=(2, 3), dtype=int32)"#
    ) };
    (cast) => { $crate::ops::with_example!(
        r#"Converts to `dtype`; float → int truncates toward zero. The gradient flows between float dtypes only."#,
        r#">>> print(tf.cast(tf.constant([1.7, -1.7]), tf.int32))
tapegrad.Tensor([ 1 -1], shape=(2,), dtype=int32)"#
    ) };
    (stop_gradient) => { $crate::ops::with_example!(
        r#"The same value, but no gradient flows back through it."#,
        r#">>> x = tf.constant(3.0)
>>> with tf.GradientTape() as tape:
...     tape.watch(x)
...     y = x * tf.stop_gradient(x)
...
>>> print(tape.gradient(y, x))
tapegrad.Tensor(3.0, shape=(), dtype=float32)"#
    ) };
    (broadcast_to) => { $crate::ops::with_example!(
        r#"Broadcasts to `shape` by numpy rules; the gradient sums back over the broadcast axes."#,
        r#">>> print(tf.broadcast_to(tf.constant([1, 2]), [2, 2]))
tapegrad.Tensor(
[[1 2]
 [1 2]], shape=(2, 2), dtype=int32)"#
    ) };
    (constant) => { $crate::ops::with_example!(
        r#"A tensor of `value` with TF's dtype inference; with `dtype`, values are cast (a float to an int dtype is refused)."#,
        r#">>> print(tf.constant([[1.0, 2.0]]))
tapegrad.Tensor([[1. 2.]], shape=(1, 2), dtype=float32)
>>> print(tf.constant(7, shape=[2], dtype=tf.int64))
tapegrad.Tensor([7 7], shape=(2,), dtype=int64)"#
    ) };
    (convert_to_tensor) => { $crate::ops::with_example!(
        r#"`value` as a Tensor (tensors and variables pass through); `dtype_hint` is used only when the value has no dtype of its own."#,
        r#">>> print(tf.convert_to_tensor([1, 2], dtype_hint=tf.float64))
tapegrad.Tensor([1. 2.], shape=(2,), dtype=float64)"#
    ) };
    (expand_dims) => { $crate::ops::with_example!(
        r#"Inserts an axis of size 1 at `axis` (negative counts from the end)."#,
        r#">>> print(tf.expand_dims(tf.constant([1, 2]), 0).shape)
(1, 2)
>>> print(tf.expand_dims(tf.constant([1, 2]), -1).shape)
(2, 1)"#
    ) };
    (squeeze) => { $crate::ops::with_example!(
        r#"Removes the size-1 axes (all, or those listed in `axis`)."#,
        r#">>> print(tf.squeeze(tf.zeros([1, 3, 1])).shape)
(3,)"#
    ) };
    (concat) => { $crate::ops::with_example!(
        r#"Joins tensors along an existing `axis`; the gradient splits back."#,
        r#">>> print(tf.concat([tf.constant([[1, 2]]), tf.constant([[3, 4]])], axis=0))
tapegrad.Tensor(
[[1 2]
 [3 4]], shape=(2, 2), dtype=int32)"#
    ) };
    (stack) => { $crate::ops::with_example!(
        r#"Joins same-shape tensors along a new `axis`."#,
        r#">>> print(tf.stack([tf.constant([1, 2]), tf.constant([3, 4])], axis=1))
tapegrad.Tensor(
[[1 3]
 [2 4]], shape=(2, 2), dtype=int32)"#
    ) };
    (unstack) => { $crate::ops::with_example!(
        r#"Splits a tensor along `axis` (default 0) into a list of tensors of one rank less."#,
        r#">>> for row in tf.unstack(tf.constant([[1, 2], [3, 4]])):
...     print(row)
...
tapegrad.Tensor([1 2], shape=(2,), dtype=int32)
tapegrad.Tensor([3 4], shape=(2,), dtype=int32)"#
    ) };
    (split) => { $crate::ops::with_example!(
        r#"Splits along `axis` into `num_or_size_splits` equal parts, or parts of the listed sizes."#,
        r#">>> a, b = tf.split(tf.range(5), [2, 3])
>>> print(a)
tapegrad.Tensor([0 1], shape=(2,), dtype=int32)
>>> print(b)
tapegrad.Tensor([2 3 4], shape=(3,), dtype=int32)"#
    ) };
    (tile) => { $crate::ops::with_example!(
        r#"Repeats the tensor `multiples[i]` times along axis i; the gradient sums the copies."#,
        r#">>> print(tf.tile(tf.constant([[1, 2]]), [2, 2]))
tapegrad.Tensor(
[[1 2 1 2]
 [1 2 1 2]], shape=(2, 4), dtype=int32)"#
    ) };
    (pad) => { $crate::ops::with_example!(
        r#"Pads with `constant_values` (only mode 'CONSTANT'): `paddings[i] = [before, after]` for axis i."#,
        r#">>> print(tf.pad(tf.constant([[1, 2]]), [[1, 0], [0, 1]]))
tapegrad.Tensor(
[[0 0 0]
 [1 2 0]], shape=(2, 3), dtype=int32)"#
    ) };
    (reverse) => { $crate::ops::with_example!(
        r#"Reverses the order of elements along each axis in `axis`."#,
        r#">>> print(tf.reverse(tf.constant([[1, 2], [3, 4]]), axis=[1]))
tapegrad.Tensor(
[[2 1]
 [4 3]], shape=(2, 2), dtype=int32)"#
    ) };
    (shape) => { $crate::ops::with_example!(
        r#"The shape as a 1-D int32 tensor."#,
        r#">>> print(tf.shape(tf.zeros([2, 3])))
tapegrad.Tensor([2 3], shape=(2,), dtype=int32)"#
    ) };
    (size) => { $crate::ops::with_example!(
        r#"The number of elements as an int32 scalar tensor."#,
        r#">>> print(tf.size(tf.zeros([2, 3])))
tapegrad.Tensor(6, shape=(), dtype=int32)"#
    ) };
    (rank) => { $crate::ops::with_example!(
        r#"The number of axes as an int32 scalar tensor."#,
        r#">>> print(tf.rank(tf.zeros([2, 3])))
tapegrad.Tensor(2, shape=(), dtype=int32)"#
    ) };
    (identity) => { $crate::ops::with_example!(
        r#"A tensor with the same value; the gradient passes through unchanged."#,
        r#">>> print(tf.identity(tf.constant([1, 2])))
tapegrad.Tensor([1 2], shape=(2,), dtype=int32)"#
    ) };
    ($name:ident) => { compile_error!(concat!("no docstring for binding `", stringify!($name), "`: add it to its family's `py_doc!`")) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstack_num_checks_the_count() {
        let x = Tensor::from_vec(&[2, 3], vec![0.0f32; 6]).unwrap();
        assert_eq!(unstack_num(&x, 1, Some(3)).unwrap().len(), 3);
        assert_eq!(unstack_num(&x, 0, None).unwrap().len(), 2);
        let err = unstack_num(&x, 0, Some(3)).unwrap_err();
        assert!(
            err.to_string()
                .contains("num = 3 does not match the dimension 2")
        );
    }

    #[test]
    fn constant_casts_then_fills_or_reshapes() {
        let one = Tensor::from_vec(&[1], vec![2i32]).unwrap();
        let filled = constant(&one, Some(DType::F64), Some(&[2, 2])).unwrap();
        assert_eq!(
            (filled.dtype(), filled.shape()),
            (DType::F64, &[2usize, 2][..])
        );
        assert_ne!(filled.id(), one.id());
        let x = Tensor::from_vec(&[4], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(constant(&x, None, Some(&[2, 2])).unwrap().shape(), &[2, 2]);
        assert!(constant(&x, None, Some(&[3])).is_err());
        assert_ne!(constant(&x, None, None).unwrap().id(), x.id());
    }

    #[test]
    fn even_split_sizes_divide_the_axis_or_fail() {
        let x = Tensor::from_vec(&[2, 6], vec![0.0f32; 12]).unwrap();
        assert_eq!(even_split_sizes(&x, 3, 1).unwrap(), vec![2, 2, 2]);
        assert_eq!(even_split_sizes(&x, 2, -2).unwrap(), vec![1, 1]);
        assert!(even_split_sizes(&x, 4, 1).is_err());
        assert!(even_split_sizes(&x, 0, 1).is_err());
        // an empty axis splits any number of ways, within a cap
        let empty = Tensor::from_vec(&[0], Vec::<f32>::new()).unwrap();
        assert_eq!(even_split_sizes(&empty, 3, 0).unwrap(), vec![0, 0, 0]);
        assert!(even_split_sizes(&empty, 1 << 20, 0).is_err());
    }

    #[test]
    fn padding_pairs_read_a_rank_by_2_int_matrix() {
        let p = Tensor::from_vec(&[2, 2], vec![1i32, 0, 2, 3]).unwrap();
        assert_eq!(padding_pairs(&p).unwrap(), vec![(1, 0), (2, 3)]);
        let negative = Tensor::from_vec(&[1, 2], vec![-1i64, 0]).unwrap();
        assert!(padding_pairs(&negative).is_err());
        let wrong_shape = Tensor::from_vec(&[3], vec![1i32, 0, 2]).unwrap();
        assert!(padding_pairs(&wrong_shape).is_err());
        let floats = Tensor::from_vec(&[1, 2], vec![1.0f32, 0.0]).unwrap();
        assert!(padding_pairs(&floats).is_err());
    }
}
