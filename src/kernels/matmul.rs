//! Matrix products through gemm's float32 and float64 kernels (the
//! `gemm-f32` and `gemm-f64` crates), behind one tested wrapper.
//!
//! Trap: gemm's convention is not BLAS's. It computes
//! `dst := alpha·dst + beta·lhs·rhs`, so a plain product is `alpha = 0,
//! beta = 1, read_dst = false`. Strides are in elements, so a transposed
//! operand is the same buffer with its two strides swapped (see
//! `gemm_into` for the layout its kernels want).
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
//!
//! Transposed operands (`rows_for_gemm`): gemm packs an operand read
//! through swapped strides element by element, which costs little unless
//! its column stride is a multiple of 2 KiB (then the panel it gathers
//! thrashes L1). gemm 0.19 called directly, float32, both cores, each
//! transposed product read in place and after a tiled copy into row-major
//! order (copy + product), interleaved in one process, medians of 41-301,
//! one run on the benchmark machine while another helper compiled (load
//! 3-5: absolute times up to twice an idle machine's, 1024³ A·B is 5.1 ms
//! idle):
//!
//! | product, m×n×k        | stride of the transposed operand | A·B   | in place | copied (copy alone) |
//! |-----------------------|----------------------------------|-------|----------|---------------------|
//! | A·Bᵀ 1024³            | 4 KiB                            | 10.6  | 13.4     | 11.9 (0.88)         |
//! | A·Bᵀ 1024³, 2-thread copy | 4 KiB                        | 10.6  | 13.4     | 11.2 (0.62)         |
//! | Aᵀ·B 1024³            | 4 KiB                            | 10.6  | 12.1     | 12.1 (0.90)         |
//! | A·Bᵀ 512³             | 2 KiB                            | 1.21  | 1.41     | 1.29 (0.056)        |
//! | Aᵀ·B 512³             | 2 KiB                            | 1.21  | 1.31     | 1.29 (0.056)        |
//! | A·Bᵀ 520³             | 2080 B                           | 1.34  | 1.38     | 1.43 (0.058)        |
//! | Aᵀ·B 520³             | 2080 B                           | 1.34  | 1.44     | 1.44 (0.056)        |
//! | A·Bᵀ 256×256×512      | 2 KiB                            | 0.211 | 0.316    | 0.272 (0.080)       |
//! | A·Bᵀ 128×128×512      | 2 KiB                            | 0.096 | 0.133    | 0.109 (0.012)       |
//! | Aᵀ·B 512×512×64       | 2 KiB                            | 0.168 | 0.188    | 0.175 (0.007)       |
//! | Aᵀ·B 128×128×512      | 512 B                            | 0.096 | 0.096    | 0.108 (0.013)       |
//! | Aᵀ·B 784×256×256 (W5) | 3136 B                           | 0.533 | 0.566    | 0.742 (0.149)       |
//! | A·Bᵀ 1024×1024×256    | 1 KiB                            | 2.54  | 2.77     | 3.00 (0.204)        |
//!
//! (ms.) In tapegrad, 1024² float32, the three products interleaved in one
//! process, four runs alternating with the build before the copy (same
//! load): A·Bᵀ took 1.21-1.29× A·B's time before, 1.10-1.16× with the
//! (two-thread) copy; Aᵀ·B 1.05-1.07× before, 1.06-1.13× with it. So only
//! the right operand (B, which gemm gathers on every thread) is copied, at
//! a 2 KiB-multiple stride, for products of at least `COPY_MIN_FLOPS`; the
//! left one only when no axis of it is contiguous. Then, four more runs:
//! A·Bᵀ 1.20-1.24× before, 1.12-1.15× after; Aᵀ·B 1.06-1.09× before,
//! 1.04-1.06× after (A·B's median 10.6-11.2 ms under that load, its
//! minimum 5.3 ms, as on an idle machine).
//!
//! Then the copy became a register-tile transpose (`transpose`: 16×16
//! float32 tiles in AVX-512 registers, each source and output line touched
//! once; 0.16-0.18 ms for a 1024² float32 operand on both cores, against
//! 0.5-0.9 ms for the scalar tiles). With the product after the copy as
//! fast as A·B, the copy is all that is left of the difference. tapegrad,
//! `tf.matmul` on 1024² operands, the three products interleaved in one
//! process, medians of 41 (15 for float64), builds before and after
//! alternating, one run each at load ~1.5 (the other core partly busy) and
//! three at load ~2 (a compiler on the other core: A·B ~10.5 ms):
//!
//! | dtype   | A·B (quiet) | A·Bᵀ before → after        | Aᵀ·B before → after        |
//! |---------|-------------|----------------------------|----------------------------|
//! | float32 | 5.35 ms     | 6.44 → 5.57 ms (quiet)     | 5.67 → 5.58 ms (quiet)     |
//! | float32 | ratio to A·B| 1.11-1.20× → 1.025-1.04×   | 1.05-1.11× → 1.02-1.04×    |
//! | float64 | 11.2 ms     | 1.20× → 1.065×             | 1.15× → 1.05×              |
//!
//! A transposed left operand at a 2 KiB-multiple stride is now copied as
//! well, when gemm packs it (a result wider than `PACKED_LEFT_MIN_COLS`).
//! Aᵀ·B over A·B's time, m×n×k, in place → copied, one run each at load
//! ~2: float32 512³ 1.10 → 1.03, 512×512×64 1.12 → 1.02, 1024×1024×256
//! 1.04 → 1.01, 512×512×2048 1.09 → 1.03; float64 1024³ 1.085 → 1.026,
//! 512³ 1.105 → 1.06, 256×256×1024 1.13 → 1.09, 256×1024×64 1.05 → 1.01;
//! but for narrow results, which gemm reads in place once, 512×64×512
//! 1.01 → 1.17 and 512×128×128 1.02 → 1.08.
//!
//! Tried and not kept: feeding gemm the row-major C itself (C = A·B with
//! the destination's strides swapped, instead of Cᵀ = Bᵀ·Aᵀ) takes 3.5×
//! as long for every layout (1024² float32: 19.0 ms A·B, 18.6 A·Bᵀ, 17.9
//! Aᵀ·B; gemm's microkernel stores a row-major destination element by
//! element). gemm-common picks its blocking (kc, mc, nc) from the caches
//! it detects, with no caller override; on the benchmark machine it reads
//! them right from sysfs (L1d 48 KiB 12-way, L2 1 MiB, L3 32 MiB: kc 512,
//! mc 384, nc the whole width for 1024² float32). Its global packing
//! thresholds did not help A·B: packing the right operand always, or never
//! packing the left one, 11.0 and 11.7 ms against 10.5 (medians under
//! load). Copying transposed operands at every stride (not only 2 KiB
//! multiples) moved the ratios by less than the noise (±3%), and a float64
//! A·Bᵀ at 1024² is about as fast copied as read in place (medians 12.0
//! and 12.8 ms, minimums 11.7 and 11.3), so the stride rule stays.

