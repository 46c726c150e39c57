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

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Result;

/// The check runs at most this often per thread: it takes the embedding
/// program's global lock (Python's GIL), which other threads may be holding.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

static HOOK: OnceLock<fn() -> Result<()>> = OnceLock::new();

thread_local! {
    static LAST_POLL: Cell<Option<Instant>> = const { Cell::new(None) };
    /// How many `deferred` sections this thread is inside.
    static DEFERRED: Cell<usize> = const { Cell::new(0) };
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
/// On a rayon worker it does nothing (the caller polls between pieces),
/// nor inside `deferred`: lock holders wrap their work in it.
pub fn poll() -> Result<()> {
    let Some(check) = hook() else {
        return Ok(());
    };
    if rayon::current_thread_index().is_some() || DEFERRED.with(Cell::get) > 0 {
        return Ok(());
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
