//! Indexing: gather (and the scatter-add that is its VJP), gather_nd,
//! boolean_mask, one_hot.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{AxisSlice, reshape_to, strided_slice, transpose};
use crate::shape::normalize_axis;
use crate::tape;
use crate::tensor::{Data, Tensor, check_alloc};

/// The values of an int32/int64 index tensor.
fn index_values(op: &'static str, indices: &Tensor) -> Result<Vec<i64>> {
    match indices.data() {
        Data::I32(a) => Ok(a.iter().map(|&v| v as i64).collect()),
        Data::I64(a) => Ok(a.iter().copied().collect()),
        _ => Err(Error::UnsupportedDType {
            op,
            dtype: indices.dtype(),
            allowed: "int32, int64 (indices)",
        }),
    }
}

/// The dimensions of a gather, flattened: params `[b, o, n, i]`, indices
/// `[b, m]`, output `[b, o, m, i]`.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    o: usize,
    n: usize,
    i: usize,
    m: usize,
}

/// Check a gather's arguments and work out its output shape and dims.
fn gather_dims(
    op: &'static str,
    params: &[usize],
    indices: &[usize],
    axis: i64,
    batch_dims: i64,
) -> Result<(usize, usize, Vec<usize>, Dims)> {
    let bd = if batch_dims < 0 {
        batch_dims + indices.len() as i64
    } else {
        batch_dims
    };
    if bd < 0 || bd as usize > indices.len() {
        return Err(Error::invalid(
            op,
            format!(
                "batch_dims {batch_dims} must be in [-{r}, {r}] for indices of rank {r}",
                r = indices.len()
            ),
        ));
    }
    let bd = bd as usize;
    let ax = normalize_axis(op, axis, params.len())?;
    if ax < bd || params[..bd] != indices[..bd] {
        return Err(Error::invalid(
            op,
            format!(
                "batch_dims ({bd}) must be <= axis ({ax}) and the first batch_dims dimensions of params {params:?} and indices {indices:?} must agree"
            ),
        ));
    }
    let p = |r: std::ops::Range<usize>| params[r].iter().product::<usize>();
    let dims = Dims {
        b: p(0..bd),
        o: p(bd..ax),
        n: params[ax],
        i: p(ax + 1..params.len()),
        m: indices[bd..].iter().product(),
    };
    let out: Vec<usize> = params[..ax]
        .iter()
        .chain(&indices[bd..])
        .chain(&params[ax + 1..])
        .copied()
        .collect();
    Ok((ax, bd, out, dims))
}

fn check_range(op: &'static str, idx: &[i64], n: usize) -> Result<()> {
    if let Some((at, &k)) = idx
        .iter()
        .enumerate()
        .find(|&(_, &k)| k < 0 || k as usize >= n)
    {
        return Err(Error::invalid(
            op,
            format!("indices[{at}] = {k} is not in [0, {n})"),
        ));
    }
    Ok(())
}

fn gather_kernel<T: Clone>(p: &[T], idx: &[i64], d: Dims) -> Vec<T> {
    let mut out = Vec::with_capacity(d.b * d.o * d.m * d.i);
    for bi in 0..d.b {
        for oi in 0..d.o {
            for &k in &idx[bi * d.m..(bi + 1) * d.m] {
                let at = ((bi * d.o + oi) * d.n + k as usize) * d.i;
                out.extend_from_slice(&p[at..at + d.i]);
            }
        }
    }
    out
}

fn scatter_add_kernel<T: Copy + Default + std::ops::Add<Output = T>>(
    g: &[T],
    idx: &[i64],
    d: Dims,
) -> Vec<T> {
    let mut out = vec![T::default(); d.b * d.o * d.n * d.i];
    let mut src = 0;
    for bi in 0..d.b {
        for oi in 0..d.o {
            for &k in &idx[bi * d.m..(bi + 1) * d.m] {
                let at = ((bi * d.o + oi) * d.n + k as usize) * d.i;
                for (o, &v) in out[at..at + d.i].iter_mut().zip(&g[src..src + d.i]) {
                    *o = *o + v;
                }
                src += d.i;
            }
        }
    }
    out
}

