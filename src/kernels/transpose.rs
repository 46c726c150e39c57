//! Transposing copies for the matrix products (`matmul::rows_for_gemm`):
//! `dst[i·c + j] = src[i + j·ld]`, the r×c row-major copy of a matrix whose
//! columns are contiguous (a transposed view, column stride `ld`).
//!
//! Why register tiles: read element by element, a transpose touches a new
//! source line for every element of an output row, and with a power-of-two
//! `ld` those lines all fall in the same few L1 sets and evict each other
//! before their other elements are used. A square tile of T×T elements,
//! T·size = 64 bytes (16 float32, 8 float64), is read as T vectors (one full
//! cache line of each of T source columns), transposed in registers and
//! written as T full lines of the output: each line is touched exactly once,
//! whatever the stride. Tiles go in blocks of `BLOCK`² elements, so that
//! the next tile's lines are the neighbours of the last one's (the hardware
//! prefetcher follows them). AVX2 machines use 8×8 (float32) and 4×4
//! (float64) tiles, half a line each; others the scalar loop (`scalar`).
//!
//! 1024² float32 (4 KiB column stride), the copy alone, both cores (each
//! copying half of the rows), interleaved in one program, one run on the
//! benchmark machine (2-core Zen 5 guest), minimums of 41 (the other core
//! was compiling):
//!
//! | copy                                                   | ms    |
//! |--------------------------------------------------------|-------|
//! | scalar tiles of 16×8 (the copy before)                 | 0.51  |
//! | 16×16 AVX-512 tiles, along a band of 16 output rows    | 0.195 |
//! | the same, 64×64 blocks                                 | 0.163 |
//! | the same, 32×128 blocks                                | 0.157 |
//! | `memcpy` of the same 4 MiB, for scale                  | 0.072 |
//!
//! (one core: 0.30 ms for the 16×16 tiles, 0.63 for the scalar copy. The
//! band of 16×16 tiles from and to 64-byte aligned buffers: 0.25 ms, and
//! 0.32 ms with both 16 bytes off, every load and store split over two
//! lines.) A second run on a quieter machine, medians
//! of 101, blocks of rows × columns: 64×64 0.179 and 0.171 ms, 32×32
//! 0.169, 32×64 0.164, 16×64 0.171, 32×128 0.177, a 16-row band 0.190,
//! 64×32 0.203, 128×32 0.223, 64×16 0.265 (narrow blocks walk down more
//! source columns, one 4 KiB page each, per output line); prefetching the
//! next tile's lines in software gained nothing measurable.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Elements on a side of the square blocks of tiles a copy walks through.
const BLOCK: usize = 64;

/// Element types with a register-tile transpose.
pub trait Transpose: Copy {
    /// `dst[i·c + j] = src[i + j·ld]` for i < r, j < c, with the widest
    /// vector unit the CPU has.
    ///
    /// # Safety
    /// Every `src + i + j·ld` (i < r, j < c) is a valid `Self`; `dst` has
    /// room for r·c of them and does not overlap those.
    unsafe fn transpose_into(src: *const Self, ld: isize, r: usize, c: usize, dst: *mut Self);
}

impl Transpose for f32 {
    unsafe fn transpose_into(src: *const f32, ld: isize, r: usize, c: usize, dst: *mut f32) {
        #[cfg(target_arch = "x86_64")]
        match super::strided::simd_level() {
            // SAFETY: the CPU has the features (checked at run time); the
            // rest is the caller's contract.
            2 => return unsafe { f32_avx512(src, ld, r, c, dst) },
            1 => return unsafe { f32_avx2(src, ld, r, c, dst) },
            _ => {}
        }
        // SAFETY: the caller's contract.
        unsafe { scalar(src, ld, (0, r), (0, c), c, dst) }
    }
}

impl Transpose for f64 {
    unsafe fn transpose_into(src: *const f64, ld: isize, r: usize, c: usize, dst: *mut f64) {
        #[cfg(target_arch = "x86_64")]
        match super::strided::simd_level() {
            // SAFETY: as for f32.
            2 => return unsafe { f64_avx512(src, ld, r, c, dst) },
            1 => return unsafe { f64_avx2(src, ld, r, c, dst) },
            _ => {}
        }
        // SAFETY: the caller's contract.
        unsafe { scalar(src, ld, (0, r), (0, c), c, dst) }
    }
}

