//! Elementwise loops over arbitrarily strided and broadcast operands.
//!
//! The output is row-major. Each operand is described by its strides over
//! the output's index space (0 along broadcast axes). Axes of size 1 are
//! dropped and adjacent axes that every operand walks contiguously are
//! merged, so `[256, 256, 1] * [256, 1]` becomes rows of 256 with the second
//! operand constant along each row: the inner loop is a plain strided walk
//! and the per-row bookkeeping is amortised over the whole row.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{PAR_MIN_LEN, parallel};

/// The iteration plan: outer dims (rows) and one inner dim, per operand strides.
struct Plan<const N: usize> {
    outer: Vec<usize>,
    outer_strides: [Vec<isize>; N],
    inner: usize,
    inner_strides: [isize; N],
}

fn plan<const N: usize>(shape: &[usize], strides: [&[isize]; N]) -> Plan<N> {
    // (dim, strides) with size-1 axes dropped: their index is always 0
    let mut dims: Vec<(usize, [isize; N])> = Vec::new();
    for (axis, &d) in shape.iter().enumerate() {
        if d != 1 {
            dims.push((d, std::array::from_fn(|k| strides[k][axis])));
        }
    }
    // merge axis i into i+1 when every operand steps over i+1 contiguously
    let mut merged: Vec<(usize, [isize; N])> = Vec::new();
    for (d, s) in dims.into_iter().rev() {
        if let Some((md, ms)) = merged.last_mut()
            && (0..N).all(|k| s[k] == ms[k] * *md as isize)
        {
            *md *= d;
            continue;
        }
        merged.push((d, s));
    }
    merged.reverse();
    let (inner, inner_strides) = merged.pop().unwrap_or((1, [0; N]));
    Plan {
        outer: merged.iter().map(|(d, _)| *d).collect(),
        outer_strides: std::array::from_fn(|k| merged.iter().map(|(_, s)| s[k]).collect()),
        inner,
        inner_strides,
    }
}

impl<const N: usize> Plan<N> {
    /// Element offset of each operand at the start of row `row`.
    fn row_offsets(&self, mut row: usize) -> [isize; N] {
        let mut off = [0isize; N];
        for axis in (0..self.outer.len()).rev() {
            let i = (row % self.outer[axis]) as isize;
            row /= self.outer[axis];
            for (k, o) in off.iter_mut().enumerate() {
                *o += i * self.outer_strides[k][axis];
            }
        }
        off
    }
}

/// Raw operand pointers, shared read-only across rayon workers.
#[derive(Clone, Copy)]
pub struct Ptrs<const N: usize>(pub [*const u8; N]);
// SAFETY: the pointers are only read, and the caller keeps the arrays alive
// (borrowed) for the whole call.
unsafe impl<const N: usize> Send for Ptrs<N> {}
unsafe impl<const N: usize> Sync for Ptrs<N> {}

impl<const N: usize> Ptrs<N> {
    /// (A method, so closures capture the whole `Sync` wrapper, not the raw field.)
    fn get(&self, k: usize) -> *const u8 {
        self.0[k]
    }
}

/// Fill a row-major buffer of `shape` by calling `row(offsets, strides,
/// out_row)` once per row; `row` must initialise every slot it is given.
fn fill_rows<O: Send, const N: usize, F>(shape: &[usize], strides: [&[isize]; N], row: F) -> Vec<O>
where
    F: Fn([isize; N], [isize; N], &mut [MaybeUninit<O>]) + Sync,
{
    let n: usize = shape.iter().product();
    let mut out: Vec<O> = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let p = plan(shape, strides);
    let inner = p.inner;
    let spare = &mut out.spare_capacity_mut()[..n];
    if parallel(n) {
        // rows grouped so that each task has at least ~PAR_MIN_LEN/4 elements
        let rows_per_task = (PAR_MIN_LEN / 4).div_ceil(inner).max(1);
        spare
            .par_chunks_mut(inner * rows_per_task)
            .enumerate()
            .for_each(|(t, chunk)| {
                for (r, dst) in chunk.chunks_mut(inner).enumerate() {
                    row(p.row_offsets(t * rows_per_task + r), p.inner_strides, dst);
                }
            });
    } else {
        for (r, dst) in spare.chunks_mut(inner).enumerate() {
            row(p.row_offsets(r), p.inner_strides, dst);
        }
    }
    // SAFETY: every one of the n slots was initialised by `row`.
    unsafe { out.set_len(n) };
    out
}

/// `f(a[i])` for every index of `shape`, `a` given by pointer and strides.
///
/// # Safety
/// `a` must point to an array whose elements at every offset reachable
/// through `sa` over `shape` are valid `T`s, alive for the call.
pub unsafe fn map1<T: Copy, O: Send>(
    shape: &[usize],
    a: *const T,
    sa: &[isize],
    f: impl Fn(T) -> O + Sync,
) -> Vec<O> {
    let ptrs = Ptrs([a as *const u8]);
    fill_rows(shape, [sa], |off, st, dst| {
        let pa = ptrs.get(0) as *const T;
        for (j, d) in dst.iter_mut().enumerate() {
            // SAFETY: in bounds by the plan, see the function's contract.
            d.write(f(unsafe { *pa.offset(off[0] + j as isize * st[0]) }));
        }
    })
}