/// The elements in row-major order: borrowed when the storage already is.
fn flat<T: Clone>(a: &ndarray::ArcArray<T, ndarray::IxDyn>) -> std::borrow::Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().cloned().collect()),
    }
}

/// Move `nl` leading (cotangent batch) dimensions behind the `bd` gather
/// batch dimensions, apply `f`, and move them back: the lead dimensions
/// then sit among the "outer" dimensions a gather copies whole.
fn lead_after_batch(
    g: &Tensor,
    nl: usize,
    bd: usize,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if nl == 0 || bd == 0 {
        return f(g);
    }
    let r = g.rank();
    let perm: Vec<i64> = (nl..nl + bd)
        .chain(0..nl)
        .chain(nl + bd..r)
        .map(|a| a as i64)
        .collect();
    let out = f(&transpose(g, Some(&perm))?)?;
    let back: Vec<i64> = (bd..bd + nl)
        .chain(0..bd)
        .chain(nl + bd..out.rank())
        .map(|a| a as i64)
        .collect();
    transpose(&out, Some(&back))
}

/// `shape` with `lead` inserted after its first `bd` dimensions.
fn insert_lead(shape: &[usize], lead: &[usize], bd: usize) -> Vec<usize> {
    shape[..bd]
        .iter()
        .chain(lead)
        .chain(&shape[bd..])
        .copied()
        .collect()
}

/// Slices of `params` along `axis` picked by `indices` (TF's `GatherV2`):
/// the output shape is `params[:axis] + indices[batch_dims:] + params[axis+1:]`.
/// Its VJP adds the gradient back into the picked slices (repeated indices
/// accumulate).
pub fn gather(params: &Tensor, indices: &Tensor, axis: i64, batch_dims: i64) -> Result<Tensor> {
    let op = "GatherV2";
    let idx = index_values(op, indices)?;
    let (ax, bd, out_shape, d) =
        gather_dims(op, params.shape(), indices.shape(), axis, batch_dims)?;
    check_range(op, &idx, d.n)?;
    check_alloc(op, params.dtype(), &out_shape)?;
    let out = crate::map_data!(params.data(), a => {
        let v = gather_kernel(&flat(a), &idx, d);
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&out_shape), v)
            .map_err(|_| Error::invalid(op, "internal gather failed"))?
            .into_shared()
    }, str a => {
        let v = gather_kernel(&flat(a), &idx, d);
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&out_shape), v)
            .map_err(|_| Error::invalid(op, "internal gather failed"))?
            .into_shared()
    });
    let out = Tensor::from_data(out);
    let ctx = || (params.shape().to_vec(), out_shape.len(), ax, bd);
    tape::record_rule(
        op,
        &[params, indices],
        &out,
        [indices],
        ctx,
        [
            Some(|g, [indices], (params_shape, out_rank, ax, bd)| {
                let (ax, bd) = (*ax, *bd);
                let lead = crate::ops::lead(g, *out_rank).to_vec();
                let nl = lead.len();
                let shape = insert_lead(params_shape, &lead, bd);
                lead_after_batch(g, nl, bd, |g| {
                    gather_grad(g, indices, &shape, (ax + nl) as i64, bd as i64)
                })
            }),
            None,
        ],
    );
    Ok(out)
}