/// Rows `r0..r1` and columns `c0..c1` of the output (row length `c`), one
/// element at a time: for each output column, a contiguous run of up to a
/// cache line's worth of source elements goes down that many output rows.
///
/// # Safety
/// As `Transpose::transpose_into`, for the rows and columns given.
unsafe fn scalar<T: Copy>(
    src: *const T,
    ld: isize,
    (r0, r1): (usize, usize),
    (c0, c1): (usize, usize),
    c: usize,
    dst: *mut T,
) {
    let run = (64 / std::mem::size_of::<T>()).max(1);
    for i0 in (r0..r1).step_by(run) {
        let i1 = (i0 + run).min(r1);
        for j in c0..c1 {
            // SAFETY: (i, j) is in range (the caller's contract).
            unsafe {
                let s = src.offset(j as isize * ld);
                for i in i0..i1 {
                    *dst.add(i * c + j) = *s.add(i);
                }
            }
        }
    }
}

/// A transposing copy whose whole tiles go through `$tile` (N×N elements:
/// N source columns at `ld` in, N output rows at `ldd` out) and whose
/// remainder columns and rows go through `scalar`, compiled with `$feat`.
#[cfg(target_arch = "x86_64")]
macro_rules! tiled {
    ($name:ident, $ty:ty, $n:expr, $tile:ident, $feat:literal) => {
        /// # Safety
        /// As `Transpose::transpose_into`, on a CPU with the enabled features.
        #[target_feature(enable = $feat)]
        unsafe fn $name(src: *const $ty, ld: isize, r: usize, c: usize, dst: *mut $ty) {
            const N: usize = $n;
            let (rf, cf) = (r / N * N, c / N * N);
            for ib in (0..rf).step_by(BLOCK) {
                for jb in (0..cf).step_by(BLOCK) {
                    for i in (ib..(ib + BLOCK).min(rf)).step_by(N) {
                        for j in (jb..(jb + BLOCK).min(cf)).step_by(N) {
                            // SAFETY: the tile's rows i..i+N < r and
                            // columns j..j+N < c are in range.
                            unsafe {
                                $tile(
                                    src.offset(i as isize + j as isize * ld),
                                    ld,
                                    dst.add(i * c + j),
                                    c,
                                )
                            };
                        }
                    }
                }
            }
            // SAFETY: the remaining columns of the whole-tile rows, then the
            // remaining rows, are in range.
            unsafe {
                scalar(src, ld, (0, rf), (cf, c), c, dst);
                scalar(src, ld, (rf, r), (0, c), c, dst);
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
tiled!(f32_avx512, f32, 16, tile_f32x16, "avx512f");
#[cfg(target_arch = "x86_64")]
tiled!(f64_avx512, f64, 8, tile_f64x8, "avx512f");
#[cfg(target_arch = "x86_64")]
tiled!(f32_avx2, f32, 8, tile_f32x8, "avx2");
#[cfg(target_arch = "x86_64")]
tiled!(f64_avx2, f64, 4, tile_f64x4, "avx2");

/// One 16×16 float32 tile: `dst[i·ldd + j] = src[i + j·ld]`.
///
/// With rows r_j (source column j, elements 0..16) in 16 registers:
/// interleaving pairs of floats (unpack_ps) then pairs of pairs (unpack_pd)
/// leaves, for each group g of four rows, register 4g + q holding elements
/// q, q+4, q+8, q+12 (one per 128-bit lane) of rows 4g..4g+4; two rounds of
/// lane shuffles then gather lane L of registers q, 4+q, 8+q, 12+q into
/// output row q + 4L. (Plain loops over register arrays, no closures: the
/// intrinsics must inline into this function's AVX-512 context.)
///
/// # Safety
/// Every `src + i + j·ld` and `dst + i·ldd + j` (i, j < 16) is valid.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_f32x16(src: *const f32, ld: isize, dst: *mut f32, ldd: usize) {
    // SAFETY: the caller's contract (unaligned loads and stores).
    unsafe {
        let mut r = [_mm512_setzero_ps(); 16];
        for (j, row) in r.iter_mut().enumerate() {
            *row = _mm512_loadu_ps(src.offset(j as isize * ld));
        }
        let mut t = [_mm512_setzero_pd(); 16];
        for p in 0..8 {
            let (a, b) = (r[2 * p], r[2 * p + 1]);
            t[2 * p] = _mm512_castps_pd(_mm512_unpacklo_ps(a, b));
            t[2 * p + 1] = _mm512_castps_pd(_mm512_unpackhi_ps(a, b));
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            // t[4g], t[4g+1]: rows 4g, 4g+1 interleaved (low and high
            // pairs of each lane); t[4g+2], t[4g+3]: rows 4g+2, 4g+3
            let [a, b, c, d] = [t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]];
            u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
            u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
            u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
            u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
        }
        for q in 0..4 {
            // lanes (0, 2 | 0, 2) and (1, 3 | 1, 3) of two groups each
            let even = _mm512_shuffle_f32x4::<0x88>(u[q], u[4 + q]);
            let odd = _mm512_shuffle_f32x4::<0xDD>(u[q], u[4 + q]);
            let even2 = _mm512_shuffle_f32x4::<0x88>(u[8 + q], u[12 + q]);
            let odd2 = _mm512_shuffle_f32x4::<0xDD>(u[8 + q], u[12 + q]);
            let row = |i: usize| dst.add(i * ldd);
            _mm512_storeu_ps(row(q), _mm512_shuffle_f32x4::<0x88>(even, even2));
            _mm512_storeu_ps(row(q + 8), _mm512_shuffle_f32x4::<0xDD>(even, even2));
            _mm512_storeu_ps(row(q + 4), _mm512_shuffle_f32x4::<0x88>(odd, odd2));
            _mm512_storeu_ps(row(q + 12), _mm512_shuffle_f32x4::<0xDD>(odd, odd2));
        }
    }
}

/// One 8×8 float64 tile: `dst[i·ldd + j] = src[i + j·ld]` (interleaved
/// pairs, then two rounds of 128-bit lane shuffles, as `tile_f32x16`).
///
/// # Safety
/// Every `src + i + j·ld` and `dst + i·ldd + j` (i, j < 8) is valid.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_f64x8(src: *const f64, ld: isize, dst: *mut f64, ldd: usize) {
    // SAFETY: the caller's contract (unaligned loads and stores).
    unsafe {
        let mut r = [_mm512_setzero_pd(); 8];
        for (j, row) in r.iter_mut().enumerate() {
            *row = _mm512_loadu_pd(src.offset(j as isize * ld));
        }
        // t[2p]: elements 0, 2, 4, 6 of rows 2p, 2p+1 interleaved; t[2p+1]: 1, 3, 5, 7
        let mut t = [_mm512_setzero_pd(); 8];
        for p in 0..4 {
            t[2 * p] = _mm512_unpacklo_pd(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_pd(r[2 * p], r[2 * p + 1]);
        }
        // u[4g + q], rows 4g..4g+4: elements (0, 4), (2, 6), (1, 5), (3, 7)
        // for q = 0, 1, 2, 3 (lanes 0-1 the first, 2-3 the second)
        let mut u = [_mm512_setzero_pd(); 8];
        for g in 0..2 {
            let [a, b, c, d] = [t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]];
            u[4 * g] = _mm512_shuffle_f64x2::<0x88>(a, c);
            u[4 * g + 1] = _mm512_shuffle_f64x2::<0xDD>(a, c);
            u[4 * g + 2] = _mm512_shuffle_f64x2::<0x88>(b, d);
            u[4 * g + 3] = _mm512_shuffle_f64x2::<0xDD>(b, d);
        }
        for (q, (lo, hi)) in [(0, 4), (2, 6), (1, 5), (3, 7)].into_iter().enumerate() {
            let (a, b) = (u[q], u[4 + q]);
            _mm512_storeu_pd(dst.add(lo * ldd), _mm512_shuffle_f64x2::<0x88>(a, b));
            _mm512_storeu_pd(dst.add(hi * ldd), _mm512_shuffle_f64x2::<0xDD>(a, b));
        }
    }
}

/// One 8×8 float32 tile with AVX2: interleaved pairs (unpack_ps), pairs of
/// pairs (shuffle_ps), then the two 128-bit halves (permute2f128).
///
/// # Safety
/// Every `src + i + j·ld` and `dst + i·ldd + j` (i, j < 8) is valid.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_f32x8(src: *const f32, ld: isize, dst: *mut f32, ldd: usize) {
    // SAFETY: the caller's contract (unaligned loads and stores).
    unsafe {
        let mut r = [_mm256_setzero_ps(); 8];
        for (j, row) in r.iter_mut().enumerate() {
            *row = _mm256_loadu_ps(src.offset(j as isize * ld));
        }
        let mut t = [_mm256_setzero_ps(); 8];
        for p in 0..4 {
            t[2 * p] = _mm256_unpacklo_ps(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm256_unpackhi_ps(r[2 * p], r[2 * p + 1]);
        }
        // u[4g + q]: element q (low half) and q + 4 (high half) of rows 4g..4g+4
        let mut u = [_mm256_setzero_ps(); 8];
        for g in 0..2 {
            let [a, b, c, d] = [t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]];
            u[4 * g] = _mm256_shuffle_ps::<0x44>(a, c);
            u[4 * g + 1] = _mm256_shuffle_ps::<0xEE>(a, c);
            u[4 * g + 2] = _mm256_shuffle_ps::<0x44>(b, d);
            u[4 * g + 3] = _mm256_shuffle_ps::<0xEE>(b, d);
        }
        for q in 0..4 {
            let (a, b) = (u[q], u[4 + q]);
            _mm256_storeu_ps(dst.add(q * ldd), _mm256_permute2f128_ps::<0x20>(a, b));
            _mm256_storeu_ps(dst.add((q + 4) * ldd), _mm256_permute2f128_ps::<0x31>(a, b));
        }
    }
}