use ndarray::{ArcArray, Array2, ArrayD, ArrayView2, Ix2, IxDyn, s};

use gemm_common::Parallelism;

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
pub(crate) const PAR_MIN_FLOPS: usize = 1 << 22;

/// Products of at least this many multiply-adds copy a transposed right
/// operand with a cache-aliasing stride (or an operand with no contiguous
/// axis) into row-major order before gemm reads it (see `rows_for_gemm` and the module
/// doc's measurements).
const COPY_MIN_FLOPS: usize = 1 << 22;

/// Copies (`rows_for_gemm`) of at least this many elements are shared
/// among the threads, in blocks of about this many.
const PAR_COPY_MIN: usize = 1 << 16;

/// gemm packs the left operand into panels only for a result with more
/// than this many columns (2 of its microkernel's row blocks, on AVX-512
/// float32); a narrower product reads it in place, once, so a transposed
/// one is not copied (see the module doc: Aᵀ·B 512×64×512 took 1.01× A·B's
/// time in place, 1.17× copied).
const PACKED_LEFT_MIN_COLS: usize = 128;

/// A column stride (in bytes) that is a multiple of this makes gemm's
/// packing of a transposed operand thrash the L1 cache (see `rows_for_gemm`).
const ALIASING_STRIDE_BYTES: usize = 2048;

/// Multiply-adds of the largest product computed in one gemm call (1024³:
/// ~12 ms in float32 on two Zen 4 cores, ~50 ms in float64 on one). A larger
/// product is cut into blocks of about this size with an interrupt poll
/// (Ctrl-C) before each, so that it stops within one block.
const INTERRUPT_BLOCK_FLOPS: usize = 1 << 30;

/// The thinnest slice of the inner dimension a block takes: gemm's own
/// depth panels are at least this deep, so cutting along k at (about) its
/// multiples costs no packing that the single call would not do.
const DEPTH_GRANULE: usize = 512;