/// The transpose of `gather`: zeros of `params_shape` with each slice of
/// `g` added at the position its index names. Its VJP is `gather`.
pub fn gather_grad(
    g: &Tensor,
    indices: &Tensor,
    params_shape: &[usize],
    axis: i64,
    batch_dims: i64,
) -> Result<Tensor> {
    let op = "GatherGrad";
    let idx = index_values(op, indices)?;
    let (ax, bd, out_shape, d) = gather_dims(op, params_shape, indices.shape(), axis, batch_dims)?;
    if g.shape() != out_shape {
        return Err(Error::ShapeMismatch {
            op,
            lhs: g.shape().to_vec(),
            rhs: out_shape,
        });
    }
    check_range(op, &idx, d.n)?;
    check_alloc(op, g.dtype(), params_shape)?;
    fn shaped<T: Clone>(
        shape: &[usize],
        v: Vec<T>,
    ) -> Result<ndarray::ArcArray<T, ndarray::IxDyn>> {
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v)
            .map(|a| a.into_shared())
            .map_err(|_| Error::invalid("GatherGrad", "internal scatter failed"))
    }
    let out = Tensor::from_data(match g.data() {
        Data::F32(a) => Data::F32(shaped(params_shape, scatter_add_kernel(&flat(a), &idx, d))?),
        Data::F64(a) => Data::F64(shaped(params_shape, scatter_add_kernel(&flat(a), &idx, d))?),
        Data::I32(a) => Data::I32(shaped(params_shape, scatter_add_kernel(&flat(a), &idx, d))?),
        Data::I64(a) => Data::I64(shaped(params_shape, scatter_add_kernel(&flat(a), &idx, d))?),
        Data::Bool(_) => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: g.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
        Data::C64(_) | Data::C128(_) => crate::ops::complex::by_parts(g, |w| {
            gather_grad(w, indices, params_shape, axis, batch_dims)
        })?,
        // the half and narrow types add in their compute dtype
        _ => crate::ops::convert::computed([g], false, |[w]| {
            gather_grad(w, indices, params_shape, axis, batch_dims)
        })?,
    });
    tape::record_rule(
        op,
        &[g, indices],
        &out,
        [indices],
        || (params_shape.len(), ax, bd),
        [
            Some(|gg, [indices], &(rank, ax, bd)| {
                let nl = gg.rank() - rank;
                lead_after_batch(gg, nl, bd, |gg| {
                    gather(gg, indices, (ax + nl) as i64, bd as i64)
                })
            }),
            None,
        ],
    );
    Ok(out)
}

/// `params[indices[..., :]]`: the last axis of `indices` holds coordinates
/// into the axes of `params` after its first `batch_dims` (TF's `GatherNd`).
/// Flattened into one batched `gather`, whose VJP scatters back.
pub fn gather_nd(params: &Tensor, indices: &Tensor, batch_dims: usize) -> Result<Tensor> {
    let op = "GatherNd";
    let idx = index_values(op, indices)?;
    let b = batch_dims;
    let r = indices.rank();
    if r == 0 || b >= r || b > params.rank() || params.shape()[..b] != indices.shape()[..b] {
        return Err(Error::invalid(
            op,
            format!(
                "indices {:?} must have rank > batch_dims ({b}) and share the first batch_dims dimensions of params {:?}",
                indices.shape(),
                params.shape()
            ),
        ));
    }
    let k = indices.shape()[r - 1];
    if b + k > params.rank() {
        return Err(Error::invalid(
            op,
            format!(
                "index innermost dimension length must be <= params rank - batch_dims; saw: {k} vs. {}",
                params.rank() - b
            ),
        ));
    }
    let dims = &params.shape()[b..b + k];
    let mut flat_idx = Vec::with_capacity(idx.len() / k.max(1));
    if k == 0 {
        flat_idx.resize(indices.numel(), 0);
    }
    for (at, tuple) in idx.chunks(k.max(1)).enumerate().filter(|_| k > 0) {
        let mut f = 0i64;
        for (&c, &d) in tuple.iter().zip(dims) {
            if c < 0 || c as usize >= d {
                return Err(Error::invalid(
                    op,
                    format!(
                        "indices[{at}] = {tuple:?} does not index into param shape {:?}",
                        params.shape()
                    ),
                ));
            }
            f = f * d as i64 + c;
        }
        flat_idx.push(f);
    }
    let batch: usize = params.shape()[..b].iter().product();
    let rows: usize = dims.iter().product();
    let rest = &params.shape()[b + k..];
    let table_shape: Vec<usize> = [batch, rows].iter().chain(rest).copied().collect();
    let table = reshape_to(params, &table_shape)?;
    let m = flat_idx.len() / batch.max(1);
    let flat_idx = Tensor::from_vec(&[batch, m], flat_idx)?;
    let picked = gather(&table, &flat_idx, 1, 1)?;
    let out_shape: Vec<usize> = indices.shape()[..r - 1]
        .iter()
        .chain(rest)
        .copied()
        .collect();
    reshape_to(&picked, &out_shape)
}

