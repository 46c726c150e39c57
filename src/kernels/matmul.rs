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
//!
//! How a large product is cut for interrupts (`blocks`): gemm 0.19 called
//! directly on 1024² float32 buffers (medians of 9, both cores, one run on
//! the same machine, shared with a compiler run at load ~2.5):
//!
//! | product | one call | 4 row blocks | 2 row blocks | 2 depth slabs |
//! |---------|----------|--------------|--------------|---------------|
//! | A·B     | 12.0 ms  | 12.9 ms      | 12.3 ms      | 12.0 ms       |
//! | A·Bᵀ    | 13.8 ms  | 20.0 ms      | 16.0 ms      | 13.6 ms       |
//! | Aᵀ·B    | 12.4 ms  | 15.7 ms      | 14.3 ms      | 13.5 ms       |
//!
//! Each row block repacks all of B (expensive when B is read transposed);
//! a depth slab is what gemm packs per panel anyway. The old cut (four row
//! blocks, each copied into the result) is what made `tf.matmul(a, b,
//! transpose_b=True)` 1024² take 21 ms; now a 1024³ product is one call
//! and larger ones are cut along the depth first.
//!
//! Where parallelism starts to pay (`PAR_MIN_FLOPS`), same program, one
//! run, medians of 1001, the other core partly busy (load ~4):
//!
//! | m×n×k        | multiply-adds | one thread | two threads |
//! |--------------|---------------|------------|-------------|
//! | 256×256×10   | 0.66 M        | 0.014 ms   | 0.033 ms    |
//! | 96³          | 0.88 M        | 0.017 ms   | 0.034 ms    |
//! | 128³         | 2.1 M         | 0.039 ms   | 0.051 ms    |
//! | 256×256×64   | 4.2 M         | 0.076 ms   | 0.066 ms    |
//! | 192³         | 7.1 M         | 0.125 ms   | 0.092 ms    |
//! | 256³         | 16.8 M        | 0.295 ms   | 0.201 ms    |
//!
//! (the old threshold, 64³, sent W5's 256×256×10 products to both cores
//! at twice the cost of one).

use ndarray::{ArcArray, ArrayD, ArrayView2, Ix2, IxDyn, s};

use crate::dtype::Num;
use crate::error::Result;

/// The op name a product's allocation failure reports.
const MATMUL_OP: &str = "MatMul";

/// A 2-D product kernel: `op(a) · op(b)`, failing only when its output
/// cannot be allocated.
pub type Product<T> = fn(ArrayView2<'_, T>, ArrayView2<'_, T>, bool, bool) -> Result<ArrayD<T>>;

/// Products (or blocks of one) below this many multiply-adds run on the
/// calling thread: below ~4M, waking the second core costs more than it
/// saves on the benchmark machine (see the table above).
const PAR_MIN_FLOPS: usize = 1 << 22;

/// Multiply-adds of the largest product computed in one gemm call (1024³:
/// ~12 ms in float32 on two Zen 4 cores, ~50 ms in float64 on one). A larger
/// product is cut into blocks of about this size with an interrupt poll
/// (Ctrl-C) before each, so that it stops within one block.
const INTERRUPT_BLOCK_FLOPS: usize = 1 << 30;

/// The thinnest slice of the inner dimension a block takes: gemm's own
/// depth panels are at least this deep, so cutting along k at (about) its
/// multiples costs no packing that the single call would not do.
const DEPTH_GRANULE: usize = 512;

/// Element types gemm multiplies natively.
pub trait GemmElement: Num {}
impl GemmElement for f32 {}
impl GemmElement for f64 {}

/// `op(a) · op(b)` for 2-D views, where `op` transposes when the flag is set.
/// The caller has validated that the inner dimensions agree. A product
/// above `INTERRUPT_BLOCK_FLOPS` runs as several gemm calls writing straight
/// into the result, polling for an interrupt before each (see `blocks`).
pub fn matmul_2d<T: GemmElement>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    ta: bool,
    tb: bool,
) -> Result<ArrayD<T>> {
    in_blocks(a, b, ta, tb, INTERRUPT_BLOCK_FLOPS, DEPTH_GRANULE)
}