/// One 4×4 float64 tile with AVX2: interleaved pairs, then the halves.
///
/// # Safety
/// Every `src + i + j·ld` and `dst + i·ldd + j` (i, j < 4) is valid.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_f64x4(src: *const f64, ld: isize, dst: *mut f64, ldd: usize) {
    // SAFETY: the caller's contract (unaligned loads and stores).
    unsafe {
        let mut r = [_mm256_setzero_pd(); 4];
        for (j, row) in r.iter_mut().enumerate() {
            *row = _mm256_loadu_pd(src.offset(j as isize * ld));
        }
        // elements (0, 2) and (1, 3) of rows 0, 1 and of rows 2, 3
        let (e01, o01) = (
            _mm256_unpacklo_pd(r[0], r[1]),
            _mm256_unpackhi_pd(r[0], r[1]),
        );
        let (e23, o23) = (
            _mm256_unpacklo_pd(r[2], r[3]),
            _mm256_unpackhi_pd(r[2], r[3]),
        );
        _mm256_storeu_pd(dst, _mm256_permute2f128_pd::<0x20>(e01, e23));
        _mm256_storeu_pd(dst.add(ldd), _mm256_permute2f128_pd::<0x20>(o01, o23));
        _mm256_storeu_pd(dst.add(2 * ldd), _mm256_permute2f128_pd::<0x31>(e01, e23));
        _mm256_storeu_pd(dst.add(3 * ldd), _mm256_permute2f128_pd::<0x31>(o01, o23));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Copy<T> = unsafe fn(*const T, isize, usize, usize, *mut T);

    /// Each copy of each shape, from a column-major source padded to
    /// column stride `ld` (and read backwards: a negative stride), against
    /// the element-by-element transpose; the padding is NaN, so a read of
    /// a wrong element shows. Sizes are and are not multiples of the tiles
    /// and blocks.
    fn check<T: std::fmt::Debug + PartialEq + std::marker::Copy>(
        copies: &[(&str, Copy<T>)],
        conv: fn(f64) -> T,
    ) {
        let sizes = [1, 3, 4, 7, 8, 9, 16, 17, 31, 33, 64, 65, 130];
        for &r in &sizes {
            for &c in &[1, 5, 8, 16, 24, 63, 64, 66, 129] {
                for ld in [r, r + 3, 512.max(r)] {
                    let mut src = vec![conv(f64::NAN); ld * c];
                    for j in 0..c {
                        for i in 0..r {
                            src[i + j * ld] = conv((i * 1000 + j) as f64);
                        }
                    }
                    let want: Vec<T> = (0..r * c)
                        .map(|x| conv(((x / c) * 1000 + x % c) as f64))
                        .collect();
                    for &(name, copy) in copies {
                        let mut dst = vec![conv(-1.0); r * c];
                        unsafe { copy(src.as_ptr(), ld as isize, r, c, dst.as_mut_ptr()) };
                        assert_eq!(dst, want, "{name} {r}x{c} ld {ld}");
                        // the same columns in reverse order, through a negative stride
                        let last = unsafe { src.as_ptr().add((c - 1) * ld) };
                        unsafe { copy(last, -(ld as isize), r, c, dst.as_mut_ptr()) };
                        for (x, got) in dst.iter().enumerate() {
                            let (i, j) = (x / c, x % c);
                            assert_eq!(*got, want[i * c + c - 1 - j], "{name} {r}x{c} ld -{ld}");
                        }
                    }
                }
            }
        }
    }

    fn scalar_copy<T: std::marker::Copy>(
        src: *const T,
        ld: isize,
        r: usize,
        c: usize,
        dst: *mut T,
    ) {
        unsafe { scalar(src, ld, (0, r), (0, c), c, dst) }
    }

    #[test]
    fn every_copy_transposes_any_shape_and_stride() {
        let mut f32s: Vec<(&str, Copy<f32>)> = vec![
            ("scalar", scalar_copy::<f32>),
            ("dispatched", <f32 as Transpose>::transpose_into),
        ];
        let mut f64s: Vec<(&str, Copy<f64>)> = vec![
            ("scalar", scalar_copy::<f64>),
            ("dispatched", <f64 as Transpose>::transpose_into),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            if super::super::strided::simd_level() >= 1 {
                f32s.push(("avx2", f32_avx2));
                f64s.push(("avx2", f64_avx2));
            }
            if super::super::strided::simd_level() >= 2 {
                f32s.push(("avx512", f32_avx512));
                f64s.push(("avx512", f64_avx512));
            }
        }
        check(&f32s, |v| v as f32);
        check(&f64s, |v| v);
    }
}