/// The rows of `x` (along `axis`, over `mask.rank()` axes) where `mask` holds.
pub fn boolean_mask(x: &Tensor, mask: &Tensor, axis: i64) -> Result<Tensor> {
    let op = "boolean_mask";
    if mask.dtype() == DType::String {
        return Err(Error::UnsupportedDType {
            op,
            dtype: mask.dtype(),
            allowed: "bool or numeric (mask)",
        });
    }
    // any dtype: non-zero is true (TF applies `where` to the mask)
    let m = truthy(mask);
    let k = mask.rank();
    let ax = normalize_axis(op, axis, x.rank().max(1))?;
    if k == 0 || ax + k > x.rank() || x.shape()[ax..ax + k] != *mask.shape() {
        return Err(Error::invalid(
            op,
            format!(
                "Shapes {:?} (tensor, from axis {ax}) and {:?} (mask) are incompatible",
                x.shape(),
                mask.shape()
            ),
        ));
    }
    let picked: Vec<i64> = m
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b)
        .map(|(i, _)| i as i64)
        .collect();
    let shape: Vec<usize> = x.shape()[..ax]
        .iter()
        .copied()
        .chain(std::iter::once(mask.numel()))
        .chain(x.shape()[ax + k..].iter().copied())
        .collect();
    let n = picked.len();
    gather(
        &reshape_to(x, &shape)?,
        &Tensor::from_vec(&[n], picked)?,
        ax as i64,
        0,
    )
}

/// One-hot vectors of length `depth` along a new `axis` (−1: last): `on`
/// where the index matches, `off` elsewhere (also for out-of-range indices).
pub fn one_hot(
    indices: &Tensor,
    depth: usize,
    on: f64,
    off: f64,
    axis: i64,
    dtype: DType,
) -> Result<Tensor> {
    let op = "OneHot";
    let idx = index_values(op, indices)?;
    let r = indices.rank() as i64;
    if axis < -1 || axis > r {
        return Err(Error::invalid(
            op,
            format!("Expected axis to be -1 or between [0, {r}).  But received: {axis}"),
        ));
    }
    let ax = if axis == -1 { r } else { axis } as usize;
    let mut shape = indices.shape().to_vec();
    shape.insert(ax, depth);
    check_alloc(op, dtype, &shape)?;
    let outer: usize = indices.shape()[..ax].iter().product();
    let inner: usize = indices.shape()[ax..].iter().product();
    let mut hot = vec![false; outer * depth * inner];
    for o in 0..outer {
        for i in 0..inner {
            let k = idx[o * inner + i];
            if k >= 0 && (k as usize) < depth {
                hot[(o * depth + k as usize) * inner + i] = true;
            }
        }
    }
    let mask = Tensor::from_vec(&shape, hot)?;
    crate::ops::where_(
        &mask,
        &Tensor::scalar_of(dtype, on),
        &Tensor::scalar_of(dtype, off),
    )
}

/// Each element is non-zero (true), in row-major order.
fn truthy(t: &Tensor) -> Vec<bool> {
    fn go<T: Copy + Default + PartialEq>(a: &ndarray::ArcArray<T, ndarray::IxDyn>) -> Vec<bool> {
        a.iter().map(|&v| v != T::default()).collect()
    }
    // (a string mask is refused by the caller's bool check; none is true)
    crate::with_data!(t.data(), a => go(a), str _ => Vec::new())
}