/// The signature of gemm's per-type kernel: `dst := alpha·dst +
/// beta·lhs·rhs` for an m×n `dst`, with `read_dst`, each operand given by
/// pointer, column stride and row stride (in that order), three conjugation
/// flags and the parallelism.
type Kernel<T> = unsafe fn(
    usize,
    usize,
    usize,
    *mut T,
    isize,
    isize,
    bool,
    *const T,
    isize,
    isize,
    *const T,
    isize,
    isize,
    T,
    T,
    bool,
    bool,
    bool,
    Parallelism,
);

/// Element types gemm multiplies natively.
pub trait GemmElement: Num + super::transpose::Transpose {
    /// gemm's kernel for this type, for the widest vector unit the CPU has
    /// (detected once by gemm).
    fn kernel() -> Kernel<Self>;
}
impl GemmElement for f32 {
    fn kernel() -> Kernel<f32> {
        gemm_f32::gemm::f32::get_gemm_fn()
    }
}
impl GemmElement for f64 {
    fn kernel() -> Kernel<f64> {
        gemm_f64::gemm::f64::get_gemm_fn()
    }
}

/// `dst := lhs·rhs`, or `dst += lhs·rhs` when `accumulate`, for an m×k
/// `lhs` and a k×n `rhs` (any strides), into m rows of `n` elements at
/// `dst`, row-major.
///
/// Trap: gemm's kernels want a column-major destination (gemm's umbrella
/// crate, no longer a dependency, arranged that): a row-major C with more
/// than one column is computed as the column-major Cᵀ = rhsᵀ·lhsᵀ, the
/// operands swapped with their strides. They also want the depth stride
/// of their left operand non-negative: a negative one (a reversed view) is
/// read from its other end, in both operands (the same sum, reordered).
///
/// # Safety
/// `lhs` and `rhs` are live views, k ≥ 1, and `dst` holds m·n elements
/// (initialised when `accumulate`).
unsafe fn gemm_into<T: GemmElement>(
    lhs: ArrayView2<T>,
    rhs: ArrayView2<T>,
    dst: *mut T,
    accumulate: bool,
    par: Parallelism,
) {
    let (m, k) = lhs.dim();
    let n = rhs.ncols();
    let [a0, a1] = [lhs.strides()[0], lhs.strides()[1]];
    let [b0, b1] = [rhs.strides()[0], rhs.strides()[1]];
    let (pa, pb) = (lhs.as_ptr(), rhs.as_ptr());
    // (kernel order: rows, cols, dst col/row strides, left ptr and col/row
    // strides, right ptr and col/row strides)
    let (rows, cols, dst_cs, dst_rs, mut l, mut l_cs, l_rs, mut r, r_cs, mut r_rs) = if n > 1 {
        (n, m, n as isize, 1, pb, b0, b1, pa, a0, a1)
    } else {
        (m, n, 1, n as isize, pa, a1, a0, pb, b1, b0)
    };
    if l_cs < 0 {
        l = l.wrapping_offset((k - 1) as isize * l_cs);
        l_cs = -l_cs;
        r = r.wrapping_offset((k - 1) as isize * r_rs);
        r_rs = -r_rs;
    }
    let (alpha, beta) = (if accumulate { T::ONE } else { T::ZERO }, T::ONE);
    // SAFETY: the caller's contract; the arrangement above describes the
    // same elements of the same buffers.
    unsafe {
        T::kernel()(
            rows, cols, k, dst, dst_cs, dst_rs, accumulate, l, l_cs, l_rs, r, r_cs, r_rs, alpha,
            beta, false, false, false, par,
        )
    };
}

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
    in_blocks(
        a,
        b,
        ta,
        tb,
        INTERRUPT_BLOCK_FLOPS,
        DEPTH_GRANULE,
        COPY_MIN_FLOPS,
    )
}

