//! Reductions. Results never depend on the number of threads: a full
//! reduction splits its input at fixed, size-based chunk boundaries and
//! combines the partial results in chunk order.
//!
//! Like the elementwise kernels, they allocate their outputs fallibly and
//! poll for an interrupt (Ctrl-C) between blocks of about `POLL_BLOCK`
//! input elements (never on small inputs).

use crate::dtype::Num;
use crate::error::Result;
use ndarray::{ArcArray, ArrayD, IxDyn};

use super::strided::{POLL_BLOCK, TASK_LEN};
use super::{for_each_chunk_mut, parallel};

/// The op name a reduction's allocation failure reports.
const REDUCE_OP: &str = "reduction kernel";

/// `f` of each consecutive run of `run` elements of `flat` (the last run
/// may be shorter), in order, shared with pool threads when large; blocks of whole runs of
/// about `POLL_BLOCK` elements with an interrupt poll between them.
fn per_run<T, R, F>(flat: &[T], run: usize, f: F) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync + Send,
{
    let run = run.max(1);
    let runs = flat.len().div_ceil(run);
    let mut out = crate::alloc::try_vec(REDUCE_OP, &[runs])?;
    let per_block = (POLL_BLOCK / run).max(1) * run;
    // whole runs per task, about `TASK_LEN` elements of `flat`
    let runs_per_task = (TASK_LEN / run).max(1);
    let spare = &mut out.spare_capacity_mut()[..runs];
    // (an interrupt leaves `out` at length 0; the results written so far
    // are left unread)
    for (b, block) in flat.chunks(per_block).enumerate() {
        if b > 0 {
            crate::interrupt::poll()?;
        }
        let first = b * (per_block / run);
        let dst = &mut spare[first..first + block.len().div_ceil(run)];
        for_each_chunk_mut(dst, runs_per_task, parallel(block.len()), |t, results| {
            let runs = block.chunks(run).skip(t * runs_per_task);
            for (r, c) in results.iter_mut().zip(runs) {
                r.write(f(c));
            }
        });
    }
    // SAFETY: each of the `runs` slots was written once above.
    unsafe { out.set_len(runs) };
    Ok(out)
}

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
fn logical_order<T: Copy + Send + Sync>(v: &ndarray::ArrayViewD<'_, T>) -> Result<Vec<T>> {
    // SAFETY: pointer and strides of a live view of this shape.
    unsafe { super::strided::map1(v.shape(), v.as_ptr(), v.strides(), |x| x) }
}

/// Sum of every element.
pub fn sum_all<T: Num>(a: &ArcArray<T, IxDyn>) -> Result<T> {
    let owned;
    let s = match a.as_slice() {
        Some(s) => s,
        None => {
            owned = logical_order(&a.view())?;
            &owned[..]
        }
    };
    Ok(combine(&per_run(s, CHUNK, sum_slice)?))
}

/// Sum over `axes` (sorted, unique, valid). The result keeps the reduced
/// axes as size 1; the caller reshapes when `keepdims` is false.
pub fn sum_axes<T: Num>(a: &ArcArray<T, IxDyn>, axes: &[usize]) -> Result<ArcArray<T, IxDyn>> {
    let mut kept_shape = a.shape().to_vec();
    for &ax in axes {
        kept_shape[ax] = 1;
    }
    if axes.len() == a.ndim() {
        return Ok(ArcArray::from_elem(IxDyn(&kept_shape), sum_all(a)?));
    }
    if let Some(out) = sum_leading_axes(a, axes)? {
        return Ok(ArrayD::from_shape_vec(IxDyn(&kept_shape), out)
            .expect("one sum per kept element")
            .into_shared());
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
            owned = logical_order(&moved)?;
            &owned[..]
        }
    };
    if run == 0 {
        return crate::alloc::try_full(REDUCE_OP, &kept_shape, T::ZERO);
    }
    let out = per_run(flat, run, sum_slice)?;
    Ok(ArrayD::from_shape_vec(IxDyn(&kept_shape), out)
        .expect("one sum per kept element")
        .into_shared())
}