/// `f(a[i], b[i])` for every index of `shape`.
///
/// # Safety
/// As for `map1`, for both operands.
pub unsafe fn map2<T: Copy, U: Copy, O: Send>(
    shape: &[usize],
    (a, sa): (*const T, &[isize]),
    (b, sb): (*const U, &[isize]),
    f: impl Fn(T, U) -> O + Sync,
) -> Vec<O> {
    let ptrs = Ptrs([a as *const u8, b as *const u8]);
    fill_rows(shape, [sa, sb], |off, st, dst| {
        let (pa, pb) = (ptrs.get(0) as *const T, ptrs.get(1) as *const U);
        for (j, d) in dst.iter_mut().enumerate() {
            let j = j as isize;
            // SAFETY: in bounds by the plan, see the function's contract.
            let (x, y) = unsafe {
                (
                    *pa.offset(off[0] + j * st[0]),
                    *pb.offset(off[1] + j * st[1]),
                )
            };
            d.write(f(x, y));
        }
    })
}

/// `f(a[i], b[i], c[i])` for every index of `shape`.
///
/// # Safety
/// As for `map1`, for all three operands.
pub unsafe fn map3<T: Copy, U: Copy, V: Copy, O: Send>(
    shape: &[usize],
    (a, sa): (*const T, &[isize]),
    (b, sb): (*const U, &[isize]),
    (c, sc): (*const V, &[isize]),
    f: impl Fn(T, U, V) -> O + Sync,
) -> Vec<O> {
    let ptrs = Ptrs([a as *const u8, b as *const u8, c as *const u8]);
    fill_rows(shape, [sa, sb, sc], |off, st, dst| {
        let (pa, pb, pc) = (
            ptrs.get(0) as *const T,
            ptrs.get(1) as *const U,
            ptrs.get(2) as *const V,
        );
        for (j, d) in dst.iter_mut().enumerate() {
            let j = j as isize;
            // SAFETY: in bounds by the plan, see the function's contract.
            let (x, y, z) = unsafe {
                (
                    *pa.offset(off[0] + j * st[0]),
                    *pb.offset(off[1] + j * st[1]),
                    *pc.offset(off[2] + j * st[2]),
                )
            };
            d.write(f(x, y, z));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, Dimension, IxDyn};

    fn naive2(a: &ArrayD<f64>, b: &ArrayD<f64>, shape: &[usize]) -> Vec<f64> {
        let av = a.broadcast(IxDyn(shape)).unwrap();
        let bv = b.broadcast(IxDyn(shape)).unwrap();
        av.iter()
            .zip(bv.iter())
            .map(|(x, y)| x * 10.0 + y)
            .collect()
    }

    #[test]
    fn broadcast_and_transposed_operands_match_naive_iteration() {
        let cases: &[(&[usize], &[usize], &[usize])] = &[
            (&[256, 256, 1], &[256, 1], &[256, 256, 1]),
            (&[3, 1], &[1, 4], &[3, 4]),
            (&[2, 3, 4], &[4], &[2, 3, 4]),
            (&[1], &[5, 1, 2], &[5, 1, 2]),
            (&[0, 3], &[3], &[0, 3]),
            (&[], &[], &[]),
            (&[300, 200], &[300, 1], &[300, 200]),
        ];
        for &(sa, sb, so) in cases {
            let a = ArrayD::from_shape_fn(IxDyn(sa), |i| {
                (0..i.ndim()).map(|k| i[k]).sum::<usize>() as f64
            });
            let b = ArrayD::from_shape_fn(IxDyn(sb), |i| {
                (0..i.ndim()).map(|k| i[k] + 1).product::<usize>() as f64 + 0.5
            });
            let av = a.broadcast(IxDyn(so)).unwrap();
            let bv = b.broadcast(IxDyn(so)).unwrap();
            let got = unsafe {
                map2(
                    so,
                    (av.as_ptr(), av.strides()),
                    (bv.as_ptr(), bv.strides()),
                    |x: f64, y: f64| x * 10.0 + y,
                )
            };
            assert_eq!(got, naive2(&a, &b, so), "{sa:?} {sb:?}");
        }
        // a transposed (non-contiguous) operand
        let m = ArrayD::from_shape_fn(IxDyn(&[40, 30]), |i| (i[0] * 30 + i[1]) as f64);
        let t = m.t();
        let got = unsafe { map1(t.shape(), t.as_ptr(), t.strides(), |x: f64| x) };
        assert_eq!(got, t.iter().copied().collect::<Vec<_>>());
        // three operands, large enough to run in parallel
        let c = ArrayD::from_shape_fn(IxDyn(&[200, 300]), |i| (i[0] + i[1]) % 2 == 0);
        let x = ArrayD::from_elem(IxDyn(&[300]), 1.0f64);
        let y = ArrayD::from_elem(IxDyn(&[200, 1]), -1.0f64);
        let (xv, yv) = (
            x.broadcast(IxDyn(&[200, 300])).unwrap(),
            y.broadcast(IxDyn(&[200, 300])).unwrap(),
        );
        let got = unsafe {
            map3(
                &[200, 300],
                (c.as_ptr(), c.strides()),
                (xv.as_ptr(), xv.strides()),
                (yv.as_ptr(), yv.strides()),
                |k: bool, p: f64, q: f64| if k { p } else { q },
            )
        };
        let want: Vec<f64> = c.iter().map(|&k| if k { 1.0 } else { -1.0 }).collect();
        assert_eq!(got, want);
    }
}
