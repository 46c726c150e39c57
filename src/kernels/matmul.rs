//! Matrix products through the `gemm` crate, behind one tested wrapper.
//!
//! Trap: gemm's convention is not BLAS's. It computes
//! `dst := alpha·dst + beta·lhs·rhs`, so a plain product is `alpha = 0,
//! beta = 1, read_dst = false`. Strides are in elements, so a transposed
//! operand is the same buffer with its two strides swapped.
//!
//! Why `gemm` and not `faer`: faer 0.24's `linalg::matmul::matmul` was
//! measured against this wrapper's call on 1024² float32 products, the
//! three of W4's step (A·B, and the backward's A·Bᵀ and Aᵀ·B read through
//! swapped strides, no copies), sequential and on both cores, interleaved
//! in one process on the 2-core benchmark machine (medians of 15):
//!
//! | product | threads | gemm 0.19 | faer 0.24 |
//! |---------|---------|-----------|-----------|
//! | A·B     | 1       | 407 ms    | 394 ms    |
//! | A·B     | 2       | 251 ms    | 336 ms    |
//! | Aᵀ·B    | 1       | 244 ms    | 313 ms    |
//! | Aᵀ·B    | 2       | 196 ms    | 256 ms    |
//! | A·Bᵀ    | 1       | 272 ms    | 256 ms    |
//! | A·Bᵀ    | 2       | 196 ms    | 228 ms    |
//!
//! (The machine was shared with several compiler runs at the time, load
//! ~16 on 2 cores: absolute times are ~30× an idle machine's, the ratios are
//! what counts.) faer is no faster on one core and slower on two, and it
//! would add ~15 crates to a cold build, so gemm stays; its rayon
//! parallelism splits every product above `PAR_MIN_FLOPS` over both cores.

use ndarray::{ArcArray, ArrayD, ArrayView2, Ix2, IxDyn};

use crate::dtype::Num;
use crate::error::Result;

/// The op name a product's allocation failure reports.
const MATMUL_OP: &str = "MatMul";

/// A 2-D product kernel: `op(a) · op(b)`, failing only when its output
/// cannot be allocated.
pub type Product<T> = fn(ArrayView2<'_, T>, ArrayView2<'_, T>, bool, bool) -> Result<ArrayD<T>>;

/// Products below this many multiply-adds run on the calling thread.
const PAR_MIN_FLOPS: usize = 64 * 64 * 64;

/// Element types gemm multiplies natively.
pub trait GemmElement: Num {}
impl GemmElement for f32 {}
impl GemmElement for f64 {}

/// `op(a) · op(b)` for 2-D views, where `op` transposes when the flag is set.
/// The caller has validated that the inner dimensions agree.
pub fn matmul_2d<T: GemmElement>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    ta: bool,
    tb: bool,
) -> Result<ArrayD<T>> {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    let (m, k) = a.dim();
    let n = b.dim().1;
    let mut out = zeros_out(m, n)?;
    if m == 0 || n == 0 || k == 0 {
        return Ok(out);
    }
    let par = if m * n * k >= PAR_MIN_FLOPS && super::parallel(usize::MAX) {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let (ars, acs) = (a.strides()[0], a.strides()[1]);
    let (brs, bcs) = (b.strides()[0], b.strides()[1]);
    // SAFETY: `out` is a fresh row-major m×n buffer; `a` (m×k) and `b` (k×n)
    // are live views whose strides describe their own memory; T is f32 or f64.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            acs,
            ars,
            b.as_ptr(),
            bcs,
            brs,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            par,
        );
    }
    Ok(out)
}

/// The m×n result, zeroed, allocated fallibly.
fn zeros_out<T: Num>(m: usize, n: usize) -> Result<ArrayD<T>> {
    let v = crate::alloc::try_full(MATMUL_OP, &[m, n], T::ZERO)?;
    Ok(v.into_owned())
}

/// The integer fallback (TF allows int32/int64 matmul; there is no gemm for them).
pub fn matmul_2d_naive<T: Num>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    ta: bool,
    tb: bool,
) -> Result<ArrayD<T>> {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    let (m, k) = a.dim();
    let n = b.dim().1;
    let mut out = zeros_out(m, n)?;
    for i in 0..m {
        for p in 0..k {
            let x = a[[i, p]];
            for j in 0..n {
                out[[i, j]] = out[[i, j]] + x * b[[p, j]];
            }
        }
    }
    Ok(out)
}

