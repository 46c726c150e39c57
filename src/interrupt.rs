//! Stopping long computations from outside (Ctrl-C). The embedding program
//! installs a check once (the Python bindings: "is a signal pending?", which
//! raises `KeyboardInterrupt` through the check's error); long-running loops
//! call `poll` between coarse pieces of work: the backward pass between
//! nodes, a jacobian between chunks of rows, a large matrix product between
//! the blocks it is cut into (slabs of the inner dimension first, then rows;
//! batched products between matrices), elementwise
//! kernels and reductions between blocks of about a million elements, sorts
//! and scans between lanes. So an interrupt lands within one piece (a few
//! ms to tens of ms), not at the end of the op.
//!
//! Work sent to a pool thread as a whole (`on_pool`: a `tf.function`'s
//! replay) is polled for by the thread that waits for it: the check needs
//! that thread (Python runs signal handlers on its main thread only), and a
//! failed check cancels the work at its next `poll`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The check runs at most this often per thread: it takes the embedding
/// program's global lock (Python's GIL), which other threads may be holding.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

static HOOK: OnceLock<fn() -> Result<()>> = OnceLock::new();

thread_local! {
    static LAST_POLL: Cell<Option<Instant>> = const { Cell::new(None) };
    /// How many `deferred` sections this thread is inside.
    static DEFERRED: Cell<usize> = const { Cell::new(0) };
    /// Set while this pool thread runs an `on_pool` job: raised by the
    /// waiting thread when its check fails.
    static CANCELLED: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Run `f` with polling switched off on this thread: for code that holds
/// a lock (a variable's, an optimizer's) while it runs kernels, which poll.
/// An interrupt that arrives meanwhile is seen by the next poll after it.
pub fn deferred<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            DEFERRED.with(|d| d.set(d.get() - 1));
        }
    }
    DEFERRED.with(|d| d.set(d.get() + 1));
    let _leave = Leave;
    f()
}

/// Install the interrupt check (once per process; later calls are ignored).
pub fn set_hook(hook: fn() -> Result<()>) {
    let _ = HOOK.set(hook);
}

/// The installed interrupt check, if any.
pub fn hook() -> Option<fn() -> Result<()>> {
    HOOK.get().copied()
}

/// Run the installed check if `POLL_INTERVAL` has passed since this thread
/// last ran it; its error (the interrupt) is the caller's to return.
///
/// Trap: call it only on the thread that called the op, outside any lock a
/// kernel holds (a variable's, an optimizer's): the check waits for the
/// embedding program's global lock, whose holder may be waiting for that one.
/// Inside `deferred` it does nothing: lock holders wrap their work in it
/// (an update stopped halfway would leave its variable torn). On a rayon
/// worker it only fails once the thread waiting for its `on_pool` job has
/// been interrupted (the caller polls between pieces).
pub fn poll() -> Result<()> {
    let Some(check) = hook() else {
        return Ok(());
    };
    if DEFERRED.with(Cell::get) > 0 {
        return Ok(());
    }
    if rayon::current_thread_index().is_some() {
        return match CANCELLED.with(|c| c.borrow().as_ref().map(|f| f.load(Ordering::Relaxed))) {
            Some(true) => Err(Error::invalid(
                "interrupt",
                "cancelled: the waiting thread was interrupted",
            )),
            _ => Ok(()),
        };
    }
    let now = Instant::now();
    let due = LAST_POLL.with(|last| {
        let due = last
            .get()
            .is_none_or(|t| now.duration_since(t) >= POLL_INTERVAL);
        if due {
            last.set(Some(now));
        }
        due
    });
    if due { check() } else { Ok(()) }
}

/// Can this thread hand work to `on_pool` and poll for it? Not a pool
/// thread, whose `poll` never runs the check (and a replay thread would
/// wait on its own pool), nor one inside `deferred`, which must not poll.
pub fn may_wait_here() -> bool {
    rayon::current_thread_index().is_none() && DEFERRED.with(Cell::get) == 0
}

/// The pool `on_pool` jobs run on: a second pool, the size of the kernels'
/// (global) one. Trap: a pool thread that waits inside a kernel runs other
/// queued jobs meanwhile, nested on its stack. A replay takes variable
/// locks, so a replay nested inside the kernel of a thread that holds such
/// a lock (another Python thread's optimizer step) would wait on a lock
/// whose holder waits on that very kernel. Kernels of other threads never
/// run on this pool, and one job at a time does (`REPLAY_BUSY`), so a
/// replay is never nested inside anything.
static REPLAY_POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
static REPLAY_BUSY: AtomicBool = AtomicBool::new(false);

fn replay_pool() -> Option<&'static rayon::ThreadPool> {
    REPLAY_POOL
        .get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(rayon::current_num_threads())
                .thread_name(|i| format!("tapegrad-replay-{i}"))
                .build()
                .ok()
        })
        .as_ref()
}

/// Run `job` on a thread of a pool of its own while this thread waits for
/// it, polling the check every `POLL_INTERVAL` on its behalf. Once the check
/// fails, the job's own polls fail, so it stops at its next one; this thread
/// still waits for it (it may be updating shared state) and returns the
/// check's error. `Err(job)` hands the job back, to be run here, while
/// another thread's job holds the pool (or the pool cannot start).
///
/// Why: a job that runs many parallel kernels in a row (a replayed plan)
/// starts each of them from a pool thread, which shares the work out without
/// waking this thread and putting it back to sleep once per kernel (two
/// wake-ups, tens of µs in a 2-core VM, each time).
pub fn on_pool<T, F>(job: F) -> std::result::Result<Result<T>, F>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let Some(pool) = replay_pool() else {
        return Err(job);
    };
    if REPLAY_BUSY
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err(job);
    }
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancelled);
    let (send, receive) = mpsc::sync_channel(1);
    pool.spawn(move || {
        CANCELLED.with(|c| *c.borrow_mut() = Some(flag));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        CANCELLED.with(|c| *c.borrow_mut() = None);
        REPLAY_BUSY.store(false, Ordering::Release);
        let _ = send.send(result);
    });
    let mut interrupt = None;
    let result = loop {
        match receive.recv_timeout(POLL_INTERVAL) {
            Ok(result) => break result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if interrupt.is_none()
                    && let Err(e) = poll()
                {
                    cancelled.store(true, Ordering::Relaxed);
                    interrupt = Some(e);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(Err(Error::invalid("interrupt", "a pool job vanished")));
            }
        }
    };
    let result = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    Ok(match interrupt {
        Some(e) => Err(e),
        None => result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_hook_polling_is_free_and_never_fails() {
        // (tests never install a hook: the process-wide slot stays empty)
        for _ in 0..1000 {
            poll().unwrap();
        }
    }
}