/// `matmul_2d` with its block size, depth granule and copy threshold as
/// arguments (the tests cut small products into many blocks, and copy
/// small operands).
fn in_blocks<T: GemmElement>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    ta: bool,
    tb: bool,
    block_flops: usize,
    depth_granule: usize,
    copy_min_flops: usize,
) -> Result<ArrayD<T>> {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    let (m, k) = a.dim();
    let n = b.dim().1;
    if m == 0 || n == 0 || k == 0 {
        // (an empty sum: gemm would zero the result too, but nothing to multiply)
        return zeros_out(m, n);
    }
    // An operand that gemm would read badly (see `rows_for_gemm`) is copied
    // into row-major order first when the product is large enough for the
    // copy to pay (see `COPY_MIN_FLOPS`). gemm computes the row-major
    // product as Cᵀ = bᵀ·aᵀ: `b` is the operand its kernels gather panel by
    // panel on each thread, `a` the one they pack once (NR contiguous
    // elements at a time even when it is transposed), and only for a
    // result wider than `PACKED_LEFT_MIN_COLS`.
    let flops = m.saturating_mul(n).saturating_mul(k);
    let copy = flops >= copy_min_flops;
    let a_rows = rows_for_gemm(a, copy, n > PACKED_LEFT_MIN_COLS)?;
    let b_rows = rows_for_gemm(b, copy, true)?;
    let a = a_rows.as_ref().map_or(a, |c| c.view());
    let b = b_rows.as_ref().map_or(b, |c| c.view());
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
                Parallelism::Rayon(0)
            } else {
                Parallelism::None
            };
            // SAFETY: `out` holds capacity for m×n elements, row-major with
            // row stride n, and rows first_row..last_row start at
            // first_row·n; `lhs` (bm×bk) and `rhs` (bk×n) are live views; bk
            // ≥ 1. Without `accumulate`, gemm writes every element of the
            // block without reading it; with it, the block was written by
            // the previous depth block.
            unsafe {
                gemm_into(
                    lhs,
                    rhs,
                    out.as_mut_ptr().add(first_row * n),
                    first_depth > 0,
                    par,
                )
            };
        }
    }
    // SAFETY: the loops above wrote all m×n elements (first depth block of
    // every row block) and T is Copy (nothing to drop).
    unsafe { out.set_len(m * n) };
    Ok(ArrayD::from_shape_vec(IxDyn(&[m, n]), out).expect("m×n elements"))
}

/// A row-major copy of `v` when gemm would read it badly and the product
/// is large enough for the copy to pay (`copy`); `None` when `v` is used
/// as it is. `packed`: gemm packs `v` into panels (the right operand
/// always, the left one for a result wider than `PACKED_LEFT_MIN_COLS`).
///
/// Trap: gemm packs an operand whose rows are strided (s1 ≠ 1, a
/// transposed one) one element at a time: the right operand (`b`) on each
/// thread, a panel of its columns at stride s1 for every panel of the
/// other operand; the left one (`a`) once, NR elements of each of its rows
/// per depth step. That costs little, except when s1 is a multiple of 2
/// KiB: then the panel's source lines all fall in a few of the L1 cache's
/// sets and evict each other before their other elements are packed
/// (1024² float32, stride 4 KiB: A·Bᵀ 11-24% slower than A·B, Aᵀ·B 5-11%).
/// Such an operand is copied with the register-tile transpose
/// (`transpose`), which reads each source line once: A·Bᵀ and Aᵀ·B then
/// take 1.02-1.04× A·B's time (see the module doc). A left operand that
/// gemm does not pack (a narrow result) is read once in place, which the
/// copy would only add to. An operand with no contiguous axis (every read
/// a gather) is copied at any stride (`copy_rows`). A row or column vector
/// is not strided in any way that matters.
fn rows_for_gemm<T: GemmElement>(
    v: ArrayView2<T>,
    copy: bool,
    packed: bool,
) -> Result<Option<Array2<T>>> {
    let (r, c) = v.dim();
    let [s0, s1] = [v.strides()[0], v.strides()[1]];
    let bytes = s1.unsigned_abs() * std::mem::size_of::<T>();
    let aliasing = packed && bytes.is_multiple_of(ALIASING_STRIDE_BYTES);
    let bad = s0 != 1 || aliasing;
    if !copy || s1 == 1 || r < 2 || c < 2 || !bad {
        return Ok(None);
    }
    let mut out = crate::alloc::try_vec::<T>(MATMUL_OP, &[r, c])?;
    // Blocks of rows of about `PAR_COPY_MIN` elements (a multiple of 16:
    // whole tiles of the transposing copy), shared with the pool threads
    // when the copy is large (the two cores copy a 1024² float32 operand in
    // ~60% of one core's time).
    let par = r * c >= PAR_COPY_MIN && super::parallel(r * c);
    let rows = (PAR_COPY_MIN / c).max(1).next_multiple_of(16);
    // (the address as an integer: a raw pointer is not Sync)
    let src = v.as_ptr() as usize;
    let spare = &mut out.spare_capacity_mut()[..r * c];
    super::for_each_chunk_mut(spare, rows * c, par, |p, block| {
        let first = p * rows;
        let (n, dst) = (block.len() / c, block.as_mut_ptr().cast::<T>());
        // SAFETY: `v` is a live view whose element (i, j) is at offset
        // i·s0 + j·s1 from its pointer; `block` is rows first.. of `out`,
        // room for its length / c of them.
        unsafe {
            let src = (src as *const T).offset(first as isize * s0);
            if s0 == 1 {
                // a transposed matrix: register tiles (see `transpose`)
                T::transpose_into(src, s1, n, c, dst);
            } else {
                copy_rows(src, s0, s1, n, c, dst);
            }
        }
    });
    // SAFETY: the copies wrote all r·c elements; T is Copy.
    unsafe { out.set_len(r * c) };
    Ok(Some(
        Array2::from_shape_vec((r, c), out).expect("r×c elements"),
    ))
}

