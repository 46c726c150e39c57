//! Reductions. Results never depend on the number of threads: a full
//! reduction splits its input at fixed, size-based chunk boundaries and
//! combines the partial results in chunk order.

use ndarray::{ArcArray, ArrayD, IxDyn};
use rayon::prelude::*;

use crate::dtype::Num;

use super::parallel;

/// Elements per partial sum of a full reduction (fixed so that the rounding
/// is the same for any thread count).
pub(crate) const CHUNK: usize = 4096;

/// Sum of a contiguous slice with eight independent accumulators, which the
/// compiler turns into SIMD lanes; the lane order of the final combine is fixed.
pub(crate) fn sum_slice<T: Num>(s: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] = acc[i] + c[i];
        }
    }
    let mut tail = T::ZERO;
    for &x in chunks.remainder() {
        tail = tail + x;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Pairwise combination of partial sums, in order.
pub(crate) fn combine<T: Num>(parts: &[T]) -> T {
    match parts.len() {
        0 => T::ZERO,
        1 => parts[0],
        n => combine(&parts[..n / 2]) + combine(&parts[n / 2..]),
    }
}

/// The elements of `v` in logical order, through the strided engine (its
/// rows vectorise; ndarray's generic element iterator was a fifth of an
/// MLP step when it transposed a bias gradient).
fn logical_order<T: Copy + Send + Sync>(v: &ndarray::ArrayViewD<'_, T>) -> Vec<T> {
    // SAFETY: pointer and strides of a live view of this shape.
    unsafe { super::strided::map1(v.shape(), v.as_ptr(), v.strides(), |x| x) }
}

/// Sum of every element.
pub fn sum_all<T: Num>(a: &ArcArray<T, IxDyn>) -> T {
    let owned;
    let s = match a.as_slice() {
        Some(s) => s,
        None => {
            owned = logical_order(&a.view());
            &owned[..]
        }
    };
    let parts: Vec<T> = if parallel(s.len()) {
        s.par_chunks(CHUNK).map(sum_slice).collect()
    } else {
        s.chunks(CHUNK).map(sum_slice).collect()
    };
    combine(&parts)
}

/// Sum over `axes` (sorted, unique, valid). The result keeps the reduced
/// axes as size 1; the caller reshapes when `keepdims` is false.
pub fn sum_axes<T: Num>(a: &ArcArray<T, IxDyn>, axes: &[usize]) -> ArcArray<T, IxDyn> {
    let mut kept_shape = a.shape().to_vec();
    for &ax in axes {
        kept_shape[ax] = 1;
    }
    if axes.len() == a.ndim() {
        return ArcArray::from_elem(IxDyn(&kept_shape), sum_all(a));
    }
    if let Some(out) = sum_leading_axes(a, axes) {
        return ArrayD::from_shape_vec(IxDyn(&kept_shape), out)
            .expect("one sum per kept element")
            .into_shared();
    }
    // Move the reduced axes last: each output element is then the sum of
    // one contiguous run of `run` elements.
    let kept: Vec<usize> = (0..a.ndim()).filter(|i| !axes.contains(i)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let moved = a.view().permuted_axes(IxDyn(&perm));
    let run: usize = axes.iter().map(|&ax| a.shape()[ax]).product();
    let owned;
    let flat = match moved.as_slice() {
        Some(s) => s,
        None => {
            owned = logical_order(&moved);
            &owned[..]
        }
    };
    let out: Vec<T> = if run == 0 {
        vec![T::ZERO; kept_shape.iter().product()]
    } else if parallel(flat.len()) {
        flat.par_chunks(run).map(sum_slice).collect()
    } else {
        flat.chunks(run).map(sum_slice).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&kept_shape), out)
        .expect("one sum per kept element")
        .into_shared()
}

/// Column sums: `axes` are the leading axes of a row-major array (a bias
/// gradient, or unbroadcasting a batch), so out[j] = Σᵣ a[r, j], added one
/// whole row at a time (a vectorised add) instead of transposing first.
/// Threads split the columns; each sum runs over r = 0, 1, … in order
/// whatever the thread count. `None` when the layout doesn't fit or the
/// rows are too short to vectorise.
fn sum_leading_axes<T: Num>(a: &ArcArray<T, IxDyn>, axes: &[usize]) -> Option<Vec<T>> {
    let s = a.as_slice()?;
    if axes.iter().enumerate().any(|(i, &ax)| i != ax) {
        return None;
    }
    let rows: usize = a.shape()[..axes.len()].iter().product();
    let cols: usize = a.shape()[axes.len()..].iter().product();
    if rows == 0 || cols < 16 {
        return None;
    }
    Some(super::strided::fill_flat(cols, |start, dst| {
        for (d, &x) in dst.iter_mut().zip(&s[start..]) {
            d.write(x);
        }
        // SAFETY: every slot was just initialised from row 0.
        let acc = unsafe { &mut *(dst as *mut [std::mem::MaybeUninit<T>] as *mut [T]) };
        for r in 1..rows {
            let row = &s[r * cols + start..r * cols + start + acc.len()];
            for (d, &x) in acc.iter_mut().zip(row) {
                *d = *d + x;
            }
        }
    }))
}

/// Move `axes` (sorted, unique, valid) last: every kept element is then one
/// contiguous run of `run` elements of the returned buffer.
fn runs_over<T: Copy + Send + Sync>(
    a: &ArcArray<T, IxDyn>,
    axes: &[usize],
) -> (Vec<T>, usize, Vec<usize>) {
    let mut kept_shape = a.shape().to_vec();
    for &ax in axes {
        kept_shape[ax] = 1;
    }
    let kept: Vec<usize> = (0..a.ndim()).filter(|i| !axes.contains(i)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let moved = a.view().permuted_axes(IxDyn(&perm));
    let run: usize = axes.iter().map(|&ax| a.shape()[ax]).product();
    let flat = match moved.as_slice() {
        Some(s) => s.to_vec(),
        None => logical_order(&moved),
    };
    (flat, run, kept_shape)
}

/// Fold `f` over `axes` starting from `init` (the value of an empty
/// reduction). Like `sum_axes`, the reduced axes are kept as size 1.
pub fn fold_axes<T, F>(a: &ArcArray<T, IxDyn>, axes: &[usize], init: T, f: F) -> ArcArray<T, IxDyn>
where
    T: Copy + Send + Sync,
    F: Fn(T, T) -> T + Send + Sync,
{
    let (flat, run, kept_shape) = runs_over(a, axes);
    let fold = |c: &[T]| c.iter().fold(init, |acc, &v| f(acc, v));
    let out: Vec<T> = if run == 0 {
        vec![init; kept_shape.iter().product()]
    } else if parallel(flat.len()) {
        flat.par_chunks(run).map(fold).collect()
    } else {
        flat.chunks(run).map(fold).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&kept_shape), out)
        .expect("one result per kept element")
        .into_shared()
}

/// The index along `axis` of the first element that `better` prefers to
/// every other one (argmax / argmin); the axis is dropped. The axis is
/// non-empty (the caller checks).
pub fn arg_axis<T, F>(a: &ArcArray<T, IxDyn>, axis: usize, better: F) -> ArcArray<i64, IxDyn>
where
    T: Copy + Send + Sync,
    F: Fn(T, T) -> bool + Send + Sync,
{
    let (flat, run, mut shape) = runs_over(a, &[axis]);
    shape.remove(axis);
    let pick = |c: &[T]| {
        let mut best = 0;
        for (i, &v) in c.iter().enumerate().skip(1) {
            if better(v, c[best]) {
                best = i;
            }
        }
        best as i64
    };
    let out: Vec<i64> = if run == 0 {
        Vec::new()
    } else {
        flat.chunks(run).map(pick).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&shape), out)
        .expect("one index per kept element")
        .into_shared()
}

