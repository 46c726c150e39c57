//! Matrix products through the `gemm` crate, behind one tested wrapper.
//!
//! Trap: gemm's convention is not BLAS's. It computes
//! `dst := alpha·dst + beta·lhs·rhs`, so a plain product is `alpha = 0,
//! beta = 1, read_dst = false`. Strides are in elements, so a transposed
//! operand is the same buffer with its two strides swapped.

use ndarray::{ArcArray, ArrayD, ArrayView2, Ix2, IxDyn};

use crate::dtype::Num;

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
) -> ArrayD<T> {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    let (m, k) = a.dim();
    let n = b.dim().1;
    let mut out = ArrayD::<T>::from_elem(IxDyn(&[m, n]), T::ZERO);
    if m == 0 || n == 0 || k == 0 {
        return out;
    }
    let par = if m * n * k >= PAR_MIN_FLOPS {
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
    out
}

/// The integer fallback (TF allows int32/int64 matmul; there is no gemm for them).
pub fn matmul_2d_naive<T: Num>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    ta: bool,
    tb: bool,
) -> ArrayD<T> {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    let (m, k) = a.dim();
    let n = b.dim().1;
    let mut out = ArrayD::<T>::from_elem(IxDyn(&[m, n]), T::ZERO);
    for i in 0..m {
        for p in 0..k {
            let x = a[[i, p]];
            for j in 0..n {
                out[[i, j]] = out[[i, j]] + x * b[[p, j]];
            }
        }
    }
    out
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
            let got = matmul_2d(a.view(), b.view(), false, false);
            for (x, y) in got.iter().zip(want.iter()) {
                assert!((x - y).abs() < 1e-12, "{m}x{k}x{n}");
            }
            // transposed operands: the same product through swapped strides
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            let got_t = matmul_2d(at.view(), bt.view(), true, true);
            for (x, y) in got_t.iter().zip(want.iter()) {
                assert!((x - y).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let got = matmul_2d(a.view(), b.view(), false, false);
        assert_eq!(got.shape(), &[2, 3]);
        assert!(got.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn naive_int_matmul() {
        let a = Array2::from_shape_vec((2, 2), vec![1i32, 2, 3, 4]).unwrap();
        let b = Array2::from_shape_vec((2, 2), vec![5i32, 6, 7, 8]).unwrap();
        let got = matmul_2d_naive(a.view(), b.view(), false, false);
        assert_eq!(
            got.iter().copied().collect::<Vec<_>>(),
            vec![19, 22, 43, 50]
        );
    }
}
