//! Loops over ndarray storage. Kernels take plain arrays and return owned
//! arrays in standard (row-major) layout; they never see the tape or Python.
//! Serial below `PAR_MIN_LEN` elements, rayon above.

pub mod matmul;
pub mod reduce;
pub mod strided;

use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::error::Result;

/// Below this many elements a rayon split costs more than it saves.
pub const PAR_MIN_LEN: usize = 1 << 15;

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

fn from_vec<T: Clone>(shape: &[usize], v: Vec<T>) -> ArcArray<T, IxDyn> {
    // Invariant: every caller produces exactly numel(shape) elements.
    ArrayD::from_shape_vec(IxDyn(shape), v)
        .expect("kernel produced a buffer of the wrong length")
        .into_shared()
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