/// `matmul_2d` with its block size and depth granule as arguments (the
/// tests cut small products into many blocks).
fn in_blocks<T: GemmElement>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    ta: bool,
    tb: bool,
    block_flops: usize,
    depth_granule: usize,
) -> Result<ArrayD<T>> {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    let (m, k) = a.dim();
    let n = b.dim().1;
    if m == 0 || n == 0 || k == 0 {
        // (an empty sum: gemm would zero the result too, but nothing to multiply)
        return zeros_out(m, n);
    }
    let (rows, depth) = blocks([m, n, k], block_flops, depth_granule);
    // The result is written before it is read: every element by the first
    // depth block of its rows (gemm with alpha = 0 never reads `dst`), so it
    // is not zero-filled. Its length is set only once all blocks are in; an
    // interrupt in between drops it unexposed.
    let mut out = crate::alloc::try_vec::<T>(MATMUL_OP, &[m, n])?;
    let cut = rows < m || depth < k;
    for first_row in (0..m).step_by(rows) {
        let last_row = (first_row + rows).min(m);
        for first_depth in (0..k).step_by(depth) {
            if cut {
                crate::interrupt::poll()?;
            }
            let last_depth = (first_depth + depth).min(k);
            let lhs = a.slice(s![first_row..last_row, first_depth..last_depth]);
            let rhs = b.slice(s![first_depth..last_depth, ..]);
            let (bm, bk) = lhs.dim();
            let par = if bm * n * bk >= PAR_MIN_FLOPS && super::parallel(usize::MAX) {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            };
            let accumulate = first_depth > 0;
            // SAFETY: `out` holds capacity for m×n elements, row-major with
            // row stride n, and rows first_row..last_row start at
            // first_row·n; `lhs` (bm×bk) and `rhs` (bk×n) are live views whose
            // strides describe their own memory; T is f32 or f64. With
            // `accumulate` false, alpha = 0 and gemm writes every element of
            // the block without reading it; with it true, the block was
            // written by the previous depth block.
            unsafe {
                gemm::gemm(
                    bm,
                    n,
                    bk,
                    out.as_mut_ptr().add(first_row * n),
                    1,
                    n as isize,
                    accumulate,
                    lhs.as_ptr(),
                    lhs.strides()[1],
                    lhs.strides()[0],
                    rhs.as_ptr(),
                    rhs.strides()[1],
                    rhs.strides()[0],
                    if accumulate { T::ONE } else { T::ZERO },
                    T::ONE,
                    false,
                    false,
                    false,
                    par,
                );
            }
        }
    }
    // SAFETY: the loops above wrote all m×n elements (first depth block of
    // every row block) and T is Copy (nothing to drop).
    unsafe { out.set_len(m * n) };
    Ok(ArrayD::from_shape_vec(IxDyn(&[m, n]), out).expect("m×n elements"))
}

/// Rows and depth (inner-dimension length) of the blocks an m×n×k product
/// is computed in: the whole product when it is at most `block_flops`
/// multiply-adds, otherwise blocks of about that size, each a slab of the
/// inner dimension (at least `depth_granule` deep) over as many rows as
/// fit. Cutting the depth, not the rows, is what keeps the blocks cheap:
/// gemm packs each operand's depth panel once per call, so a cut along k
/// repacks nothing, while each cut along the rows repacks all of `b` (four
/// row blocks made a 1024³ product with a transposed `b` 50% slower). Rows
/// are cut only when one granule over the whole result is still too large.
/// Both cuts are spread evenly (no thin last block).
fn blocks([m, n, k]: [usize; 3], block_flops: usize, depth_granule: usize) -> (usize, usize) {
    let flops = m.saturating_mul(n).saturating_mul(k);
    if flops <= block_flops {
        return (m, k);
    }
    let depth_max = (block_flops / m.saturating_mul(n)).max(depth_granule);
    let depth = even_part(k, depth_max);
    let rows_max = (block_flops / n.saturating_mul(depth)).max(1);
    (even_part(m, rows_max), depth)
}