/// The coordinates of the true (non-zero) elements, `[count, rank]` int64
/// in row-major order (`tf.where` with one argument).
pub fn nonzero(cond: &Tensor) -> Result<Tensor> {
    fn truthy<T: Copy + Default + PartialEq>(
        a: &ndarray::ArcArray<T, ndarray::IxDyn>,
    ) -> Vec<bool> {
        a.iter().map(|&v| v != T::default()).collect()
    }
    let hits: Vec<bool> = crate::with_data!(cond.data(), a => truthy(a), str _ => {
        return Err(Error::UnsupportedDType {
            op: "Where",
            dtype: cond.dtype(),
            allowed: "bool or numeric",
        });
    });
    let shape = cond.shape();
    let mut coords = Vec::new();
    for (flat, _) in hits.iter().enumerate().filter(|&(_, &h)| h) {
        let mut rest = flat;
        let mut c = vec![0i64; shape.len()];
        for (ax, &d) in shape.iter().enumerate().rev() {
            c[ax] = (rest % d) as i64;
            rest /= d;
        }
        coords.extend(c);
    }
    let count = hits.iter().filter(|&&h| h).count();
    Tensor::from_vec(&[count, shape.len()], coords)
}

/// One entry of a numpy/TF `[]` key.
#[derive(Clone, Debug)]
pub enum KeyItem {
    /// One position (negative counts from the end); the axis is dropped.
    Index(i64),
    /// `start:stop:step` (step nonzero), clamped to the axis as Python
    /// clamps a slice, so an open end is any out-of-range value (Python's
    /// slice unpacking gives `i64::MIN`/`i64::MAX`).
    Slice { start: i64, stop: i64, step: i64 },
    /// `None`/`tf.newaxis`: a new axis of size 1.
    NewAxis,
    /// `...`: as many full axes as the other entries leave.
    Ellipsis,
    /// A 1-D integer tensor: a gather along this axis.
    Gather(Tensor),
}

impl KeyItem {
    /// A tensor used as a key entry: an integer scalar of TF's index dtypes
    /// (int16, int32, int64: a uint64 must not wrap to −1) is one position,
    /// a 1-D integer tensor a gather; anything else is no index (`None`).
    pub fn from_tensor(t: Tensor) -> Option<KeyItem> {
        match (t.dtype(), t.rank()) {
            (DType::I16 | DType::I32 | DType::I64, 0) => {
                Some(KeyItem::Index(i64::try_from(t.item_int()?).ok()?))
            }
            (d, 1) if d.is_int() => Some(KeyItem::Gather(t)),
            _ => None,
        }
    }
}

/// Python's `slice(start, stop, step).indices(d)` as an `AxisSlice`.
fn python_slice(d: usize, start: i64, stop: i64, step: i64) -> AxisSlice {
    let d = d as i64;
    // negative bounds count from the end, then clamp to the axis; a
    // backward slice may stop at -1 (before the first element)
    let (lo, hi) = if step > 0 { (0, d) } else { (-1, d - 1) };
    let clamp = |i: i64| {
        if i < 0 {
            i.saturating_add(d).max(lo)
        } else {
            i.min(hi)
        }
    };
    let (start, stop) = (clamp(start), clamp(stop));
    let span = if step > 0 { stop - start } else { start - stop };
    if span <= 0 {
        return AxisSlice::range(0, 0);
    }
    AxisSlice {
        start: start as usize,
        step: step as isize,
        len: ((span - 1) / step.abs() + 1) as usize,
    }
}