/// `dst[i·c + j] = src[i·s0 + j·s1]` for the r×c elements of a strided
/// matrix, in tiles (a transposed one, s0 = 1, goes through the faster
/// `transpose` instead): read row by row, a matrix whose rows are strided
/// would touch a new cache line for every element, and with a power-of-two
/// stride those lines all fall in the same few cache sets. A tile of 64
/// bytes' worth of output rows (16 float32) × `TILE_COLS` output columns
/// reads each source line once (s0 = 1: the tile's rows are one line of
/// each of `TILE_COLS` source rows) and writes short contiguous runs. 1024²
/// float32 transposed on one core, medians of 51, one run (load ~2), by
/// tile (output rows × columns): 16×8 0.38 ms, 16×16 0.46, 8×8 0.52,
/// 8×16 0.83, 32×32 0.82, 16×64 2.0.
///
/// # Safety
/// Every offset `i·s0 + j·s1` (i < r, j < c) from `src` is a valid `T`, and
/// `dst` has room for r·c elements.
unsafe fn copy_rows<T: Copy>(src: *const T, s0: isize, s1: isize, r: usize, c: usize, dst: *mut T) {
    let tile_rows = (64 / std::mem::size_of::<T>()).max(1);
    const TILE_COLS: usize = 8;
    for i0 in (0..r).step_by(tile_rows) {
        let i1 = (i0 + tile_rows).min(r);
        for j0 in (0..c).step_by(TILE_COLS) {
            let j1 = (j0 + TILE_COLS).min(c);
            for i in i0..i1 {
                // SAFETY: (i, j) is in range for both (the caller's contract)
                unsafe {
                    let s = src.offset(i as isize * s0);
                    let d = dst.add(i * c);
                    for j in j0..j1 {
                        *d.add(j) = *s.offset(j as isize * s1);
                    }
                }
            }
        }
    }
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

    /// `a`ᵀ stored row-major (trap: `a.t().to_owned()` keeps the transposed
    /// view's column-major layout, the same memory as `a`).
    fn transposed(a: &Array2<f64>) -> Array2<f64> {
        a.t().as_standard_layout().into_owned()
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
            let at = transposed(&a);
            let bt = transposed(&b);
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
        let (at, bt) = (transposed(&a), transposed(&b));
        for (budget, granule) in [(400, 4), (2000, 16), (m * n * 10, 10), (m * n * k - 1, 1)] {
            let (rows, depth) = blocks([m, n, k], budget, granule);
            assert!(rows < m || depth < k, "{budget}: not cut");
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let x = if ta { at.view() } else { a.view() };
                let y = if tb { bt.view() } else { b.view() };
                // (transposed operands read through their strides, and copied)
                for copy_min in [usize::MAX, 0] {
                    let got = in_blocks(x, y, ta, tb, budget, granule, copy_min).unwrap();
                    assert_eq!(got.shape(), &[m, n]);
                    for (g, w) in got.iter().zip(want.iter()) {
                        assert!((g - w).abs() < 1e-12, "{budget} {ta} {tb}: {g} vs {w}");
                    }
                }
            }
        }
        // float32 blocked in depth: the same sums, only regrouped
        let (a32, b32) = (a.mapv(|v| v as f32), b.mapv(|v| v as f32));
        let got = in_blocks(a32.view(), b32.view(), false, false, 500, 8, usize::MAX).unwrap();
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((f64::from(*g) - w).abs() < 1e-4);
        }
    }

    /// op(a)·op(b) summed in the textbook order.
    fn naive(a: ArrayView2<f64>, b: ArrayView2<f64>, ta: bool, tb: bool) -> Array2<f64> {
        let a = if ta { a.reversed_axes() } else { a };
        let b = if tb { b.reversed_axes() } else { b };
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum()
        })
    }

    /// A view of some storage of a matrix.
    type ViewOf<T> = Box<dyn for<'s> Fn(&'s Array2<T>) -> ArrayView2<'s, T>>;

    /// `mat` (converted by `conv`) stored six ways, each with a view whose
    /// element (i, j) is `mat[i, j]`: contiguous; transposed (column-major);
    /// transposed with a leading dimension of 512 (a cache-aliasing stride,
    /// copied before gemm); every second row and third column of a larger
    /// buffer; reversed (negative strides); and a stepped slice of the
    /// transposed buffer. The unused slots hold NaN, so a read of a wrong
    /// element shows.
    fn layouts<T: Copy + PartialEq + std::fmt::Debug + 'static>(
        mat: &Array2<f64>,
        conv: fn(f64) -> T,
    ) -> Vec<(Array2<T>, ViewOf<T>)> {
        let (r, c) = mat.dim();
        let nan = conv(f64::NAN);
        let mut stepped = Array2::from_elem((2 * r, 3 * c), nan);
        let mut stepped_t = Array2::from_elem((3 * c, 2 * r), nan);
        let mut padded_t = Array2::from_elem((c, 512), nan);
        for ((i, j), &x) in mat.indexed_iter() {
            stepped[[2 * i, 3 * j]] = conv(x);
            stepped_t[[3 * j, 2 * i]] = conv(x);
            padded_t[[j, i]] = conv(x);
        }
        let m = mat.mapv(conv);
        let reversed = Array2::from_shape_fn((r, c), |(i, j)| m[[r - 1 - i, c - 1 - j]]);
        let out: Vec<(Array2<T>, ViewOf<T>)> = vec![
            (m.clone(), Box::new(|s| s.view())),
            (m.t().as_standard_layout().into_owned(), Box::new(|s| s.t())),
            (
                padded_t,
                Box::new(move |s| s.slice(s![.., ..r]).reversed_axes()),
            ),
            (stepped, Box::new(|s| s.slice(s![..;2, ..;3]))),
            (reversed, Box::new(|s| s.slice(s![..;-1, ..;-1]))),
            (
                stepped_t,
                Box::new(|s| s.slice(s![..;3, ..;2]).reversed_axes()),
            ),
        ];
        for (storage, view) in &out {
            assert_eq!(view(storage), m.view());
        }
        if r > 1 && c > 1 {
            assert_eq!(out[2].1(&out[2].0).strides(), &[1, 512]);
        }
        out
    }

    /// Every layout of both operands, both transpose flags, each with the
    /// operands read by gemm in place (`copy_min` = usize::MAX) and copied
    /// where that pays (0), against the naive product; sizes are not
    /// multiples of the copy's tiles.
    fn check_layouts<T: GemmElement + PartialEq + std::fmt::Debug + 'static>(
        (m, k, n): (usize, usize, usize),
        conv: fn(f64) -> T,
        back: fn(T) -> f64,
        tol: f64,
    ) {
        let a = sample(m, k, 0.3);
        let b = sample(k, n, 0.7);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let x = if ta { transposed(&a) } else { a.clone() };
            let y = if tb { transposed(&b) } else { b.clone() };
            let want = naive(x.view(), y.view(), ta, tb);
            for (xs, xv) in layouts(&x, conv) {
                for (ys, yv) in layouts(&y, conv) {
                    for copy_min in [usize::MAX, 0] {
                        let (x, y) = (xv(&xs), yv(&ys));
                        let what =
                            format!("{m}x{k}x{n} {ta} {tb} {:?} {:?}", x.strides(), y.strides());
                        let tune = (INTERRUPT_BLOCK_FLOPS, DEPTH_GRANULE, copy_min);
                        let got = in_blocks(x, y, ta, tb, tune.0, tune.1, tune.2).unwrap();
                        for (g, w) in got.iter().zip(want.iter()) {
                            assert!((back(*g) - w).abs() < tol, "{what}: {g:?} vs {w}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn strided_operands_read_in_place_or_copied_give_the_product() {
        // odd sizes (partial tiles), and vectors (one row or column: never copied)
        // and a result wider than PACKED_LEFT_MIN_COLS (a transposed left
        // operand copied too)
        for shape in [
            (19, 23, 17),
            (33, 9, 40),
            (1, 7, 5),
            (6, 1, 4),
            (5, 8, 1),
            (9, 21, 130),
        ] {
            check_layouts(shape, |v| v, |v| v, 1e-9);
            check_layouts(shape, |v| v as f32, f64::from, 1e-4);
        }
    }

    #[test]
    fn only_aliasing_or_gathered_operands_are_copied() {
        let store = Array2::<f32>::ones((64, 1040));
        let copies = |v: ArrayView2<f32>, copy| rows_for_gemm(v, copy, true).unwrap().is_some();
        // transposed views (strides (1, ld)): ld·4 bytes a multiple of 2 KiB
        let copies_t = |ld: usize, copy| {
            let rows = Array2::<f32>::ones((64, ld));
            copies(rows.t(), copy)
        };
        assert!(copies_t(512, true) && copies_t(1024, true));
        assert!(!copies_t(512, false), "product too small");
        assert!(!copies_t(520, true) && !copies_t(256, true) && !copies_t(1000, true));
        // float64: 256 elements are 2 KiB already
        let rows64 = Array2::<f64>::ones((64, 256));
        assert!(rows_for_gemm(rows64.t(), true, true).unwrap().is_some());
        // a left operand that gemm reads in place (a narrow result) only
        // when no axis is contiguous
        assert!(rows_for_gemm(rows64.t(), true, false).unwrap().is_none());
        let store64 = Array2::<f64>::ones((64, 1040));
        let gather = store64.slice(s![..;2, ..;3]);
        assert!(rows_for_gemm(gather, true, false).unwrap().is_some());
        // no contiguous axis: always a gather
        assert!(copies(store.slice(s![..;2, ..;3]), true));
        // contiguous rows (any row stride), and vectors, are read in place
        assert!(!copies(store.slice(s![.., ..100]), true));
        let rows = Array2::<f32>::ones((64, 512));
        assert!(!copies(rows.t().slice_move(s![..1, ..]), true));
        assert!(!copies(rows.t().slice_move(s![.., ..1]), true));
        // the copy is the matrix, row-major
        let m = Array2::from_shape_fn((40, 30), |(i, j)| (i * 30 + j) as f32);
        let mut padded = Array2::<f32>::zeros((30, 512));
        padded.slice_mut(s![.., ..40]).assign(&m.t());
        let v = padded.slice(s![.., ..40]).reversed_axes();
        let copy = rows_for_gemm(v, true, true).unwrap().unwrap();
        assert!(copy.is_standard_layout());
        assert_eq!(copy, m);
        // large enough to be copied in row blocks by several threads (601
        // rows: blocks of unequal length)
        let m = Array2::from_shape_fn((601, 130), |(i, j)| (i * 130 + j) as f32);
        let mut padded = Array2::<f32>::zeros((130, 1024));
        padded.slice_mut(s![.., ..601]).assign(&m.t());
        const { assert!(601 * 130 >= PAR_COPY_MIN) };
        let v = padded.slice(s![.., ..601]).reversed_axes();
        assert_eq!(rows_for_gemm(v, true, true).unwrap().unwrap(), m);
    }

    #[test]
    fn a_transposed_left_operand_is_copied_for_a_wide_result() {
        // Aᵀ·B with A stored 64×512 (its transpose has a 2 KiB float32
        // column stride), 512·n·64 ≥ COPY_MIN_FLOPS multiply-adds: copied
        // for n = 129 (gemm packs it), read in place for n = 128
        const { assert!(512 * 128 * 64 >= COPY_MIN_FLOPS && PACKED_LEFT_MIN_COLS == 128) };
        let a = sample(64, 512, 0.3);
        let a32 = a.mapv(|v| v as f32);
        assert!(rows_for_gemm(a32.t(), true, true).unwrap().is_some());
        assert!(rows_for_gemm(a32.t(), true, false).unwrap().is_none());
        for n in [128, 129] {
            let b = sample(64, n, 0.7);
            let want = naive(a.view(), b.view(), true, false);
            let got = matmul_2d(a.view(), b.view(), true, false).unwrap();
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((g - w).abs() < 1e-9, "n={n}");
            }
            let got = matmul_2d(a32.view(), b.mapv(|v| v as f32).view(), true, false).unwrap();
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((f64::from(*g) - w).abs() < 1e-3, "n={n} f32");
            }
        }
    }

    #[test]
    fn products_either_side_of_the_copy_threshold() {
        // a transposed operand with a 2 KiB (float32) or 4 KiB (float64)
        // column stride; s²·512 multiply-adds, below COPY_MIN_FLOPS at
        // s = 90 and above it at 91: read in place, then copied
        const { assert!(90 * 90 * 512 < COPY_MIN_FLOPS && 91 * 91 * 512 >= COPY_MIN_FLOPS) };
        for s in [90, 91] {
            // A·Bᵀ with B stored s×512, and Aᵀ·B with A stored s×512
            let wide = sample(s, 512, 0.3);
            let square = sample(s, s, 0.7);
            for (x, y, ta, tb) in [(&wide, &wide, false, true), (&wide, &square, true, false)] {
                let want = naive(x.view(), y.view(), ta, tb);
                let got = matmul_2d(x.view(), y.view(), ta, tb).unwrap();
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!((g - w).abs() < 1e-9, "s={s} {ta} {tb}");
                }
                let (x32, y32) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
                let got = matmul_2d(x32.view(), y32.view(), ta, tb).unwrap();
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!((f64::from(*g) - w).abs() < 1e-2, "s={s} {ta} {tb} f32");
                }
            }
        }
    }

    #[test]
    fn copy_rows_transposes_and_gathers() {
        // a column-major 37×21 matrix, and a stepped one, into row-major order
        let m = sample(37, 21, 0.9);
        let t = transposed(&m);
        let mut out = vec![0.0; 37 * 21];
        unsafe { copy_rows(t.as_ptr(), 1, 37, 37, 21, out.as_mut_ptr()) };
        assert_eq!(out, m.iter().copied().collect::<Vec<_>>());
        let big = sample(80, 50, 0.4);
        let v = big.slice(s![1..;2, ..;-3]);
        let mut out = vec![0.0; v.len()];
        let (s0, s1) = (v.strides()[0], v.strides()[1]);
        unsafe { copy_rows(v.as_ptr(), s0, s1, v.nrows(), v.ncols(), out.as_mut_ptr()) };
        assert_eq!(out, v.iter().copied().collect::<Vec<_>>());
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let got = matmul_2d(a.view(), b.view(), false, false).unwrap();
        assert_eq!(got.shape(), &[2, 3]);
        assert!(got.iter().all(|&x| x == 0.0));
        // and with a budget that would cut it
        let got = in_blocks(a.view(), b.view(), false, false, 1, 1, 0).unwrap();
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
    fn batched_transposed_products_above_the_copy_threshold() {
        // two products per call, each above COPY_MIN_FLOPS, the transposed
        // operands strided views into the batch with a 2 KiB column stride
        // (256 float64): a transposed right operand is copied
        let (m, k, n) = (256, 256, 128);
        let a = ArrayD::from_shape_fn(IxDyn(&[2, k, m]), |i| {
            ((i[0] * 5 + i[1] * 3 + i[2]) as f64 * 0.37).sin()
        })
        .into_shared();
        let b = ArrayD::from_shape_fn(IxDyn(&[2, n, k]), |i| {
            ((i[0] * 7 + i[1] + i[2] * 2) as f64 * 0.23).cos()
        })
        .into_shared();
        // (each pair's shapes agree under its flags: aᵀ·bᵀ, b·a, aᵀ·a, b·bᵀ)
        for (x, y, ta, tb) in [
            (&a, &b, true, true),
            (&b, &a, false, false),
            (&a, &a, true, false),
            (&b, &b, false, true),
        ] {
            let got = matmul_batched(x, y, ta, tb, &[2], matmul_2d::<f64>).unwrap();
            for i in 0..2 {
                let xi =
                    as_2d(&x.index_axis(ndarray::Axis(0), i).to_owned().into_shared()).to_owned();
                let yi =
                    as_2d(&y.index_axis(ndarray::Axis(0), i).to_owned().into_shared()).to_owned();
                let xi = if ta { xi.t().to_owned() } else { xi };
                let yi = if tb { yi.t().to_owned() } else { yi };
                let want = xi.dot(&yi);
                let gi = got.index_axis(ndarray::Axis(0), i);
                for (g, w) in gi.iter().zip(want.iter()) {
                    assert!((g - w).abs() < 1e-9, "{ta} {tb} batch {i}");
                }
            }
        }
    }

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
        let a2t = a2.t().as_standard_layout().into_owned().into_shared();
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
            &a2.t().as_standard_layout().into_owned().into_shared(),
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