/// The size of the parts when `total` is cut into as few equal parts as
/// keep each at most `max` (the last one may be shorter).
fn even_part(total: usize, max: usize) -> usize {
    total.div_ceil(total.div_ceil(max))
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
    fn blocks_cut_the_depth_first_and_evenly() {
        let cut = |shape| blocks(shape, INTERRUPT_BLOCK_FLOPS, DEPTH_GRANULE);
        // W4's products stay one gemm call
        assert_eq!(cut([1024, 1024, 1024]), (1024, 1024));
        assert_eq!(cut([256, 256, 784]), (256, 784));
        // twice the budget: two slabs of the depth, all rows
        assert_eq!(cut([1024, 1024, 2048]), (1024, 1024));
        assert_eq!(cut([1024, 1024, 1500]), (1024, 750));
        // one granule over the whole result is over budget: rows are cut too
        assert_eq!(cut([2048, 2048, 2048]), (1024, 512));
        assert_eq!(cut([4000, 4000, 4000]), (500, 500));
        // a shallow product of a huge result: the depth stays whole
        assert_eq!(cut([1 << 16, 1 << 16, 16]), (1024, 16));
        for shape in [[3000, 7, 1 << 20], [1 << 22, 3, 300], [5, 1 << 21, 700]] {
            let (rows, depth) = cut(shape);
            assert!((1..=shape[0]).contains(&rows) && (1..=shape[2]).contains(&depth));
        }
    }

    #[test]
    fn blocked_products_equal_the_unblocked_one() {
        // odd sizes cut into uneven blocks of rows and of depth, every
        // combination of transposed operands (read through swapped strides)
        let (m, k, n) = (37, 53, 29);
        let a = sample(m, k, 0.3);
        let b = sample(k, n, 0.7);
        let want = a.dot(&b);
        let (at, bt) = (a.t().to_owned(), b.t().to_owned());
        for (budget, granule) in [(400, 4), (2000, 16), (m * n * 10, 10), (m * n * k - 1, 1)] {
            let (rows, depth) = blocks([m, n, k], budget, granule);
            assert!(rows < m || depth < k, "{budget}: not cut");
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let x = if ta { at.view() } else { a.view() };
                let y = if tb { bt.view() } else { b.view() };
                let got = in_blocks(x, y, ta, tb, budget, granule).unwrap();
                assert_eq!(got.shape(), &[m, n]);
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!((g - w).abs() < 1e-12, "{budget} {ta} {tb}: {g} vs {w}");
                }
            }
        }
        // float32 blocked in depth: the same sums, only regrouped
        let (a32, b32) = (a.mapv(|v| v as f32), b.mapv(|v| v as f32));
        let got = in_blocks(a32.view(), b32.view(), false, false, 500, 8).unwrap();
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((f64::from(*g) - w).abs() < 1e-4);
        }
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let got = matmul_2d(a.view(), b.view(), false, false).unwrap();
        assert_eq!(got.shape(), &[2, 3]);
        assert!(got.iter().all(|&x| x == 0.0));
        // and with a budget that would cut it
        let got = in_blocks(a.view(), b.view(), false, false, 1, 1).unwrap();
        assert!(got.iter().all(|&x| x == 0.0) && got.len() == 6);
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
        if n == 1 {
            // A stack of vectors is the rows of one matrix V (nbatch×k), and
            // the stacked products op(A)·vⱼ are the rows of V·op(A)ᵀ: one
            // product, already in the result's layout (no copies).
            let vectors = b
                .view()
                .into_shape_with_order((nbatch, k))
                .expect("contiguous");
            let out = mm(vectors, as_2d(a), false, !ta)?;
            return Ok(out
                .into_shape_with_order(IxDyn(&out_shape))
                .expect("same element count"));
        }
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
        // stacked vectors (n = 1): one product with the vectors as rows
        let vs = ArrayD::from_shape_fn(IxDyn(&[2, 3, 5, 1]), |i| {
            (i[0] * 7 + i[1] * 3 + i[2]) as f64
        })
        .into_shared();
        let a2t = a2.t().to_owned().into_shared();
        let a2s = a2
            .broadcast(IxDyn(&[2, 3, 4, 5]))
            .unwrap()
            .to_owned()
            .into_shared();
        let looped_v = matmul_batched(&a2s, &vs, false, false, &[2, 3], matmul_2d::<f64>).unwrap();
        for (x, ta) in [(&a2, false), (&a2t, true)] {
            let got = matmul_batched(x, &vs, ta, false, &[2, 3], matmul_2d::<f64>).unwrap();
            assert_eq!(got.shape(), &[2, 3, 4, 1]);
            for (g, w) in got.iter().zip(looped_v.iter()) {
                assert!((g - w).abs() < 1e-9);
            }
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
