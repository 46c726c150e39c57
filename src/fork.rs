//! Forking a process while other threads run the core.
//!
//! `fork()` copies only the calling thread. A lock that another thread held
//! at that moment (a variable's, an optimizer's, the buffer cache's) stays
//! locked in the child forever, and the child's first use of it hangs. The
//! bindings run every long core call with Python's GIL released inside
//! `outside_fork`; the embedding program calls `before_fork` just before
//! forking (Python: `os.register_at_fork`), which holds new calls back and
//! waits until the running ones have finished, so no lock is held across the
//! fork. Both processes then call `after_fork` (the child also
//! `after_fork_in_child`).
//!
//! Trap: `before_fork` waits, so its caller must not hold anything a running
//! call needs: the Python binding releases the GIL while it waits (a
//! backward pass calls back into Python for custom gradients and Ctrl-C).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// Calls inside `outside_fork`, on all threads.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Set from `before_fork` to `after_fork`: new calls wait.
static FORKING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's nesting depth in `outside_fork` (a custom gradient's
    /// Python code runs inside a backward pass and may call the core again,
    /// or fork).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

const WAIT_STEP: Duration = Duration::from_micros(200);

/// Leaves `outside_fork`, also when its call unwinds.
struct Leave;

impl Drop for Leave {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
        RUNNING.fetch_sub(1, SeqCst);
    }
}

/// Run `f`, a core call that may take locks, such that no fork happens
/// while it runs (unless the forking thread is the one running it).
pub fn outside_fork<T>(f: impl FnOnce() -> T) -> T {
    let _leave = enter();
    f()
}

/// Counts this thread in as running a call (waiting while a fork is under
/// way); the guard counts it out. Not generic: compiled once, not once per
/// bound op.
#[inline(never)]
fn enter() -> Leave {
    let nested = DEPTH.with(Cell::get) > 0;
    loop {
        // (a nested call must not wait: the fork waits for its outer call)
        while !nested && FORKING.load(SeqCst) {
            std::thread::sleep(WAIT_STEP);
        }
        RUNNING.fetch_add(1, SeqCst);
        // Dekker's handshake with `before_fork`: each side publishes its
        // flag, then reads the other's, so one of them always backs off.
        if nested || !FORKING.load(SeqCst) {
            break;
        }
        RUNNING.fetch_sub(1, SeqCst);
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    Leave
}

/// Hold new calls back and wait for the running ones (other than the
/// calling thread's own) to finish.
pub fn before_fork() {
    FORKING.store(true, SeqCst);
    let own = DEPTH.with(Cell::get);
    while RUNNING.load(SeqCst) > own {
        std::thread::sleep(WAIT_STEP);
    }
}

/// Let calls run again (in the parent and in the child).
pub fn after_fork(in_child: bool) {
    if in_child {
        // only this thread exists now: the counts of the others are gone
        RUNNING.store(DEPTH.with(Cell::get), SeqCst);
        crate::kernels::after_fork_in_child();
    }
    FORKING.store(false, SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn a_fork_waits_for_running_calls_and_holds_new_ones_back() {
        let started = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (s, r) = (started.clone(), release.clone());
        let worker = std::thread::spawn(move || {
            outside_fork(|| {
                s.store(true, SeqCst);
                while !r.load(SeqCst) {
                    std::thread::sleep(WAIT_STEP);
                }
            })
        });
        while !started.load(SeqCst) {
            std::thread::sleep(WAIT_STEP);
        }
        let releaser = {
            let r = release.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                r.store(true, SeqCst);
            })
        };
        before_fork(); // returns only once the worker's call has finished
        assert!(release.load(SeqCst));
        assert_eq!(RUNNING.load(SeqCst), 0);
        after_fork(false);
        worker.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(outside_fork(|| 7), 7);
    }
}
