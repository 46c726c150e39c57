//! A caching layer over the system allocator for large tensor buffers.
//!
//! Why: glibc serves big blocks with `mmap` and gives them back on free, so
//! every fresh 16 MiB output buffer costs ~4,000 page faults (each one a
//! kernel entry plus zeroing a page) before the kernel writing it runs at
//! memory speed. An eager autodiff step allocates and frees the same few
//! sizes over and over, so keeping freed blocks and handing them out again
//! removes almost all of that (the W3 benchmark took 32K faults per step).
//!
//! Blocks of at least `MIN_CACHED` bytes are rounded up to a size class
//! (quarter steps between powers of two: at most 25% slack, usually none,
//! because a program repeats its shapes) and, when freed, parked in a small
//! per-class stack instead of being unmapped, up to `MAX_CACHED_BYTES` in
//! all. Smaller blocks, and misses, go to the allocator behind the cache.
//!
//! The Python extension installs it as its `#[global_allocator]` in front
//! of mimalloc (small tensors allocate a few blocks per op, and glibc's
//! malloc/free were a fifth of the per-op time); it only sees Rust
//! allocations of this library, never Python's or numpy's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::error::{Error, Result};

/// An empty vector with room for the `numel(shape)` elements of an output,
/// or `ResourceExhausted` naming `op` when that memory cannot be had now.
///
/// Why: `check_alloc` refuses sizes the machine could never hold, but a
/// size that fits on paper can still fail (other tensors hold memory, an
/// address-space limit: `ulimit -v`, a container), and a failed infallible
/// allocation aborts the process. Every large output buffer a kernel fills
/// is taken through here (`try_reserve_exact` reports the failure).
pub fn try_vec<T>(op: &'static str, shape: &[usize]) -> Result<Vec<T>> {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let exhausted = || Error::ResourceExhausted {
        op,
        shape: shape.to_vec(),
        bytes: shape
            .iter()
            .fold(std::mem::size_of::<T>() as u128, |acc, &d| {
                acc.saturating_mul(d as u128)
            }),
    };
    let n = n.ok_or_else(exhausted)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| exhausted())?;
    Ok(v)
}

/// The items of `values`, at most `numel(shape)` of them and made one after
/// the other (a seeded random stream, a permutation), in a buffer taken
/// through `try_vec`; an interrupt (Ctrl-C) is polled every 2^20 items.
pub fn try_collect<T>(
    op: &'static str,
    shape: &[usize],
    values: impl Iterator<Item = T>,
) -> Result<Vec<T>> {
    let mut out = try_vec(op, shape)?;
    for (k, v) in values.enumerate() {
        if k > 0 && k % (1 << 20) == 0 {
            crate::interrupt::poll()?;
        }
        out.push(v);
    }
    Ok(out)
}

/// An array of `shape` holding `value` everywhere, allocated through
/// `try_vec` and written by the elementwise engine (in parallel, and
/// interruptible: filling gigabytes takes seconds).
pub fn try_full<T: Copy + Send + Sync>(
    op: &'static str,
    shape: &[usize],
    value: T,
) -> Result<ArcArray<T, IxDyn>> {
    // (the engine's own buffer comes from `try_vec`; its error names the
    // kernel, so the caller's op is put back)
    let v = crate::kernels::strided::fill_flat(shape, |_, dst| {
        for d in dst {
            d.write(value);
        }
    })
    .map_err(|e| match e {
        Error::ResourceExhausted { shape, bytes, .. } => {
            Error::ResourceExhausted { op, shape, bytes }
        }
        other => other,
    })?;
    ArrayD::from_shape_vec(IxDyn(shape), v)
        .map(ArrayD::into_shared)
        .map_err(|e| Error::invalid(op, format!("internal: {e}")))
}

/// Below this many bytes `can_allocate` assumes success (the probe costs a
/// map and an unmap, ~µs; writing this much memory takes milliseconds).
pub const PROBE_MIN_BYTES: u128 = 32 << 20;

/// Can `bytes` be allocated right now? Probes large sizes with a real,
/// fallible allocation that is given straight back (never touched, so no
/// page is faulted in). For outputs that ndarray or another library
/// allocates inside an op (concat, pad, tile, …), where the allocation
/// itself cannot be made fallible: checked just before the op allocates.
pub fn can_allocate(bytes: u128) -> bool {
    if bytes < PROBE_MIN_BYTES {
        return true;
    }
    let Ok(size) = usize::try_from(bytes) else {
        return false;
    };
    // (aligned above the cache's `BLOCK_ALIGN`, so the probe is never
    // parked: it goes to the allocator behind the cache and is unmapped)
    let Ok(layout) = Layout::from_size_align(size, 2 * BLOCK_ALIGN) else {
        return false;
    };
    // SAFETY: non-zero size; the block is freed with the same layout.
    unsafe {
        // Trap: the compiler may remove an allocation that is freed unused
        // and assume it succeeded; `black_box` makes the pointer escape.
        let p = std::hint::black_box(std::alloc::alloc(layout));
        if p.is_null() {
            return false;
        }
        std::alloc::dealloc(p, layout);
    }
    true
}

