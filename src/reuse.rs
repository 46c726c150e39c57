//! Receive buffers: the memory of tensors that a producer outside the core
//! overwrites completely (MPI receiving an allreduce, through the binding's
//! `_fill_new`), kept once their tensor is gone so that the next receive of
//! the same dtype and shape writes into it instead of into fresh memory.
//!
//! Why: a fresh result must be zero-filled before MPI writes it (the core
//! never exposes uninitialised memory, even if a producer stops halfway),
//! which is one more pass over memory that a reused buffer does not need:
//! its old values are numbers a previous receive wrote. Horovod keeps its
//! fusion buffer across steps for the same reason.
//!
//! Trap: a kept buffer may be handed out again only when the list's clone is
//! its only owner (`ArcArray::is_unique`). Every tensor, variable, saved
//! activation, numpy view (through its base tensor) or DLPack capsule that
//! can still read it holds another clone, so a buffer anything can observe
//! is never overwritten.

use std::sync::{Mutex, MutexGuard};

use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::{Data, Tensor};

/// At most this many buffers are kept (most recent first to stay)…
const MAX_KEPT: usize = 8;
/// …holding at most this many bytes together (Horovod's fusion buffer's
/// default size).
const MAX_KEPT_BYTES: usize = 64 << 20;

static KEPT: Mutex<Vec<Data>> = Mutex::new(Vec::new());

fn kept() -> MutexGuard<'static, Vec<Data>> {
    // (the list holds no invariant a panic could break halfway)
    KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_unique(data: &Data) -> bool {
    crate::with_data!(data, a => a.is_unique(), str s => s.is_unique())
}

fn bytes(data: &Data) -> usize {
    data.shape().iter().product::<usize>() * data.dtype().size_of()
}

/// A tensor of `dtype` and `shape` whose every element the caller is about
/// to overwrite: a kept buffer of that dtype and shape that nothing else
/// holds (old values: whatever was last received into it), or zeros.
pub fn receive_buffer(op: &'static str, dtype: DType, shape: &[usize]) -> Result<Tensor> {
    let reused = {
        let mut kept = kept();
        let found = kept
            .iter()
            .position(|d| d.dtype() == dtype && d.shape() == shape && is_unique(d));
        found.map(|i| kept.remove(i))
    };
    match reused {
        Some(data) => Ok(Tensor::from_data(data)),
        None => Tensor::full(op, dtype, shape, 0.0),
    }
}

/// Keeps `received`'s buffer for a later `receive_buffer` of its dtype and
/// shape, which may reuse it once every other owner has let it go. The
/// oldest kept buffers go first past the limits; a buffer above the byte
/// limit on its own, or a string tensor's, is not kept.
pub fn keep(received: &Tensor) {
    let data = received.data();
    if data.dtype() == DType::String || bytes(data) > MAX_KEPT_BYTES {
        return;
    }
    let mut kept = kept();
    kept.push(data.clone());
    while kept.len() > MAX_KEPT || kept.iter().map(bytes).sum::<usize>() > MAX_KEPT_BYTES {
        kept.remove(0);
    }
}

/// Drops every kept buffer (`_release_cached_memory`); returns their bytes.
pub fn release() -> usize {
    let dropped: Vec<Data> = std::mem::take(&mut *kept());
    dropped.iter().map(bytes).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the list is process-wide, and parallel tests would share it.
    #[test]
    fn a_buffer_is_reused_only_once_nothing_else_holds_it() {
        release();
        let shape = [3, 5];
        let first = receive_buffer("test", DType::F32, &shape).unwrap();
        assert!(first.array::<f32>().unwrap().iter().all(|&v| v == 0.0));
        let start = first.buffer().start;
        keep(&first);
        // still held by `first`: a new buffer
        let second = receive_buffer("test", DType::F32, &shape).unwrap();
        assert_ne!(second.buffer().start, start);
        drop(first);
        // another dtype or shape never takes it
        let other = receive_buffer("test", DType::F64, &shape).unwrap();
        assert_ne!(other.buffer().start, start);
        let other = receive_buffer("test", DType::F32, &[5, 3]).unwrap();
        assert_ne!(other.buffer().start, start);
        // now only the list holds it: reused, with a new tensor id
        let third = receive_buffer("test", DType::F32, &shape).unwrap();
        assert_eq!(third.buffer().start, start);
        // taken out of the list: not handed out twice
        let fourth = receive_buffer("test", DType::F32, &shape).unwrap();
        assert_ne!(fourth.buffer().start, start);
        assert_eq!(release(), 0);
        // the limits: the newest stay
        let many: Vec<Tensor> = (0..MAX_KEPT + 2)
            .map(|_| receive_buffer("test", DType::F32, &shape).unwrap())
            .collect();
        many.iter().for_each(keep);
        assert_eq!(release(), MAX_KEPT * 15 * 4);
        let huge = receive_buffer("test", DType::U8, &[MAX_KEPT_BYTES + 1]).unwrap();
        keep(&huge);
        assert_eq!(release(), 0);
    }
}