/// `x[key]` with numpy/TF semantics: ints, slices with any step, `...`,
/// new axes, and at most one 1-D integer tensor (a gather along its axis).
/// A strided slice, a reshape and the gather, so the gradient is theirs.
pub fn getitem(x: &Tensor, key: &[KeyItem]) -> Result<Tensor> {
    let op = "StridedSlice";
    let consumed = key
        .iter()
        .filter(|i| !matches!(i, KeyItem::NewAxis | KeyItem::Ellipsis))
        .count();
    let rank = x.rank();
    if key
        .iter()
        .filter(|i| matches!(i, KeyItem::Ellipsis))
        .count()
        > 1
    {
        return Err(Error::invalid(
            op,
            "Multiple ellipses in slice spec not allowed",
        ));
    }
    if consumed > rank {
        return Err(Error::invalid(
            op,
            format!(
                "Index out of range: {consumed} indices for a tensor of rank {rank} (shape {:?})",
                x.shape()
            ),
        ));
    }
    let mut spec: Vec<AxisSlice> = x.shape().iter().map(|&d| AxisSlice::full(d)).collect();
    let mut shape: Vec<usize> = Vec::new();
    let mut gathered: Option<(usize, &Tensor)> = None;
    let mut ax = 0;
    for item in key {
        match item {
            KeyItem::Ellipsis => {
                shape.extend(&x.shape()[ax..ax + rank - consumed]);
                ax += rank - consumed;
            }
            KeyItem::NewAxis => shape.push(1),
            &KeyItem::Index(i) => {
                let d = x.shape()[ax] as i64;
                let k = if i < 0 { i + d } else { i };
                if !(0..d).contains(&k) {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "slice index {i} of dimension {ax} out of bounds (shape {:?})",
                            x.shape()
                        ),
                    ));
                }
                spec[ax] = AxisSlice::range(k as usize, 1);
                ax += 1;
            }
            &KeyItem::Slice { start, stop, step } => {
                if step == 0 {
                    return Err(Error::invalid(op, "slice step cannot be zero"));
                }
                spec[ax] = python_slice(x.shape()[ax], start, stop, step);
                shape.push(spec[ax].len);
                ax += 1;
            }
            KeyItem::Gather(t) => {
                if gathered.is_some() {
                    return Err(Error::unimplemented(
                        op,
                        "indexing with more than one integer tensor is not supported",
                    ));
                }
                gathered = Some((shape.len(), t));
                shape.push(x.shape()[ax]);
                ax += 1;
            }
        }
    }
    shape.extend(&x.shape()[ax..]);
    let y = reshape_to(&strided_slice(x, &spec)?, &shape)?;
    match gathered {
        Some((at, indices)) => gather(&y, indices, at as i64, 0),
        None => Ok(y),
    }
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (gather) => { $crate::ops::with_example!(
        r#"Slices of `params` at `indices` along `axis`; out-of-range indices raise InvalidArgumentError. The gradient scatter-adds back."#,
        r#">>> print(tf.gather(tf.constant([10, 20, 30]), [2, 0, 2]))
tapegrad.Tensor([30 10 30], shape=(3,), dtype=int32)"#
    ) };
    (gather_nd) => { $crate::ops::with_example!(
        r#"Elements or slices of `params` at the index tuples in the last axis of `indices`."#,
        r#">>> print(tf.gather_nd(tf.constant([[1, 2], [3, 4]]), [[1, 0], [0, 1]]))
tapegrad.Tensor([3 2], shape=(2,), dtype=int32)"#
    ) };
    (one_hot) => { $crate::ops::with_example!(
        r#"`on_value` at each index along a new axis of size `depth`, `off_value` elsewhere (float32 by default); out-of-range indices give all `off_value`."#,
        r#">>> print(tf.one_hot(tf.constant([0, 2]), 3))
tapegrad.Tensor(
[[1. 0. 0.]
 [0. 0. 1.]], shape=(2, 3), dtype=float32)"#
    ) };
    (boolean_mask) => { $crate::ops::with_example!(
        r#"The elements (or slices) of `tensor` where `mask` is true, flattened over the mask's axes."#,
        r#">>> print(tf.boolean_mask(tf.constant([1, 2, 3]), tf.constant([True, False, True])))
tapegrad.Tensor([1 3], shape=(2,), dtype=int32)"#
    ) };
    ($name:ident) => { $crate::ops::linalg::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> (Vec<usize>, Vec<i32>) {
        let a = t.array::<i32>().expect("int32");
        (t.shape().to_vec(), a.iter().copied().collect())
    }

    #[test]
    fn slices_clamp_and_step_as_python_slices() {
        let s = |start, stop, step| python_slice(5, start, stop, step);
        // [1:3], [::-1], [-2:], [10:], [:-10:-1], [::2] of a length-5 axis
        assert_eq!(
            s(1, 3, 1),
            AxisSlice {
                start: 1,
                step: 1,
                len: 2
            }
        );
        assert_eq!(
            s(i64::MAX, i64::MIN, -1),
            AxisSlice {
                start: 4,
                step: -1,
                len: 5
            }
        );
        assert_eq!(
            s(-2, i64::MAX, 1),
            AxisSlice {
                start: 3,
                step: 1,
                len: 2
            }
        );
        assert_eq!(s(10, i64::MAX, 1).len, 0);
        assert_eq!(
            s(i64::MAX, -10, -1),
            AxisSlice {
                start: 4,
                step: -1,
                len: 5
            }
        );
        assert_eq!(
            s(0, i64::MAX, 2),
            AxisSlice {
                start: 0,
                step: 2,
                len: 3
            }
        );
        assert_eq!(s(3, 1, 1).len, 0);
    }

    #[test]
    fn getitem_combines_index_slice_ellipsis_newaxis_and_gather() {
        let x = Tensor::from_vec(&[2, 3], (0..6).collect::<Vec<i32>>()).unwrap();
        let open = |step| KeyItem::Slice {
            start: i64::MIN,
            stop: i64::MAX,
            step,
        };
        // x[1] → row 1; x[..., ::-1] → columns reversed; x[None, :, 0]
        assert_eq!(
            values(&getitem(&x, &[KeyItem::Index(-1)]).unwrap()),
            (vec![3], vec![3, 4, 5])
        );
        let rev = KeyItem::Slice {
            start: i64::MAX,
            stop: i64::MIN,
            step: -1,
        };
        let y = getitem(&x, &[KeyItem::Ellipsis, rev]).unwrap();
        assert_eq!(values(&y), (vec![2, 3], vec![2, 1, 0, 5, 4, 3]));
        let y = getitem(&x, &[KeyItem::NewAxis, open(1), KeyItem::Index(0)]).unwrap();
        assert_eq!(values(&y), (vec![1, 2], vec![0, 3]));
        // x[:, [2, 0]]: a gather along axis 1
        let idx = Tensor::from_vec(&[2], vec![2i64, 0]).unwrap();
        let y = getitem(&x, &[open(1), KeyItem::Gather(idx)]).unwrap();
        assert_eq!(values(&y), (vec![2, 2], vec![2, 0, 5, 3]));
        // errors, not panics
        assert!(getitem(&x, &[KeyItem::Index(2)]).is_err());
        assert!(
            getitem(
                &x,
                &[KeyItem::Index(0), KeyItem::Index(0), KeyItem::Index(0)]
            )
            .is_err()
        );
        assert!(getitem(&x, &[KeyItem::Ellipsis, KeyItem::Ellipsis]).is_err());
        assert!(getitem(&x, &[open(0)]).is_err());
    }

    #[test]
    fn tensors_as_key_entries() {
        let index = |t: Tensor| match KeyItem::from_tensor(t) {
            Some(KeyItem::Index(i)) => Some(i),
            _ => None,
        };
        assert_eq!(index(Tensor::scalar(-2i64)), Some(-2));
        assert_eq!(index(Tensor::scalar(3i16)), Some(3));
        assert_eq!(index(Tensor::scalar(3u64)), None);
        assert_eq!(index(Tensor::scalar(1.0f32)), None);
        let rows = Tensor::from_vec(&[2], vec![0u8, 1]).unwrap();
        assert!(matches!(
            KeyItem::from_tensor(rows),
            Some(KeyItem::Gather(_))
        ));
        let matrix = Tensor::from_vec(&[1, 1], vec![0i32]).unwrap();
        assert!(KeyItem::from_tensor(matrix).is_none());
    }
}