#[cfg(feature = "python")]
unsafe extern "C" {
    /// mimalloc's collection; `force` also returns freed pages to the system.
    fn mi_collect(force: bool);
}

/// Return the pages mimalloc (the extension's allocator behind the cache)
/// keeps after frees to the system, so that RSS drops.
#[cfg(feature = "python")]
pub fn return_mimalloc_pages() {
    // SAFETY: mimalloc's own entry point, callable on any thread at any time.
    unsafe { mi_collect(true) };
}

/// mimalloc as Rust's allocator, asked the way `malloc` is whenever the
/// alignment allows it.
///
/// Why not the `mimalloc` crate's `MiMalloc`: it sends every request through
/// `mi_malloc_aligned`, whose fast path covers only blocks up to 1 KiB; a
/// tape's node list or a backward pass's tables of a few KiB took its
/// generic, over-allocating path, ~200 instructions per op of a chain of
/// small-tensor ops. Every mimalloc block is aligned to at least its word
/// size (8 bytes), so requests of that alignment go to `mi_malloc` itself.
#[cfg(feature = "python")]
pub struct MiMalloc;

/// The alignment every `mi_malloc` block has, whatever its size.
#[cfg(feature = "python")]
const MI_WORD_ALIGN: usize = 8;

#[cfg(feature = "python")]
// SAFETY: mimalloc returns blocks of at least the requested size and
// alignment (plain calls only up to `MI_WORD_ALIGN`), or null, and `mi_free`
// and `mi_realloc*` accept any of its blocks.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        // SAFETY: plain C calls with a size (and a power-of-two alignment).
        unsafe {
            if layout.align() <= MI_WORD_ALIGN {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        // SAFETY: as in `alloc`.
        unsafe {
            if layout.align() <= MI_WORD_ALIGN {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` is a live mimalloc block (the caller's contract).
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        // SAFETY: `ptr` is a live mimalloc block; the alignment is kept.
        unsafe {
            if layout.align() <= MI_WORD_ALIGN {
                mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// Smaller blocks bypass the cache.
pub const MIN_CACHED: usize = 256 << 10;
/// Cached blocks are allocated with this alignment, so that any request
/// of at most this alignment can reuse any block of its class.
const BLOCK_ALIGN: usize = 64;
/// Never park more than this many freed bytes.
pub const MAX_CACHED_BYTES: usize = 2 << 30;
/// Parked blocks per class: enough for the buffers of one eager step with a
/// long chain under a tape (100 ops on 1M floats keep ~70 saved outputs and
/// free ~150 blocks of one class at its end: with 32 slots the rest went
/// back to mimalloc, which returned them to the system, and every step paid
/// their page faults again, a third of its time). `len` is a `u8`.
const SLOTS: usize = 255;
const MIN_EXP: u32 = MIN_CACHED.trailing_zeros();
/// Classes cover MIN_CACHED … 2^48 bytes; beyond that nothing is cached.
const CLASSES: usize = 4 * (48 - MIN_EXP as usize);

/// The class of a request of `size ≥ MIN_CACHED` bytes and its rounded size:
/// `2^e · (1 + k/4)` for the smallest such value ≥ size.
fn class_of(size: usize) -> Option<(usize, usize)> {
    let e = usize::BITS - 1 - size.leading_zeros(); // 2^e ≤ size < 2^(e+1)
    let quarter = 1usize << (e - 2);
    let k = size.div_ceil(quarter) - 4; // 0..=4: 2^e + k·quarter ≥ size
    let (e, k) = if k == 4 { (e + 1, 0) } else { (e, k) };
    let index = 4 * (e - MIN_EXP) as usize + k;
    (index < CLASSES).then(|| (index, (1usize << e) + k * (1usize << (e - 2))))
}

struct Parked {
    blocks: [[usize; SLOTS]; CLASSES],
    len: [u8; CLASSES],
    bytes: usize,
}

/// The cache in front of `A`, which serves small blocks and cache misses.
pub struct CachingAllocator<A = System> {
    inner: A,
    parked: Mutex<Parked>,
}

impl<A: GlobalAlloc> CachingAllocator<A> {
    pub const fn new(inner: A) -> CachingAllocator<A> {
        CachingAllocator {
            inner,
            parked: Mutex::new(Parked {
                blocks: [[0; SLOTS]; CLASSES],
                len: [0; CLASSES],
                bytes: 0,
            }),
        }
    }

    /// The class and block layout a request is served with, if cached.
    fn cached_layout(layout: Layout) -> Option<(usize, Layout)> {
        if !Self::cached_layout_possible(layout) {
            return None;
        }
        let (class, size) = class_of(layout.size())?;
        Some((class, Layout::from_size_align(size, BLOCK_ALIGN).ok()?))
    }

    fn parked(&self) -> std::sync::MutexGuard<'_, Parked> {
        // The lock guards plain integers: a poisoned one is still consistent.
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Could `layout` be served from the cache? (`cached_layout` decides.)
    #[inline(always)]
    fn cached_layout_possible(layout: Layout) -> bool {
        layout.size() >= MIN_CACHED && layout.align() <= BLOCK_ALIGN
    }

    /// A small request `inner` refused: parked blocks are memory the caller
    /// could use, so they are given back and the request tried once more.
    ///
    /// # Safety
    /// `GlobalAlloc::alloc`'s contract.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_again(&self, layout: Layout) -> *mut u8 {
        if self.parked_bytes() == 0 {
            return std::ptr::null_mut();
        }
        self.release();
        // SAFETY: forwarded contract.
        unsafe { self.inner.alloc(layout) }
    }

    /// # Safety
    /// `GlobalAlloc::alloc`'s contract.
    #[inline(never)]
    unsafe fn alloc_cached(&self, layout: Layout) -> *mut u8 {
        let Some((class, block)) = Self::cached_layout(layout) else {
            // (a size beyond the classes)
            // SAFETY: forwarded contract.
            let fresh = unsafe { self.inner.alloc(layout) };
            if fresh.is_null() {
                // SAFETY: forwarded contract.
                return unsafe { self.alloc_again(layout) };
            }
            return fresh;
        };
        {
            let mut p = self.parked();
            if p.len[class] > 0 {
                p.len[class] -= 1;
                p.bytes -= block.size();
                let n = p.len[class] as usize;
                return p.blocks[class][n] as *mut u8;
            }
        }
        // SAFETY: non-zero size (≥ MIN_CACHED).
        let fresh = unsafe { self.inner.alloc(block) };
        if fresh.is_null() {
            // Out of memory (or of address space) while parked blocks may
            // hold some: give them back and try once more before failing.
            // SAFETY: as above.
            return unsafe { self.alloc_again(block) };
        }
        fresh
    }

    /// # Safety
    /// `GlobalAlloc::dealloc`'s contract.
    #[inline(never)]
    unsafe fn dealloc_cached(&self, ptr: *mut u8, layout: Layout) {
        let Some((class, block)) = Self::cached_layout(layout) else {
            // SAFETY: forwarded contract.
            return unsafe { self.inner.dealloc(ptr, layout) };
        };
        {
            let mut p = self.parked();
            let n = p.len[class] as usize;
            if n < SLOTS && p.bytes + block.size() <= MAX_CACHED_BYTES {
                p.blocks[class][n] = ptr as usize;
                p.len[class] += 1;
                p.bytes += block.size();
                return;
            }
        }
        // SAFETY: `ptr` came from `inner` with the class layout.
        unsafe { self.inner.dealloc(ptr, block) }
    }

    /// Give every parked block back to the system; returns the bytes freed.
    pub fn release(&self) -> usize {
        let mut p = self.parked();
        let freed = p.bytes;
        for class in 0..CLASSES {
            let Some(size) = class_size(class) else {
                continue;
            };
            let layout = Layout::from_size_align(size, BLOCK_ALIGN).expect("class layout");
            for slot in 0..p.len[class] as usize {
                // SAFETY: parked blocks were allocated by `inner` with `layout`.
                unsafe { self.inner.dealloc(p.blocks[class][slot] as *mut u8, layout) };
            }
            p.len[class] = 0;
        }
        p.bytes = 0;
        freed
    }

    /// Bytes parked for reuse right now.
    pub fn parked_bytes(&self) -> usize {
        self.parked().bytes
    }
}

impl Default for CachingAllocator<System> {
    fn default() -> Self {
        Self::new(System)
    }
}

fn class_size(class: usize) -> Option<usize> {
    let e = MIN_EXP as usize + class / 4;
    let k = class % 4;
    (e < 64).then(|| (1usize << e) + k * (1usize << (e - 2)))
}

// SAFETY: every block handed out is either `inner`'s answer to the caller's
// layout, or an `inner` block of the class layout, which is at least as large
// and as aligned; `dealloc` recomputes the same decision from the layout.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CachingAllocator<A> {
    // Most requests are small (a tensor's shape, a node, a 16-byte buffer,
    // ~13 per op of a small-tensor chain) and only pass through: that path
    // is a comparison and a call, with the cache's lock, its size classes
    // and the out-of-memory retry out of line (inlined, they cost ~35
    // instructions of register saving and spilling per request).
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::cached_layout_possible(layout) {
            // SAFETY: forwarded contract.
            return unsafe { self.alloc_cached(layout) };
        }
        // SAFETY: forwarded contract.
        let fresh = unsafe { self.inner.alloc(layout) };
        if fresh.is_null() {
            // SAFETY: forwarded contract.
            return unsafe { self.alloc_again(layout) };
        }
        fresh
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::cached_layout_possible(layout) {
            // SAFETY: forwarded contract.
            return unsafe { self.dealloc_cached(ptr, layout) };
        }
        // SAFETY: forwarded contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = Self::cached_layout(layout);
        // SAFETY: `layout.align()` is a valid alignment, as for the caller.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = Self::cached_layout(new_layout);
        match (old, new) {
            // still fits its block
            (Some((c, _)), Some((d, _))) if c == d => ptr,
            // both uncached: let the system grow it in place if it can
            // SAFETY: forwarded contract.
            (None, None) => unsafe { self.inner.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: new_layout has non-zero size (the caller's contract).
                let fresh = unsafe { self.alloc(new_layout) };
                if !fresh.is_null() {
                    // SAFETY: both blocks hold at least min(old, new) bytes.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                fresh
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_by_at_most_a_quarter() {
        for size in [
            MIN_CACHED,
            MIN_CACHED + 1,
            300_000,
            (1 << 20) - 1,
            1 << 20,
            (1 << 20) + 1,
            16 << 20,
            5 * (1 << 22) + 3,
        ] {
            let (class, rounded) = class_of(size).unwrap();
            assert!(rounded >= size, "{size}");
            assert!(rounded <= size + size / 4 + 1, "{size} → {rounded}");
            assert_eq!(class_size(class), Some(rounded));
        }
        assert_eq!(class_of(MIN_CACHED), Some((0, MIN_CACHED)));
        // classes are strictly increasing
        let sizes: Vec<usize> = (0..CLASSES).map(|c| class_size(c).unwrap()).collect();
        assert!(sizes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn freed_blocks_are_reused_and_released() {
        let a = CachingAllocator::new(System);
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            p.write_bytes(7, layout.size());
            a.dealloc(p, layout);
            assert_eq!(a.parked_bytes(), 1 << 20);
            // a slightly smaller request of the same class gets the same block
            let smaller = Layout::from_size_align((1 << 20) - 100, 16).unwrap();
            let q = a.alloc(smaller);
            assert_eq!(p, q);
            assert_eq!(a.parked_bytes(), 0);
            // growing within the class keeps the block; beyond it moves and copies
            let r = a.realloc(q, smaller, 1 << 20);
            assert_eq!(r, q);
            let s = a.realloc(r, layout, 3 << 20);
            assert_eq!(*s.add((1 << 20) - 1), 7);
            a.dealloc(s, Layout::from_size_align(3 << 20, 8).unwrap());
            assert!(a.parked_bytes() >= 3 << 20);
            assert!(a.release() >= 3 << 20);
            assert_eq!(a.parked_bytes(), 0);
            // small and over-aligned requests bypass the cache
            let small = Layout::from_size_align(1000, 8).unwrap();
            let t = a.alloc(small);
            a.dealloc(t, small);
            let aligned = Layout::from_size_align(1 << 20, 4096).unwrap();
            let u = a.alloc(aligned);
            assert_eq!(u as usize % 4096, 0);
            a.dealloc(u, aligned);
            assert_eq!(a.parked_bytes(), 0);
        }
    }

    #[test]
    fn impossible_buffers_are_errors_not_aborts() {
        // more bytes than the address space: try_reserve refuses
        let err = try_vec::<f64>("Op", &[1 << 40, 1 << 20]).unwrap_err();
        assert!(
            matches!(err, Error::ResourceExhausted { op: "Op", .. }),
            "{err}"
        );
        // an element count that overflows usize
        assert!(try_vec::<u8>("Op", &[usize::MAX, 2]).is_err());
        assert!(try_full("Op", &[1 << 62], 0.0f32).is_err());
        // the kernels take their outputs through it
        let err = crate::kernels::strided::fill_flat::<f32>(&[1 << 61], |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("[2305843009213693952]"), "{err}");
        assert!(!can_allocate(u128::MAX));
        assert!(!can_allocate(1 << 70));
        assert!(can_allocate(1 << 20));
        let ok = try_full("Op", &[2, 3], 7i32).unwrap();
        assert_eq!(ok.shape(), &[2, 3]);
        assert!(ok.iter().all(|&v| v == 7));
    }
}
