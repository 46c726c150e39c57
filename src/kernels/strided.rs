//! Elementwise loops over arbitrarily strided and broadcast operands.
//!
//! The output is row-major. Each operand is described by its strides over
//! the output's index space (0 along broadcast axes). Axes of size 1 are
//! dropped and adjacent axes that every operand walks contiguously are
//! merged, so `[256, 256, 1] * [256, 1]` becomes rows of 256 with the second
//! operand constant along each row: the inner loop is a plain strided walk
//! and the per-row bookkeeping is amortised over the whole row.

use std::mem::MaybeUninit;

use super::{parallel, share_chunks_mut};
use crate::error::Result;

/// The op name a kernel's allocation failure reports (kernels do not know
/// which op called them; the shape says which output it was).
pub const KERNEL_OP: &str = "elementwise kernel";

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

/// Elements per task of a parallel loop: big enough to amortise claiming
/// it (an atomic add), small enough (64–256 KiB of operands) to stay in L2
/// and to balance the cores, and to keep the caller's wait for a helper's
/// last piece short.
pub const TASK_LEN: usize = 1 << 14;

/// Elements between two interrupt polls (Ctrl-C) of a large kernel: about a
/// millisecond of the cheapest ops, tens of ms of the dearest (a pow over
/// denormals). Smaller outputs never poll.
pub const POLL_BLOCK: usize = 64 * TASK_LEN;

/// Fill a row-major buffer of `shape` by calling `seg(offsets, strides,
/// out)` for consecutive pieces of rows; `seg` must initialise every slot
/// it is given. Pieces never straddle a row, and a long row (a contiguous
/// operand is one row) is cut into `TASK_LEN` pieces so that it still runs
/// on every core. Which pieces a thread gets never changes a value.
fn fill_rows<O: Send, const N: usize, F>(
    shape: &[usize],
    strides: [&[isize]; N],
    seg: F,
) -> Result<Vec<O>>
where
    F: Fn([isize; N], [isize; N], &mut [MaybeUninit<O>]) + Sync,
{
    let n: usize = shape.iter().product();
    let out: Vec<O> = crate::alloc::try_vec(KERNEL_OP, shape)?;
    if n == 0 {
        return Ok(out);
    }
    let p = plan(shape, strides);
    // SAFETY: the closure initialises every slot it is given (`seg` does).
    // It maps the flat output range [start, start + dst.len()) to row pieces.
    unsafe {
        fill_flat_into(
            out,
            n,
            #[inline(always)]
            |start: usize, dst: &mut [MaybeUninit<O>]| {
                let mut done = 0;
                while done < dst.len() {
                    let (row, col) = ((start + done) / p.inner, (start + done) % p.inner);
                    let len = (p.inner - col).min(dst.len() - done);
                    let mut off = p.row_offsets(row);
                    for (o, s) in off.iter_mut().zip(p.inner_strides) {
                        *o += col as isize * s;
                    }
                    seg(off, p.inner_strides, &mut dst[done..done + len]);
                    done += len;
                }
            },
        )
    }
}

/// A buffer of the `numel(shape)` elements of an output filled by
/// `fill(start, out)` over consecutive pieces `[start, start + out.len())`,
/// in `TASK_LEN` tasks shared with pool threads when it is large; `fill` must initialise
/// every slot it is given. Fails (never aborts) when the buffer cannot be
/// allocated, and when an interrupt is pending at one of the polls between
/// blocks of `POLL_BLOCK` elements.
pub fn fill_flat<O: Send>(
    shape: &[usize],
    fill: impl Fn(usize, &mut [MaybeUninit<O>]) + Sync,
) -> Result<Vec<O>> {
    let n = shape.iter().product();
    let out = crate::alloc::try_vec(KERNEL_OP, shape)?;
    // SAFETY: the contract on `fill` is this function's contract.
    unsafe { fill_flat_into(out, n, fill) }
}

