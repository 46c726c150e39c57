//! Loops over ndarray storage. Kernels take plain arrays and return owned
//! arrays in standard (row-major) layout; they never see the tape or Python.
//! Serial below `PAR_MIN_LEN` elements; above, split into tasks that the
//! calling thread runs itself, with pool threads joining in only when the
//! work is long enough to pay for waking them (`for_each_chunk_mut`).

pub mod matmul;
pub mod reduce;
pub mod strided;
pub mod transpose;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndarray::{ArcArray, Array0, Array1, ArrayD, IxDyn};

use crate::error::Result;

/// Below this many elements a loop never leaves the calling thread (fewer
/// than two `strided::TASK_LEN` tasks: nothing to share).
pub const PAR_MIN_LEN: usize = 1 << 15;

/// Work left after the caller's first task (estimated from how long that
/// task took) below which no pool thread is woken: about the time a
/// sleeping pool thread takes to start running in a VM (tens of µs: a
/// futex wake, an inter-processor interrupt, a reschedule). With less work
/// than that the caller finishes before the helper arrives, and the wake-up
/// only costs the caller its syscall and burns the other core. A threshold
/// in time, not elements, so a cheap add and a dear `pow` each get help
/// exactly when they are long enough (a 100k-element add: 8 µs, alone;
/// a 100k-element tanh: 80 µs, shared).
const HELP_WORTH: Duration = Duration::from_micros(20);

static POOL_STARTED: AtomicBool = AtomicBool::new(false);
static SERIAL: AtomicBool = AtomicBool::new(false);

/// Should a loop over `n` elements run on the rayon pool?
///
/// Trap: rayon's global pool does not survive `fork()` — a forked child
/// that touches it waits forever for threads that were never copied. So a
/// child forked after the pool started runs every kernel serially.
#[inline]
pub fn parallel(n: usize) -> bool {
    if n < PAR_MIN_LEN || SERIAL.load(Ordering::Relaxed) {
        return false;
    }
    // Trap: a one-thread pool still runs every job on its one worker, so
    // Python threads calling kernels at once would queue up behind it.
    // Running on the calling thread lets them overlap instead.
    if rayon::current_num_threads() < 2 {
        return false;
    }
    POOL_STARTED.store(true, Ordering::Relaxed);
    true
}

/// To be called in a freshly forked child process (`os.register_at_fork`).
pub fn after_fork_in_child() {
    if POOL_STARTED.load(Ordering::Relaxed) {
        SERIAL.store(true, Ordering::Relaxed);
    }
}

/// `body(t, piece)` for each consecutive piece `t` of `chunk` elements of
/// `data` (the last may be shorter). Serial unless `par`; with `par` the
/// calling thread still runs the pieces itself, in order, claiming each
/// from a shared counter, and asks `current_num_threads() - 1` pool threads
/// to claim pieces too once its first piece shows that the rest is worth
/// `HELP_WORTH`. It then waits only for pieces a helper has claimed and is
/// running; a helper that wakes after the caller took the last piece finds
/// nothing to do. So:
/// - the caller never sleeps waiting for a wake-up (rayon's `par_iter`
///   from outside the pool sends the whole loop to the pool and blocks the
///   caller on a lock until a pool thread wakes it again: two wake-ups on
///   the critical path, ~30 µs an op in a 2-core VM, more than a 100k-element
///   add takes);
/// - it is never slower than serial by more than one task's wait;
/// - the values never depend on which thread ran a piece.
///
/// A panic in `body` on any thread is caught, the caller waits for the
/// pieces in flight (they borrow `data` and `body`), then panics.
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    chunk: usize,
    par: bool,
    body: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunk = chunk.max(1);
    if !par || data.len() <= chunk {
        for (t, piece) in data.chunks_mut(chunk).enumerate() {
            body(t, piece);
        }
        return;
    }
    share_chunks_mut(data, chunk, body);
}

/// `dst[i] = dst[i] + src[i]`: `add`'s rounding, in place, in `TASK_LEN`
/// pieces shared with pool threads when large.
pub fn add_assign<T>(dst: &mut [T], src: &[T])
where
    T: Copy + std::ops::Add<Output = T> + Send + Sync,
{
    assert_eq!(dst.len(), src.len(), "add_assign of unequal lengths");
    let len = strided::TASK_LEN;
    for_each_chunk_mut(dst, len, parallel(src.len()), |t, piece| {
        for (d, &s) in piece.iter_mut().zip(&src[t * len..]) {
            *d = *d + s;
        }
    });
}