/// A 2-D view of a rank-2 array (the caller checked the rank).
pub fn as_2d<T>(a: &ArcArray<T, IxDyn>) -> ArrayView2<'_, T> {
    a.view()
        .into_dimensionality::<Ix2>()
        .expect("rank checked by the caller")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn sample(m: usize, n: usize, seed: f64) -> Array2<f64> {
        Array2::from_shape_fn((m, n), |(i, j)| ((i * 7 + j * 3) as f64 * seed).sin())
    }

    #[test]
    fn gemm_wrapper_matches_ndarray_dot() {
        for &(m, k, n) in &[(1, 1, 1), (3, 4, 5), (17, 33, 9), (70, 80, 90)] {
            let a = sample(m, k, 0.3);
            let b = sample(k, n, 0.7);
            let want = a.dot(&b);
            let got = matmul_2d(a.view(), b.view(), false, false).unwrap();
            for (x, y) in got.iter().zip(want.iter()) {
                assert!((x - y).abs() < 1e-12, "{m}x{k}x{n}");
            }
            // transposed operands: the same product through swapped strides
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            let got_t = matmul_2d(at.view(), bt.view(), true, true).unwrap();
            for (x, y) in got_t.iter().zip(want.iter()) {
                assert!((x - y).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let got = matmul_2d(a.view(), b.view(), false, false).unwrap();
        assert_eq!(got.shape(), &[2, 3]);
        assert!(got.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn naive_int_matmul() {
        let a = Array2::from_shape_vec((2, 2), vec![1i32, 2, 3, 4]).unwrap();
        let b = Array2::from_shape_vec((2, 2), vec![5i32, 6, 7, 8]).unwrap();
        let got = matmul_2d_naive(a.view(), b.view(), false, false).unwrap();
        assert_eq!(
            got.iter().copied().collect::<Vec<_>>(),
            vec![19, 22, 43, 50]
        );
    }
}

/// `op(a) · op(b)` over broadcast batch dimensions: `a` is `[..., m, k]`,
/// `b` is `[..., k, n]` (before `op`), ranks ≥ 2, batch shapes broadcastable
/// to `batch` (all validated by the caller). `mm` multiplies one pair.
/// Between the products of a large batch an interrupt (Ctrl-C) is polled.
pub fn matmul_batched<T: Copy>(
    a: &ArcArray<T, IxDyn>,
    b: &ArcArray<T, IxDyn>,
    ta: bool,
    tb: bool,
    batch: &[usize],
    mm: Product<T>,
) -> Result<ArrayD<T>> {
    let (ra, rb) = (a.ndim(), b.ndim());
    let m = a.shape()[if ta { ra - 1 } else { ra - 2 }];
    let n = b.shape()[if tb { rb - 2 } else { rb - 1 }];
    let out_shape: Vec<usize> = batch.iter().copied().chain([m, n]).collect();
    let nbatch: usize = batch.iter().product();

    // Batched lhs against a plain matrix: fold the batch into the rows,
    // one large product instead of many small ones (x @ W in every layer).
    if rb == 2 && !ta && a.is_standard_layout() && batch == &a.shape()[..ra - 2] {
        let k = a.shape()[ra - 1];
        let rows = a
            .view()
            .into_shape_with_order((nbatch * m, k))
            .expect("contiguous");
        let out = mm(rows, as_2d(b), false, tb)?;
        return Ok(out
            .into_shape_with_order(IxDyn(&out_shape))
            .expect("same element count"));
    }

    // A plain matrix against a batched rhs: op(A)·[B₀ B₁ …] side by side is
    // again one product (this is the input gradient of x @ W under a jacobian).
    if ra == 2 && !tb && b.is_standard_layout() && batch == &b.shape()[..rb - 2] {
        let k = b.shape()[rb - 2];
        let side_by_side = b
            .view()
            .into_shape_with_order((nbatch, k, n))
            .expect("contiguous")
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned();
        let wide = side_by_side
            .into_shape_with_order((k, nbatch * n))
            .expect("standard layout");
        let out = mm(as_2d(a), wide.view(), ta, false)?;
        let stacked = out
            .into_shape_with_order((m, nbatch, n))
            .expect("same element count")
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned();
        return Ok(stacked
            .into_shape_with_order(IxDyn(&out_shape))
            .expect("same element count"));
    }

    let a_full: Vec<usize> = batch
        .iter()
        .copied()
        .chain(a.shape()[ra - 2..].iter().copied())
        .collect();
    let b_full: Vec<usize> = batch
        .iter()
        .copied()
        .chain(b.shape()[rb - 2..].iter().copied())
        .collect();
    let av = a.broadcast(IxDyn(&a_full)).expect("validated broadcast");
    let bv = b.broadcast(IxDyn(&b_full)).expect("validated broadcast");
    let mut out = crate::alloc::try_vec(MATMUL_OP, &out_shape)?;
    for flat in 0..nbatch {
        // (rate-limited: a batch of tiny products pays a clock read each)
        crate::interrupt::poll()?;
        let idx = unravel(flat, batch);
        let prod = mm(sub_matrix(&av, &idx), sub_matrix(&bv, &idx), ta, tb)?;
        out.extend(prod.iter().copied());
    }
    Ok(ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("one m×n block per batch entry"))
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        idx[i] = flat % d;
        flat /= d;
    }
    idx
}

fn sub_matrix<'a, T>(v: &ndarray::ArrayViewD<'a, T>, idx: &[usize]) -> ArrayView2<'a, T> {
    let mut w = v.clone();
    for &i in idx {
        w = w.index_axis_move(ndarray::Axis(0), i);
    }
    w.into_dimensionality::<Ix2>()
        .expect("two trailing axes remain")
}

#[cfg(test)]
mod batched_tests {
    use super::*;

    #[test]
    fn batched_matches_a_loop_of_2d_products() {
        let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 5]), |i| {
            (i[0] + 2 * i[1] + 3 * i[2] + i[3]) as f64 * 0.1
        })
        .into_shared();
        let b = ArrayD::from_shape_fn(IxDyn(&[3, 5, 2]), |i| (i[0] * 5 + i[1] + i[2]) as f64 * 0.2)
            .into_shared();
        let out = matmul_batched(&a, &b, false, false, &[2, 3], matmul_2d::<f64>).unwrap();
        assert_eq!(out.shape(), &[2, 3, 4, 2]);
        for i in 0..2 {
            for j in 0..3 {
                let want = a
                    .index_axis(ndarray::Axis(0), i)
                    .index_axis(ndarray::Axis(0), j)
                    .into_dimensionality::<Ix2>()
                    .unwrap()
                    .dot(
                        &b.index_axis(ndarray::Axis(0), j)
                            .into_dimensionality::<Ix2>()
                            .unwrap(),
                    );
                let got = out
                    .index_axis(ndarray::Axis(0), i)
                    .index_axis(ndarray::Axis(0), j)
                    .to_owned();
                for (x, y) in got.iter().zip(want.iter()) {
                    assert!((x - y).abs() < 1e-12);
                }
            }
        }
        // the folded path: batched lhs, plain rhs
        let b2 = ArrayD::from_shape_fn(IxDyn(&[5, 2]), |i| (i[0] + i[1]) as f64).into_shared();
        let folded = matmul_batched(&a, &b2, false, false, &[2, 3], matmul_2d::<f64>).unwrap();
        let b2b = b2
            .broadcast(IxDyn(&[3, 5, 2]))
            .unwrap()
            .to_owned()
            .into_shared();
        let looped = matmul_batched(&a, &b2b, false, false, &[2, 3], matmul_2d::<f64>).unwrap();
        assert_eq!(folded, looped);
        // the side-by-side path: plain lhs, batched rhs
        let a2 =
            ArrayD::from_shape_fn(IxDyn(&[4, 5]), |i| (i[0] * 2 + i[1]) as f64 * 0.3).into_shared();
        let b3 =
            ArrayD::from_shape_fn(IxDyn(&[3, 5, 2]), |i| (i[0] + i[1] * i[2]) as f64).into_shared();
        let wide = matmul_batched(&a2, &b3, false, false, &[3], matmul_2d::<f64>).unwrap();
        let a2b = a2
            .broadcast(IxDyn(&[3, 4, 5]))
            .unwrap()
            .to_owned()
            .into_shared();
        let looped2 = matmul_batched(&a2b, &b3, false, false, &[3], matmul_2d::<f64>).unwrap();
        for (x, y) in wide.iter().zip(looped2.iter()) {
            assert!((x - y).abs() < 1e-9);
        }
        let wide_t = matmul_batched(
            &a2.t().to_owned().into_shared(),
            &b3,
            true,
            false,
            &[3],
            matmul_2d::<f64>,
        )
        .unwrap();
        for (x, y) in wide_t.iter().zip(looped2.iter()) {
            assert!((x - y).abs() < 1e-9);
        }
    }
}