/// # Safety
/// `fill` must initialise every slot it is given; `out` is empty with
/// capacity ≥ n.
unsafe fn fill_flat_into<O: Send>(
    mut out: Vec<O>,
    n: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<O>]) + Sync,
) -> Result<Vec<O>> {
    let spare = &mut out.spare_capacity_mut()[..n];
    // A small output (every per-op call on small tensors) runs here, inline;
    // a large one goes through `fill_blocks`, compiled once per element type
    // instead of once per kernel (a dynamic call per block of thousands).
    if n <= POLL_BLOCK && !parallel(n) {
        wide(&fill, 0, spare);
    } else {
        fill_blocks(spare, &|start, dst| wide(&fill, start, dst))?;
    }
    // SAFETY: every one of the n slots was initialised by `fill`.
    unsafe { out.set_len(n) };
    Ok(out)
}

/// `fill` over `spare` in blocks of `POLL_BLOCK` with an interrupt poll
/// between them, each block in `TASK_LEN` tasks shared with pool threads
/// when it is large. (An interrupt leaves the buffer at length 0: the slots
/// written so far are plain values, dropped with it without being read.)
fn fill_blocks<O: Send>(
    spare: &mut [MaybeUninit<O>],
    fill: &(dyn Fn(usize, &mut [MaybeUninit<O>]) + Sync),
) -> Result<()> {
    let par = parallel(spare.len());
    for (b, block) in spare.chunks_mut(POLL_BLOCK).enumerate() {
        let base = b * POLL_BLOCK;
        if b > 0 {
            crate::interrupt::poll()?;
        }
        if par {
            share_chunks_mut(block, TASK_LEN, |t, chunk| fill(base + t * TASK_LEN, chunk));
        } else {
            fill(base, block);
        }
    }
    Ok(())
}

/// `fill(start, dst)`, compiled a second time for the widest vector unit
/// the CPU has: the build targets baseline x86-64 (SSE2, 4 floats), but
/// most machines have AVX2 + FMA (8) or AVX-512 (16). `fill` and the op
/// closure inside it are inlined into the wide copy, so the whole loop is
/// recompiled with those features. Values are bitwise the same either way:
/// the compiler never fuses a·b + c into an FMA on its own.
///
/// Each of the three copies is its own function, called from here: inlined
/// at the serial and the parallel call site of `fill_flat_into`, the
/// baseline loop was compiled twice per kernel (for a machine that rarely
/// runs it), and the crate's build time is mostly these kernels.
#[inline(always)]
fn wide<O>(fill: &impl Fn(usize, &mut [MaybeUninit<O>]), start: usize, dst: &mut [MaybeUninit<O>]) {
    #[cfg(target_arch = "x86_64")]
    {
        if simd_level() == 2 {
            // SAFETY: the CPU has the features (checked at run time).
            return unsafe { fill_avx512(fill, start, dst) };
        }
        if simd_level() == 1 {
            // SAFETY: as above.
            return unsafe { fill_avx2(fill, start, dst) };
        }
    }
    fill_baseline(fill, start, dst)
}