/// Column sums: `axes` are the leading axes of a row-major array (a bias
/// gradient, or unbroadcasting a batch), so out[j] = Σᵣ a[r, j], added one
/// whole row at a time (a vectorised add) instead of transposing first.
/// Threads split the columns; each sum runs over r = 0, 1, … in order
/// whatever the thread count. `None` when the layout doesn't fit or the
/// rows are too short to vectorise. Rows are added a block at a time, with
/// an interrupt poll between blocks of about `POLL_BLOCK` elements.
fn sum_leading_axes<T: Num>(a: &ArcArray<T, IxDyn>, axes: &[usize]) -> Result<Option<Vec<T>>> {
    let Some(s) = a.as_slice() else {
        return Ok(None);
    };
    if axes.iter().enumerate().any(|(i, &ax)| i != ax) {
        return Ok(None);
    }
    let rows: usize = a.shape()[..axes.len()].iter().product();
    let cols: usize = a.shape()[axes.len()..].iter().product();
    if rows == 0 || cols < 16 {
        return Ok(None);
    }
    let mut acc = crate::alloc::try_vec(REDUCE_OP, &[cols])?;
    acc.extend_from_slice(&s[..cols]);
    let rows_per_block = (POLL_BLOCK / cols).max(1);
    for first in (1..rows).step_by(rows_per_block) {
        if first > 1 {
            crate::interrupt::poll()?;
        }
        let last = (first + rows_per_block).min(rows);
        // columns start.. of rows first..last added into `acc` in row order
        let add = |start: usize, acc: &mut [T]| {
            for r in first..last {
                let row = &s[r * cols + start..r * cols + start + acc.len()];
                for (d, &x) in acc.iter_mut().zip(row) {
                    *d = *d + x;
                }
            }
        };
        let par = parallel(cols * (last - first));
        for_each_chunk_mut(&mut acc, TASK_LEN, par, |t, piece| add(t * TASK_LEN, piece));
    }
    Ok(Some(acc))
}

/// Move `axes` (sorted, unique, valid) last: every kept element is then one
/// contiguous run of `run` elements of the returned buffer.
fn runs_over<T: Copy + Send + Sync>(
    a: &ArcArray<T, IxDyn>,
    axes: &[usize],
) -> Result<(Vec<T>, usize, Vec<usize>)> {
    let mut kept_shape = a.shape().to_vec();
    for &ax in axes {
        kept_shape[ax] = 1;
    }
    let kept: Vec<usize> = (0..a.ndim()).filter(|i| !axes.contains(i)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let moved = a.view().permuted_axes(IxDyn(&perm));
    let run: usize = axes.iter().map(|&ax| a.shape()[ax]).product();
    let flat = match moved.as_slice() {
        Some(s) => {
            let mut copy = crate::alloc::try_vec(REDUCE_OP, &[s.len()])?;
            copy.extend_from_slice(s);
            copy
        }
        None => logical_order(&moved)?,
    };
    Ok((flat, run, kept_shape))
}

/// Fold `f` over `axes` starting from `init` (the value of an empty
/// reduction). Like `sum_axes`, the reduced axes are kept as size 1.
pub fn fold_axes<T, F>(
    a: &ArcArray<T, IxDyn>,
    axes: &[usize],
    init: T,
    f: F,
) -> Result<ArcArray<T, IxDyn>>
where
    T: Copy + Send + Sync,
    F: Fn(T, T) -> T + Send + Sync,
{
    let (flat, run, kept_shape) = runs_over(a, axes)?;
    if run == 0 {
        return crate::alloc::try_full(REDUCE_OP, &kept_shape, init);
    }
    let out = per_run(&flat, run, |c: &[T]| {
        c.iter().fold(init, |acc, &v| f(acc, v))
    })?;
    Ok(ArrayD::from_shape_vec(IxDyn(&kept_shape), out)
        .expect("one result per kept element")
        .into_shared())
}

/// The index along `axis` of the first element that `better` prefers to
/// every other one (argmax / argmin); the axis is dropped. The axis is
/// non-empty (the caller checks).
pub fn arg_axis<T, F>(
    a: &ArcArray<T, IxDyn>,
    axis: usize,
    better: F,
) -> Result<ArcArray<i64, IxDyn>>
where
    T: Copy + Send + Sync,
    F: Fn(T, T) -> bool + Send + Sync,
{
    let (flat, run, mut shape) = runs_over(a, &[axis])?;
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
        per_run(&flat, run, pick)?
    };
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), out)
        .expect("one index per kept element")
        .into_shared())
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
    // (a fallible copy in standard layout: `to_owned` would abort on failure)
    let mut out = ArrayD::from_shape_vec(a.raw_dim(), logical_order(&a.view())?)
        .expect("one element per index");
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
            assert_eq!(sum_all(&a).unwrap(), naive, "n = {n}");
        }
    }

    #[test]
    fn sum_axes_keeps_reduced_dims() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6i32).collect())
            .unwrap()
            .into_shared();
        let s0 = sum_axes(&a, &[0]).unwrap();
        assert_eq!(s0.shape(), &[1, 3]);
        assert_eq!(s0.iter().copied().collect::<Vec<_>>(), vec![3, 5, 7]);
        let s1 = sum_axes(&a, &[1]).unwrap();
        assert_eq!(s1.iter().copied().collect::<Vec<_>>(), vec![3, 12]);
        assert_eq!(
            sum_axes(&a, &[0, 1])
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![15]
        );
    }
}