/// `for_each_chunk_mut` with `par`, without its serial copy of `body` (for
/// kernels whose serial path is elsewhere): one piece runs alone.
pub fn share_chunks_mut<T: Send>(
    data: &mut [T],
    chunk: usize,
    body: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunk = chunk.max(1);
    let count = data.len().div_ceil(chunk);
    if count == 0 {
        return;
    }
    let len = data.len();
    let base = SharedMut(data.as_mut_ptr());
    let run_piece = move |t: usize| {
        let start = t * chunk;
        let end = (start + chunk).min(len);
        // SAFETY: each index t is claimed exactly once (a counter hands
        // them out), so the pieces handed to `body` are disjoint parts of
        // `data`, which the caller keeps borrowed until every claimed
        // piece is done.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.at(start), end - start) };
        body(t, piece);
    };
    run_pieces(count, &run_piece);
}

/// The parallel half of `for_each_chunk_mut`: runs `run_piece(t)` for every
/// `t < count` (at least one), sharing them with pool threads when the first
/// piece shows the rest is worth it. Not generic, so it is compiled once
/// instead of once per kernel (with rayon's spawn machinery it was a fifth
/// of the crate's LLVM IR); a piece is thousands of elements, so the
/// dynamic call per piece costs nothing measurable.
#[inline(never)]
fn run_pieces(count: usize, run_piece: &(dyn Fn(usize) + Sync)) {
    let started = Instant::now();
    run_piece(0);
    let rest = u32::try_from(count - 1).unwrap_or(u32::MAX);
    if started.elapsed().saturating_mul(rest) < HELP_WORTH {
        for t in 1..count {
            run_piece(t);
        }
        return;
    }
    let tasks = Arc::new(Tasks {
        count,
        next: AtomicUsize::new(1),
        done: AtomicUsize::new(1),
        panicked: AtomicBool::new(false),
        // SAFETY: only the lifetime is erased; see `Tasks::body`.
        body: unsafe {
            std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const (dyn Fn(usize) + Sync)>(
                run_piece,
            )
        },
    });
    let helpers = (rayon::current_num_threads() - 1).min(count - 1);
    for _ in 0..helpers {
        let tasks = Arc::clone(&tasks);
        rayon::spawn(move || tasks.work());
    }
    tasks.work();
    // Only pieces a running helper claimed are left: a short wait.
    let mut spins = 0u32;
    while tasks.done.load(Ordering::Acquire) < count {
        if spins < 1 << 10 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
    if tasks.panicked.load(Ordering::Relaxed) {
        panic!("a kernel task panicked on a pool thread (see the message above)");
    }
}

/// A base pointer the pieces of `for_each_chunk_mut` are cut from.
struct SharedMut<T>(*mut T);
impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedMut<T> {}
// SAFETY: threads only touch disjoint pieces (see `for_each_chunk_mut`).
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}
impl<T> SharedMut<T> {
    /// (A method, so closures capture the whole wrapper, not the raw field.)
    fn at(self, offset: usize) -> *mut T {
        // SAFETY: callers stay within the slice the pointer came from.
        unsafe { self.0.add(offset) }
    }
}

/// The pieces of one `for_each_chunk_mut` call, shared with its helpers.
struct Tasks {
    count: usize,
    /// The next piece to claim (may run past `count`: nothing left).
    next: AtomicUsize,
    /// Pieces finished (the caller's first one included).
    done: AtomicUsize,
    panicked: AtomicBool,
    /// The caller's piece runner, its lifetime erased. Dereferenced only
    /// after claiming an index below `count`, and the caller does not
    /// return before `done == count`, so it is alive whenever used; a
    /// helper that starts late claims nothing and never touches it.
    body: *const (dyn Fn(usize) + Sync),
}
// SAFETY: `body` is `Sync` and used only as described on the field.
unsafe impl Send for Tasks {}
unsafe impl Sync for Tasks {}