#[inline(never)]
fn fill_baseline<O>(
    fill: &impl Fn(usize, &mut [MaybeUninit<O>]),
    start: usize,
    dst: &mut [MaybeUninit<O>],
) {
    fill(start, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi2")]
unsafe fn fill_avx512<O>(
    fill: &impl Fn(usize, &mut [MaybeUninit<O>]),
    start: usize,
    dst: &mut [MaybeUninit<O>],
) {
    fill(start, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi2")]
unsafe fn fill_avx2<O>(
    fill: &impl Fn(usize, &mut [MaybeUninit<O>]),
    start: usize,
    dst: &mut [MaybeUninit<O>],
) {
    fill(start, dst)
}

/// 0: baseline, 1: AVX2 + FMA, 2: AVX-512; detected once.
/// `TAPEGRAD_SIMD=baseline|avx2` caps it (for testing the narrower paths).
#[cfg(target_arch = "x86_64")]
pub(crate) fn simd_level() -> u8 {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<u8> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("TAPEGRAD_SIMD").as_deref() {
            Ok("baseline") => 0,
            Ok("avx2") => 1,
            _ => 2,
        };
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("bmi2");
        let avx512 = avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq");
        let level = if avx512 {
            2
        } else if avx2 {
            1
        } else {
            0
        };
        level.min(cap)
    })
}

/// The `len` elements of a unit-stride operand piece, as a slice.
///
/// # Safety
/// `p.offset(off)` must start `len` valid, live `T`s.
#[inline(always)]
unsafe fn run<'a, T>(p: *const T, off: isize, len: usize) -> &'a [T] {
    unsafe { std::slice::from_raw_parts(p.offset(off), len) }
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
) -> Result<Vec<O>> {
    let ptrs = Ptrs([a as *const u8]);
    fill_rows(
        shape,
        [sa],
        #[inline(always)]
        |off, st, dst| {
            let pa = ptrs.get(0) as *const T;
            // The unit-stride loop is the one the compiler vectorises.
            if st[0] == 1 {
                // SAFETY: a unit-stride piece of `a`, see the function's contract.
                let xs = unsafe { run(pa, off[0], dst.len()) };
                for (d, &x) in dst.iter_mut().zip(xs) {
                    d.write(f(x));
                }
                return;
            }
            for (j, d) in dst.iter_mut().enumerate() {
                // SAFETY: in bounds by the plan, see the function's contract.
                d.write(f(unsafe { *pa.offset(off[0] + j as isize * st[0]) }));
            }
        },
    )
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
) -> Result<Vec<O>> {
    let ptrs = Ptrs([a as *const u8, b as *const u8]);
    fill_rows(
        shape,
        [sa, sb],
        #[inline(always)]
        |off, st, dst| {
            let (pa, pb) = (ptrs.get(0) as *const T, ptrs.get(1) as *const U);
            let len = dst.len();
            // SAFETY (all three): unit-stride pieces and constant operands of
            // live arrays, see the function's contract.
            match st {
                [1, 1] => {
                    let (xs, ys) = unsafe { (run(pa, off[0], len), run(pb, off[1], len)) };
                    return zip_runs(dst, xs, ys, &f);
                }
                [1, 0] => {
                    let (xs, y) = unsafe { (run(pa, off[0], len), *pb.offset(off[1])) };
                    for (d, &x) in dst.iter_mut().zip(xs) {
                        d.write(f(x, y));
                    }
                    return;
                }
                [0, 1] => {
                    let (x, ys) = unsafe { (*pa.offset(off[0]), run(pb, off[1], len)) };
                    for (d, &y) in dst.iter_mut().zip(ys) {
                        d.write(f(x, y));
                    }
                    return;
                }
                _ => {}
            }
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
        },
    )
}

/// `dst[j] = g(xs[j], ys[j])`: the unit-stride loop the compiler
/// vectorises (one or two operands of `map2`/`map3` may be constants
/// captured by `g`).
#[inline(always)]
fn zip_runs<A: Copy, B: Copy, O>(
    dst: &mut [MaybeUninit<O>],
    xs: &[A],
    ys: &[B],
    g: impl Fn(A, B) -> O,
) {
    for ((d, &x), &y) in dst.iter_mut().zip(xs).zip(ys) {
        d.write(g(x, y));
    }
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
) -> Result<Vec<O>> {
    let ptrs = Ptrs([a as *const u8, b as *const u8, c as *const u8]);
    fill_rows(
        shape,
        [sa, sb, sc],
        #[inline(always)]
        |off, st, dst| {
            let (pa, pb, pc) = (
                ptrs.get(0) as *const T,
                ptrs.get(1) as *const U,
                ptrs.get(2) as *const V,
            );
            let len = dst.len();
            // Trap: the compiler vectorises the general loop below only for
            // unit strides (it checks them at run time); one broadcast
            // scalar operand (stride 0) left it scalar, and a select with a
            // random condition then became a mispredicted jump per element:
            // relu's gradient, where(x > 0, g, 0), took 240 µs on 65k
            // float32 against 5 µs with a full third operand.
            // SAFETY (both): unit-stride pieces and a constant operand of
            // live arrays, see the function's contract.
            match st {
                [1, 1, 0] => {
                    let (xs, ys, z) = unsafe {
                        (
                            run(pa, off[0], len),
                            run(pb, off[1], len),
                            *pc.offset(off[2]),
                        )
                    };
                    return zip_runs(dst, xs, ys, |x, y| f(x, y, z));
                }
                [1, 0, 1] => {
                    let (xs, y, zs) = unsafe {
                        (
                            run(pa, off[0], len),
                            *pb.offset(off[1]),
                            run(pc, off[2], len),
                        )
                    };
                    return zip_runs(dst, xs, zs, |x, z| f(x, y, z));
                }
                _ => {}
            }
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
        },
    )
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

    /// Every slot of outputs on either side of the inline path's limits
    /// (`PAR_MIN_LEN`, one `POLL_BLOCK`) gets `fill`'s value for its own
    /// index: the blocks' and tasks' base offsets are right.
    #[test]
    fn fill_flat_writes_each_index_once_across_blocks_and_tasks() {
        use crate::kernels::PAR_MIN_LEN;
        for n in [
            0,
            1,
            PAR_MIN_LEN - 1,
            PAR_MIN_LEN + 3,
            POLL_BLOCK,
            POLL_BLOCK + 1,
            2 * POLL_BLOCK + TASK_LEN / 2,
        ] {
            let got = fill_flat(&[n], |start, dst: &mut [MaybeUninit<u64>]| {
                for (k, d) in dst.iter_mut().enumerate() {
                    d.write((start + k) as u64 * 3 + 1);
                }
            })
            .unwrap();
            assert_eq!(got.len(), n);
            assert!(
                got.iter().enumerate().all(|(i, &v)| v == i as u64 * 3 + 1),
                "n {n}"
            );
        }
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
            }
            .unwrap();
            assert_eq!(got, naive2(&a, &b, so), "{sa:?} {sb:?}");
        }
        // a transposed (non-contiguous) operand
        let m = ArrayD::from_shape_fn(IxDyn(&[40, 30]), |i| (i[0] * 30 + i[1]) as f64);
        let t = m.t();
        let got = unsafe { map1(t.shape(), t.as_ptr(), t.strides(), |x: f64| x) }.unwrap();
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
        }
        .unwrap();
        let want: Vec<f64> = c.iter().map(|&k| if k { 1.0 } else { -1.0 }).collect();
        assert_eq!(got, want);
        // one broadcast scalar as the second or third operand (the unit-stride
        // paths), over rows long enough to be cut into parallel pieces
        let g = ArrayD::from_shape_fn(IxDyn(&[2, 70_000]), |i| (i[0] * 70_000 + i[1]) as f64);
        let k = g.mapv(|v| (v as u64 * 2_654_435_761) % 7 < 3);
        let zero = ArrayD::from_elem(IxDyn(&[]), 0.0f64);
        let zv = zero.broadcast(IxDyn(&[2, 70_000])).unwrap();
        let select = |k: bool, p: f64, q: f64| if k { p } else { q };
        let (kp, gp, zp) = (
            (k.as_ptr(), k.strides()),
            (g.as_ptr(), g.strides()),
            (zv.as_ptr(), zv.strides()),
        );
        let (third, second) = unsafe {
            (
                map3(&[2, 70_000], kp, gp, zp, select).unwrap(),
                map3(&[2, 70_000], kp, zp, gp, select).unwrap(),
            )
        };
        for (((&kk, &gg), t), s) in k.iter().zip(g.iter()).zip(third).zip(second) {
            assert_eq!((t, s), if kk { (gg, 0.0) } else { (0.0, gg) });
        }
    }

    /// A small deterministic generator (xorshift), so a failing case can
    /// be replayed from its printed seed.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A random operand over `out` (the output shape): some axes
    /// broadcast (size 1 or missing) and its storage permuted, stepped and
    /// reversed, so that its view has arbitrary strides (transposed,
    /// negative, non-contiguous).
    struct Operand {
        storage: ArrayD<f64>,
        inverse: Vec<usize>,
        shape: Vec<usize>,
        stepped: Vec<bool>,
        reversed: Vec<bool>,
    }

    impl Operand {
        fn new(rng: &mut Rng, out: &[usize], base: f64) -> Operand {
            let lead = rng.below(out.len() + 1);
            let shape: Vec<usize> = out[lead..]
                .iter()
                .map(|&d| if rng.below(3) == 0 { 1 } else { d })
                .collect();
            // storage twice as long on each axis (room to step by 2), permuted
            let mut order: Vec<usize> = (0..shape.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let permuted: Vec<usize> = order.iter().map(|&k| 2 * shape[k]).collect();
            let storage = ArrayD::from_shape_fn(IxDyn(&permuted), |i| {
                base + (0..i.ndim()).map(|k| (i[k] * (k + 2)) as f64).sum::<f64>()
            });
            let mut inverse = vec![0; order.len()];
            for (i, &k) in order.iter().enumerate() {
                inverse[k] = i;
            }
            let stepped = shape.iter().map(|_| rng.below(2) == 0).collect();
            let reversed = shape.iter().map(|_| rng.below(3) == 0).collect();
            Operand {
                storage,
                inverse,
                shape,
                stepped,
                reversed,
            }
        }

        fn view(&self) -> ndarray::ArrayViewD<'_, f64> {
            let mut v = self.storage.view().permuted_axes(IxDyn(&self.inverse));
            for (axis, &d) in self.shape.iter().enumerate() {
                let ax = ndarray::Axis(axis);
                let step: usize = if self.stepped[axis] { 2 } else { 1 };
                v.slice_axis_inplace(
                    ax,
                    ndarray::Slice::new(0, Some((step * d) as isize), step as isize),
                );
                if self.reversed[axis] {
                    v.invert_axis(ax);
                }
            }
            v
        }
    }

    /// Fuzz target over the strided engine: random shapes (including 0 and
    /// 1 extents), broadcasting and strides (transposed, reversed, stepped)
    /// for one, two and three operands, against ndarray's own element
    /// iteration. `TAPEGRAD_FUZZ_CASES` sets the number of cases (the long
    /// profile in CONTRIBUTING runs 100,000; Miri runs a few).
    #[test]
    fn fuzz_strided_kernels_against_naive_iteration() {
        let cases: u64 = std::env::var("TAPEGRAD_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if cfg!(miri) { 8 } else { 400 });
        for seed in 1..=cases {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let rank = rng.below(5);
            let max_dim = if cfg!(miri) { 4 } else { 9 };
            let out: Vec<usize> = (0..rank).map(|_| rng.below(max_dim)).collect();
            // operands are strided views into bigger, permuted storage
            let ops = [
                Operand::new(&mut rng, &out, 0.0),
                Operand::new(&mut rng, &out, 1000.0),
                Operand::new(&mut rng, &out, 0.5),
            ];
            let views: Vec<_> = ops.iter().map(Operand::view).collect();
            let bv: Vec<_> = views
                .iter()
                .map(|v| {
                    v.broadcast(IxDyn(&out))
                        .expect("broadcastable by construction")
                })
                .collect();
            let want1: Vec<f64> = bv[0].iter().map(|x| x * 3.0).collect();
            let want2: Vec<f64> = bv[0].iter().zip(bv[1].iter()).map(|(x, y)| x - y).collect();
            let want3: Vec<f64> = bv[0]
                .iter()
                .zip(bv[1].iter())
                .zip(bv[2].iter())
                .map(|((x, y), z)| x + y * z)
                .collect();
            // SAFETY: pointers and strides of live broadcast views of `out`.
            let (got1, got2, got3) = unsafe {
                (
                    map1(&out, bv[0].as_ptr(), bv[0].strides(), |x: f64| x * 3.0).unwrap(),
                    map2(
                        &out,
                        (bv[0].as_ptr(), bv[0].strides()),
                        (bv[1].as_ptr(), bv[1].strides()),
                        |x: f64, y: f64| x - y,
                    )
                    .unwrap(),
                    map3(
                        &out,
                        (bv[0].as_ptr(), bv[0].strides()),
                        (bv[1].as_ptr(), bv[1].strides()),
                        (bv[2].as_ptr(), bv[2].strides()),
                        |x: f64, y: f64, z: f64| x + y * z,
                    )
                    .unwrap(),
                )
            };
            assert_eq!(got1, want1, "map1, seed {seed}, shape {out:?}");
            assert_eq!(got2, want2, "map2, seed {seed}, shape {out:?}");
            assert_eq!(got3, want3, "map3, seed {seed}, shape {out:?}");
        }
    }
}