/// Elements a scan runs between interrupt polls (a few ms).
const SCAN_PIECE: usize = 1 << 20;

/// Running `f` along `axis` (cumsum, cumprod): `exclusive` shifts by one,
/// starting from `init`; `reverse` runs from the end. It polls for an
/// interrupt (Ctrl-C) every `SCAN_PIECE` elements, never on small inputs.
pub fn scan_axis<T, F>(
    a: &ArcArray<T, IxDyn>,
    axis: usize,
    exclusive: bool,
    reverse: bool,
    init: T,
    f: F,
) -> crate::error::Result<ArcArray<T, IxDyn>>
where
    T: Copy + Send + Sync,
    F: Fn(T, T) -> T,
{
    let mut out = a.to_owned();
    if a.is_empty() {
        return Ok(out.into_shared());
    }
    // (counted per lane, so short lanes pay one add each, not a branch per
    // element; a long lane polls between its pieces)
    let mut since_poll = 0;
    for mut lane in out.lanes_mut(ndarray::Axis(axis)) {
        let n = lane.len();
        since_poll += n;
        if since_poll >= SCAN_PIECE {
            since_poll = 0;
            crate::interrupt::poll()?;
        }
        let mut acc = init;
        for first in (0..n).step_by(SCAN_PIECE) {
            if first > 0 {
                crate::interrupt::poll()?;
            }
            for k in first..n.min(first + SCAN_PIECE) {
                let i = if reverse { n - 1 - k } else { k };
                let v = lane[i];
                if exclusive {
                    lane[i] = acc;
                    acc = f(acc, v);
                } else {
                    acc = f(acc, v);
                    lane[i] = acc;
                }
            }
        }
    }
    Ok(out.into_shared())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_all_matches_naive_loop() {
        for n in [0usize, 1, 7, 8, 9, 4095, 4097, 100_003] {
            let v: Vec<f64> = (0..n).map(|i| (i % 17) as f64 - 8.0).collect();
            let naive: f64 = v.iter().sum();
            let a = ArrayD::from_shape_vec(IxDyn(&[n]), v)
                .unwrap()
                .into_shared();
            assert_eq!(sum_all(&a), naive, "n = {n}");
        }
    }

    #[test]
    fn sum_axes_keeps_reduced_dims() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6i32).collect())
            .unwrap()
            .into_shared();
        let s0 = sum_axes(&a, &[0]);
        assert_eq!(s0.shape(), &[1, 3]);
        assert_eq!(s0.iter().copied().collect::<Vec<_>>(), vec![3, 5, 7]);
        let s1 = sum_axes(&a, &[1]);
        assert_eq!(s1.iter().copied().collect::<Vec<_>>(), vec![3, 12]);
        assert_eq!(
            sum_axes(&a, &[0, 1]).iter().copied().collect::<Vec<_>>(),
            vec![15]
        );
    }
}