impl Tasks {
    /// Claim and run pieces until none are left.
    fn work(&self) {
        loop {
            let t = self.next.fetch_add(1, Ordering::Relaxed);
            if t >= self.count {
                return;
            }
            // SAFETY: a claimed index below `count` (see `body`).
            let body = unsafe { &*self.body };
            if catch_unwind(AssertUnwindSafe(|| body(t))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

fn from_vec<T: Clone>(shape: &[usize], v: Vec<T>) -> ArcArray<T, IxDyn> {
    // Invariant: every caller produces exactly numel(shape) elements (the
    // one check kept; ndarray's checked constructor also re-derives the
    // size with overflow checks, a tenth of a small op's cost).
    assert_eq!(
        v.len(),
        shape.iter().product::<usize>(),
        "kernel produced a buffer of the wrong length"
    );
    // Vectors and scalars (most small-tensor ops) are made through their
    // fixed-rank types, whose strides need no computing: ndarray's general
    // path derives row-major strides through `IxDyn` (two dynamic shapes
    // and a loop), ~200 of the ~350 instructions of this call for 4 floats.
    match *shape {
        [_] => Array1::from_vec(v).into_dyn().into_shared(),
        // SAFETY: the one element a rank-0 shape holds
        [] => unsafe { Array0::from_shape_vec_unchecked((), v) }
            .into_dyn()
            .into_shared(),
        // SAFETY: the buffer holds exactly numel(shape) elements, and a
        // shape whose elements fit in a Vec has in-range row-major strides.
        _ => unsafe { ArrayD::from_shape_vec_unchecked(IxDyn(shape), v) }.into_shared(),
    }
}

// Every kernel below returns `Err` instead of aborting when its output
// cannot be allocated (`ResourceExhausted`), and when an interrupt (Ctrl-C)
// is pending at one of the polls between blocks of a large output.

/// `f` applied to every element, in logical order.
pub fn map<T, U, F>(a: &ArcArray<T, IxDyn>, f: F) -> Result<ArcArray<U, IxDyn>>
where
    T: Copy + Send + Sync,
    U: Send + Clone,
    F: Fn(T) -> U + Sync + Send,
{
    let out = match a.as_slice() {
        // (no iteration plan to build: the small-tensor path stays cheap)
        Some(xs) => strided::fill_flat(
            a.shape(),
            #[inline(always)]
            |start, dst| {
                for (d, &x) in dst.iter_mut().zip(&xs[start..]) {
                    d.write(f(x));
                }
            },
        ),
        // SAFETY: pointer and strides of a live array of this shape.
        None => unsafe { strided::map1(a.shape(), a.as_ptr(), a.strides(), f) },
    }?;
    Ok(from_vec(a.shape(), out))
}

/// `fill(src, dst)` over `a`'s elements in logical order, a contiguous piece
/// at a time (for kernels that look at a block at once); strided input is
/// first copied into standard layout.
pub fn map_slices<T, U, F>(a: &ArcArray<T, IxDyn>, fill: F) -> Result<ArcArray<U, IxDyn>>
where
    T: Copy + Send + Sync,
    U: Send + Clone,
    F: Fn(&[T], &mut [std::mem::MaybeUninit<U>]) + Sync + Send,
{
    // (contiguous input is read in place: no clone on the small-tensor path)
    let copied;
    let xs = match a.as_slice() {
        Some(xs) => xs,
        None => {
            copied = standard(a)?;
            copied.as_slice().expect("standard layout is contiguous")
        }
    };
    let out = strided::fill_flat(
        a.shape(),
        #[inline(always)]
        |start, dst| fill(&xs[start..start + dst.len()], dst),
    )?;
    Ok(from_vec(a.shape(), out))
}

/// `fill(xs, ys, dst)` over `a` and `b` of one shape, both contiguous, a
/// piece at a time: the pieces `map_slices` would give a slice function
/// over `b` alone, so one that looks at a block at once (`fastmath::cos_f32s`)
/// computes the same values here. `None` when the shapes differ or either
/// array is strided.
pub fn zip_slices<T, U, O, F>(
    a: &ArcArray<T, IxDyn>,
    b: &ArcArray<U, IxDyn>,
    fill: F,
) -> Option<Result<ArcArray<O, IxDyn>>>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    O: Send + Clone,
    F: Fn(&[T], &[U], &mut [std::mem::MaybeUninit<O>]) + Sync + Send,
{
    if a.shape() != b.shape() {
        return None;
    }
    let (xs, ys) = (a.as_slice()?, b.as_slice()?);
    let out = strided::fill_flat(
        a.shape(),
        #[inline(always)]
        |start, dst| {
            let end = start + dst.len();
            fill(&xs[start..end], &ys[start..end], dst)
        },
    );
    Some(out.map(|out| from_vec(a.shape(), out)))
}

/// `f` applied elementwise to `a` and `b` broadcast to `out_shape` (which
/// the caller has validated with `broadcast_shapes`).
pub fn zip<T, U, O, F>(
    a: &ArcArray<T, IxDyn>,
    b: &ArcArray<U, IxDyn>,
    out_shape: &[usize],
    f: F,
) -> Result<ArcArray<O, IxDyn>>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    O: Send + Clone,
    F: Fn(T, U) -> O + Sync + Send,
{
    let n: usize = out_shape.iter().product();
    let out = match (a.as_slice(), b.as_slice()) {
        (Some(xs), Some(ys)) if xs.len() == n && ys.len() == n => strided::fill_flat(
            out_shape,
            #[inline(always)]
            |start, dst| {
                for ((d, &x), &y) in dst.iter_mut().zip(&xs[start..]).zip(&ys[start..]) {
                    d.write(f(x, y));
                }
            },
        ),
        (Some(xs), Some(&[y])) if xs.len() == n => strided::fill_flat(
            out_shape,
            #[inline(always)]
            |start, dst| {
                for (d, &x) in dst.iter_mut().zip(&xs[start..]) {
                    d.write(f(x, y));
                }
            },
        ),
        (Some(&[x]), Some(ys)) if ys.len() == n => strided::fill_flat(
            out_shape,
            #[inline(always)]
            |start, dst| {
                for (d, &y) in dst.iter_mut().zip(&ys[start..]) {
                    d.write(f(x, y));
                }
            },
        ),
        _ => zip_strided(a, b, out_shape, f),
    }?;
    Ok(from_vec(out_shape, out))
}

fn zip_strided<T, U, O, F>(
    a: &ArcArray<T, IxDyn>,
    b: &ArcArray<U, IxDyn>,
    out_shape: &[usize],
    f: F,
) -> Result<Vec<O>>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    O: Send,
    F: Fn(T, U) -> O + Sync,
{
    // Invariant: out_shape was computed by broadcast_shapes(a, b).
    let av = a.broadcast(IxDyn(out_shape)).expect("validated broadcast");
    let bv = b.broadcast(IxDyn(out_shape)).expect("validated broadcast");
    // SAFETY: pointers and strides of live views of shape out_shape.
    unsafe {
        strided::map2(
            out_shape,
            (av.as_ptr(), av.strides()),
            (bv.as_ptr(), bv.strides()),
            f,
        )
    }
}

/// Three-way elementwise select (`where`), all operands broadcast to `out_shape`.
pub fn select<T: Copy + Send + Sync>(
    cond: &ArcArray<bool, IxDyn>,
    a: &ArcArray<T, IxDyn>,
    b: &ArcArray<T, IxDyn>,
    out_shape: &[usize],
) -> Result<ArcArray<T, IxDyn>> {
    let sh = IxDyn(out_shape);
    let cv = cond.broadcast(sh.clone()).expect("validated broadcast");
    let av = a.broadcast(sh.clone()).expect("validated broadcast");
    let bv = b.broadcast(sh).expect("validated broadcast");
    // SAFETY: pointers and strides of live views of shape out_shape.
    let out = unsafe {
        strided::map3(
            out_shape,
            (cv.as_ptr(), cv.strides()),
            (av.as_ptr(), av.strides()),
            (bv.as_ptr(), bv.strides()),
            |c, x, y| if c { x } else { y },
        )
    }?;
    Ok(from_vec(out_shape, out))
}

/// A copy of `a` broadcast up to `shape`, in standard layout.
pub fn broadcast_copy<T: Copy + Send + Sync>(
    a: &ArcArray<T, IxDyn>,
    shape: &[usize],
) -> Result<ArcArray<T, IxDyn>> {
    let v = a.broadcast(IxDyn(shape)).expect("validated broadcast");
    // SAFETY: pointer and strides of a live view of this shape.
    let out = unsafe { strided::map1(shape, v.as_ptr(), v.strides(), |x| x) }?;
    Ok(from_vec(shape, out))
}

/// `parts` joined along `axis` into `shape` (the caller validated that the
/// other extents agree and `shape[axis]` is their sum). Allocated fallibly
/// once, then each part's run for each index before `axis` is appended in
/// order. (ndarray's `concatenate` may lay out its result twice: a peak of
/// twice the output, and an abort when that fails.)
pub fn concat<T: Clone>(
    parts: &[ndarray::ArrayViewD<'_, T>],
    axis: usize,
    shape: &[usize],
) -> Result<ArcArray<T, IxDyn>> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = crate::alloc::try_vec(strided::KERNEL_OP, shape)?;
    // (a part in another layout is copied once; views of standard tensors
    // are read in place)
    let standard: Vec<_> = parts.iter().map(|p| p.as_standard_layout()).collect();
    let mut since_poll = 0;
    for o in 0..outer {
        for p in &standard {
            let run = p.shape()[axis] * inner;
            if run == 0 {
                continue;
            }
            let src = p.as_slice().expect("standard layout is contiguous");
            out.extend_from_slice(&src[o * run..(o + 1) * run]);
            since_poll += run;
            if since_poll >= strided::POLL_BLOCK {
                since_poll = 0;
                crate::interrupt::poll()?;
            }
        }
    }
    Ok(from_vec(shape, out))
}

/// `a` in standard layout, sharing storage when it already is.
pub fn standard<T: Copy + Send + Sync>(a: &ArcArray<T, IxDyn>) -> Result<ArcArray<T, IxDyn>> {
    if a.is_standard_layout() {
        return Ok(a.clone());
    }
    // SAFETY: pointer and strides of a live array of this shape.
    let out = unsafe { strided::map1(a.shape(), a.as_ptr(), a.strides(), |x| x) }?;
    Ok(from_vec(a.shape(), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// `for_each_chunk_mut` filling `len` slots with `fill(i)`, in a pool of
    /// `threads`; each piece spins `spin_per_piece` first (long pieces make
    /// the caller ask for help, short ones keep it alone).
    fn fill_in_pool(threads: usize, len: usize, spin_per_piece: Duration) -> Vec<u64> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let visits = AtomicU32::new(0);
        let mut out = vec![0u64; len];
        let body = |t: usize, piece: &mut [u64]| {
            let start = Instant::now();
            while start.elapsed() < spin_per_piece {
                std::hint::spin_loop();
            }
            visits.fetch_add(1, Ordering::Relaxed);
            for (k, slot) in piece.iter_mut().enumerate() {
                let i = (t * 1000 + k) as u64;
                *slot = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
            }
        };
        // (run on a worker of `pool`, so its helpers come from that pool;
        // callers outside any pool are every other kernel test)
        pool.install(|| for_each_chunk_mut(&mut out, 1000, len >= PAR_MIN_LEN, body));
        assert_eq!(visits.into_inner() as usize, len.div_ceil(1000));
        out
    }

    #[test]
    fn every_piece_runs_once_whatever_the_threads_and_sizes() {
        let want = |len: usize| -> Vec<u64> {
            (0..len as u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7)
                .collect()
        };
        // sizes either side of the parallel threshold, and pieces either
        // side of the time worth waking a helper for
        for len in [
            0,
            1,
            999,
            1000,
            PAR_MIN_LEN - 1,
            PAR_MIN_LEN,
            5 * PAR_MIN_LEN + 7,
        ] {
            for spin in [Duration::ZERO, HELP_WORTH] {
                for threads in [1, 2, 3] {
                    let got = fill_in_pool(threads, len, spin);
                    assert_eq!(got, want(len), "len {len}, {threads} threads, {spin:?}");
                }
            }
        }
    }

    #[test]
    fn a_panic_on_any_thread_reaches_the_caller_after_the_pieces_in_flight() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let done = AtomicU32::new(0);
        let mut data = vec![0u8; 40 * 1000];
        let result = catch_unwind(AssertUnwindSafe(|| {
            pool.install(|| {
                for_each_chunk_mut(&mut data, 1000, true, |t, _| {
                    std::thread::sleep(Duration::from_micros(200));
                    if t == 25 {
                        panic!("piece 25");
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                })
            })
        }));
        assert!(result.is_err());
        // every other piece ran to its end before the caller unwound
        assert_eq!(done.into_inner(), 39);
    }
}
