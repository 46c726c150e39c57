//! Gradient tapes and forward accumulators: a thread-local stack of active
//! recorders, what each watches, and the recorded nodes. Recording happens on
//! the calling thread after an op's kernel; with nothing active it costs one
//! thread-local read.

mod backward;
mod forward;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::tensor::{Buffer, IdSet, Tensor, TensorId, TensorMeta, buffers_cloned_during};

pub use backward::{Unconnected, gradient, set_interrupt_hook};
pub use forward::Accumulator;

/// A VJP rule: given the gradient of every output and which inputs need a
/// gradient, return one gradient per input. A gradient may carry leading
/// batch dimensions (`batch ++ out_shape`, see `ops::lead`) and the
/// broadcast output shape; the traversal sums it back down to each input.
/// Rules are written with tapegrad ops, so active tapes record them too.
/// A rule keeps a tensor for its backward pass by cloning it while the
/// closure is built (inside `make_vjp`): that is what `Tape::inspect` counts.
pub type Vjp = Box<dyn Fn(&[Tensor], &[bool]) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

/// One recorded op application.
pub struct Node {
    pub op: &'static str,
    pub inputs: Vec<TensorMeta>,
    pub outputs: Vec<TensorMeta>,
    pub vjp: Vjp,
    /// The distinct buffers `vjp` keeps alive; `None` for a foreign (Python)
    /// rule, whose captures Rust cannot see.
    pub saved: Option<Vec<Buffer>>,
}

/// One recorded node as `Tape::inspect` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub op: &'static str,
    pub inputs: Vec<TensorMeta>,
    pub outputs: Vec<TensorMeta>,
    /// Bytes of the distinct buffers this node's VJP keeps alive (`None`: a
    /// foreign rule, unknown).
    pub saved_bytes: Option<usize>,
}

/// A read-only snapshot of what a tape holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TapeView {
    /// In recording order.
    pub nodes: Vec<NodeView>,
    /// The inputs that no recorded node produced and that the tape watches
    /// (watched tensors and variable handles), in order of first use.
    pub watched_sources: Vec<TensorId>,
    /// Bytes held by the nodes' saved buffers, each buffer counted once
    /// however many nodes (or inputs of one node) share it.
    pub saved_bytes: usize,
    pub saved_buffers: usize,
}

#[derive(Default)]
struct TapeState {
    persistent: bool,
    watch_accessed_variables: bool,
    /// Ids whose use by an op gets recorded: watched tensors and variable
    /// handles, and every float output of a recorded op.
    watched: IdSet,
    nodes: Vec<Arc<Node>>,
    /// Variable handles in the order they were first watched.
    variables: Vec<TensorId>,
}

/// A gradient tape. Cloning shares the tape.
#[derive(Clone, Default)]
pub struct Tape(Arc<Mutex<TapeState>>);

/// Anything that observes ops on this thread, in the order it started.
#[derive(Clone)]
enum Recorder {
    Tape(Tape),
    Forward(Accumulator),
}

impl Recorder {
    fn is(&self, other: &Recorder) -> bool {
        match (self, other) {
            (Recorder::Tape(a), Recorder::Tape(b)) => Arc::ptr_eq(&a.0, &b.0),
            (Recorder::Forward(a), Recorder::Forward(b)) => a.same(b),
            _ => false,
        }
    }
}

thread_local! {
    static ACTIVE: RefCell<Vec<Recorder>> = const { RefCell::new(Vec::new()) };
    static ACTIVE_COUNT: Cell<usize> = const { Cell::new(0) };
}

/// Is anything recording on this thread? The whole cost of an op outside a tape.
#[inline]
pub fn is_recording() -> bool {
    ACTIVE_COUNT.with(|c| c.get() != 0)
}

fn set_stack(stack: Vec<Recorder>) {
    ACTIVE_COUNT.with(|c| c.set(stack.len()));
    ACTIVE.with(|s| *s.borrow_mut() = stack);
}

fn is_on_stack(r: &Recorder) -> bool {
    ACTIVE.with(|s| s.borrow().iter().any(|x| x.is(r)))
}

fn push_recorder(r: Recorder) {
    ACTIVE.with(|s| s.borrow_mut().push(r));
    ACTIVE_COUNT.with(|c| c.set(c.get() + 1));
}

fn pop_recorder(r: &Recorder) {
    ACTIVE.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(i) = s.iter().rposition(|x| x.is(r)) {
            s.remove(i);
            ACTIVE_COUNT.with(|c| c.set(c.get() - 1));
        }
    });
}

/// Run `f` with only the first `keep` recorders of this thread active,
/// restoring the full stack afterwards (also on unwind).
fn with_prefix<T>(keep: usize, f: impl FnOnce() -> T) -> T {
    struct Restore(Vec<Recorder>);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_stack(std::mem::take(&mut self.0));
        }
    }
    let full = ACTIVE.with(|s| s.borrow().clone());
    let prefix = full[..keep.min(full.len())].to_vec();
    let _restore = Restore(full);
    set_stack(prefix);
    f()
}

/// This thread's recorders, taken off the stack until `resume` (what a
/// custom gradient's forward function runs under).
pub struct Suspended(Vec<Recorder>);

pub fn suspend() -> Suspended {
    let stack = ACTIVE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    ACTIVE_COUNT.with(|c| c.set(0));
    Suspended(stack)
}

/// Put suspended recorders back (under any pushed since, which stay on top).
pub fn resume(s: Suspended) {
    let mut stack = s.0;
    ACTIVE.with(|cur| stack.extend(std::mem::take(&mut *cur.borrow_mut())));
    set_stack(stack);
}

/// Run `f` with nothing recording on this thread (variable updates, custom
/// gradients' forward functions), restoring the stack afterwards.
pub fn without_recording<T>(f: impl FnOnce() -> T) -> T {
    with_prefix(0, f)
}

impl Tape {
    pub fn new(persistent: bool, watch_accessed_variables: bool) -> Tape {
        Tape(Arc::new(Mutex::new(TapeState {
            persistent,
            watch_accessed_variables,
            ..TapeState::default()
        })))
    }

    fn state(&self) -> MutexGuard<'_, TapeState> {
        // A poisoned lock only means a panic elsewhere; the state is plain data.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn persistent(&self) -> bool {
        self.state().persistent
    }

    /// Is this tape on this thread's active stack?
    pub fn is_active(&self) -> bool {
        is_on_stack(&Recorder::Tape(self.clone()))
    }

    /// Start recording on this thread.
    pub fn push(&self) -> Result<()> {
        if self.is_active() {
            return Err(Error::TapeState(
                "Tape is still recording, This can happen if you try to re-enter an already-active tape."
                    .into(),
            ));
        }
        push_recorder(Recorder::Tape(self.clone()));
        Ok(())
    }

    /// Stop recording on this thread (a no-op if it was not recording).
    pub fn pop(&self) {
        pop_recorder(&Recorder::Tape(self.clone()))
    }

    /// Drop everything recorded and watched (TF's `reset`).
    pub fn reset(&self) {
        let mut st = self.state();
        st.watched.clear();
        st.nodes.clear();
        st.variables.clear();
    }

    pub fn watch(&self, id: TensorId) {
        self.state().watched.insert(id);
    }

    pub fn watch_variable(&self, handle: TensorId) {
        let mut st = self.state();
        st.watched.insert(handle);
        if !st.variables.contains(&handle) {
            st.variables.push(handle);
        }
    }

    /// Handles of the watched variables, in creation order.
    pub fn watched_variables(&self) -> Vec<TensorId> {
        let mut v = self.state().variables.clone();
        v.sort_unstable();
        v
    }

    pub fn num_nodes(&self) -> usize {
        self.state().nodes.len()
    }

    /// What the tape has recorded so far, without touching it.
    pub fn inspect(&self) -> TapeView {
        let (nodes, watched) = {
            let st = self.state();
            (st.nodes.clone(), st.watched.clone())
        };
        let mut view = TapeView::default();
        let mut produced = IdSet::default();
        let mut sources_seen = IdSet::default();
        let mut all_saved: HashMap<usize, usize> = HashMap::new();
        for node in &nodes {
            for m in &node.inputs {
                if !produced.contains(&m.id) && watched.contains(&m.id) && sources_seen.insert(m.id)
                {
                    view.watched_sources.push(m.id);
                }
            }
            produced.extend(node.outputs.iter().map(|m| m.id));
            if let Some(saved) = &node.saved {
                for b in saved {
                    let bytes = all_saved.entry(b.start).or_insert(0);
                    *bytes = (*bytes).max(b.bytes);
                }
            }
            view.nodes.push(NodeView {
                op: node.op,
                inputs: node.inputs.clone(),
                outputs: node.outputs.clone(),
                saved_bytes: node.saved.as_ref().map(|s| s.iter().map(|b| b.bytes).sum()),
            });
        }
        view.saved_bytes = all_saved.values().sum();
        view.saved_buffers = all_saved.len();
        view
    }

    /// The recorded nodes; a persistent tape keeps its own copy, a
    /// non-persistent one hands them over so that the backward pass frees
    /// each node's saved tensors as soon as it is done with it.
    pub fn take_nodes(&self) -> Vec<Arc<Node>> {
        let mut st = self.state();
        if st.persistent {
            st.nodes.clone()
        } else {
            st.watched.clear();
            std::mem::take(&mut st.nodes)
        }
    }
}

/// Record one op application into every active tape that watches one of its
/// float inputs, and push tangents through it for every active forward
/// accumulator that has one for an input. `make_vjp` runs at most once, and
/// only if some recorder needs it.
pub fn record<F>(op: &'static str, inputs: &[&Tensor], outputs: &[&Tensor], make_vjp: F)
where
    F: FnOnce() -> Vjp,
{
    record_inputs(op, inputs, outputs, make_vjp, false);
}

/// `record` for inputs known only by their metadata: variable handles.
pub fn record_metas<F>(op: &'static str, inputs: &[TensorMeta], outputs: &[&Tensor], make_vjp: F)
where
    F: FnOnce() -> Vjp,
{
    record_inputs(op, inputs, outputs, make_vjp, false);
}

/// `record_metas` for a rule written in another language (a Python custom
/// gradient): what it keeps alive is invisible here, and reported unknown.
pub fn record_foreign<F>(op: &'static str, inputs: &[TensorMeta], outputs: &[&Tensor], make_vjp: F)
where
    F: FnOnce() -> Vjp,
{
    record_inputs(op, inputs, outputs, make_vjp, true);
}

/// Distinct buffers, by start address (the widest span of each).
fn distinct(buffers: Vec<Buffer>) -> Vec<Buffer> {
    let mut out: Vec<Buffer> = Vec::with_capacity(buffers.len());
    for b in buffers {
        match out.iter_mut().find(|o| o.start == b.start) {
            Some(o) => o.bytes = o.bytes.max(b.bytes),
            None => out.push(b),
        }
    }
    out
}

/// An op input as recording sees it. Metadata (which copies the shape) is
/// built only for a node that is actually recorded.
trait Input {
    fn id(&self) -> TensorId;
    fn is_float(&self) -> bool;
    fn meta(&self) -> TensorMeta;
}

impl Input for &Tensor {
    fn id(&self) -> TensorId {
        Tensor::id(self)
    }
    fn is_float(&self) -> bool {
        self.dtype().is_float()
    }
    fn meta(&self) -> TensorMeta {
        Tensor::meta(self)
    }
}

impl Input for TensorMeta {
    fn id(&self) -> TensorId {
        self.id
    }
    fn is_float(&self) -> bool {
        self.dtype.is_float()
    }
    fn meta(&self) -> TensorMeta {
        self.clone()
    }
}

fn record_inputs<I: Input, F>(
    op: &'static str,
    inputs: &[I],
    outputs: &[&Tensor],
    make_vjp: F,
    foreign: bool,
) where
    F: FnOnce() -> Vjp,
{
    if !is_recording() {
        return;
    }
    let mut make_vjp = Some(make_vjp);
    let mut node: Option<Arc<Node>> = None;
    let mut build = || -> Arc<Node> {
        node.get_or_insert_with(|| {
            let (vjp, saved) = buffers_cloned_during(make_vjp.take().expect("built once"));
            Arc::new(Node {
                op,
                inputs: inputs.iter().map(Input::meta).collect(),
                outputs: outputs.iter().map(|t| t.meta()).collect(),
                vjp,
                saved: (!foreign).then(|| distinct(saved)),
            })
        })
        .clone()
    };
    // (position on the stack, accumulator, tangent of each input)
    let mut forward: Vec<(usize, Accumulator, Vec<Option<Tensor>>)> = Vec::new();
    ACTIVE.with(|stack| {
        for (pos, rec) in stack.borrow().iter().enumerate() {
            match rec {
                Recorder::Tape(tape) => {
                    let mut st = tape.state();
                    let watched = inputs
                        .iter()
                        .any(|m| m.is_float() && st.watched.contains(&m.id()));
                    if !watched {
                        continue;
                    }
                    st.nodes.push(build());
                    for o in outputs {
                        if o.dtype().is_float() {
                            st.watched.insert(o.id());
                        }
                    }
                }
                Recorder::Forward(acc) => {
                    let tangents: Vec<Option<Tensor>> = inputs
                        .iter()
                        .map(|m| {
                            if m.is_float() {
                                acc.tangent(m.id())
                            } else {
                                None
                            }
                        })
                        .collect();
                    if tangents.iter().any(Option::is_some) {
                        forward.push((pos, acc.clone(), tangents));
                    }
                }
            }
        }
    });
    for (pos, acc, tangents) in forward {
        let node = build();
        // Strict nesting: the JVP computation is seen by the recorders that
        // started before this accumulator, never by it or later ones.
        let result = with_prefix(pos, || forward::jvp(&node, &tangents));
        acc.store(outputs, result);
    }
}

/// Record a read of a variable: `handle` stands for the variable, `value` is
/// the freshly-identified tensor the read returns. Tapes that watch accessed
/// variables start watching a trainable one here.
pub fn record_variable_read(handle: &TensorMeta, trainable: bool, value: &Tensor) {
    if !is_recording() {
        return;
    }
    ACTIVE.with(|stack| {
        for rec in stack.borrow().iter() {
            if let Recorder::Tape(tape) = rec {
                let mut st = tape.state();
                if trainable && st.watch_accessed_variables && st.watched.insert(handle.id) {
                    st.variables.push(handle.id);
                }
            }
        }
    });
    record_metas(
        "ReadVariableOp",
        std::slice::from_ref(handle),
        &[value],
        || Box::new(|g, _| Ok(vec![Some(g[0].clone())])),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;

    fn f64s(shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_vec(shape, (0..n).map(|i| i as f64 + 1.0).collect()).unwrap()
    }

    fn recorded(tape: &Tape) -> Vec<(&'static str, Option<usize>)> {
        tape.inspect()
            .nodes
            .iter()
            .map(|n| (n.op, n.saved_bytes))
            .collect()
    }

    #[test]
    fn inspect_counts_each_saved_buffer_once() {
        let x = f64s(&[3]); // 24 bytes
        let tape = Tape::new(true, true);
        tape.push().unwrap();
        tape.watch(x.id());
        let sq = ops::multiply(&x, &x).unwrap(); // saves x (twice: one buffer)
        let y = ops::tanh(&sq).unwrap(); // saves its output
        let r = ops::reshape_to(&y, &[3, 1]).unwrap(); // saves nothing
        let s = ops::reduce_sum(&r, None, false).unwrap(); // saves nothing
        let z = ops::multiply(&s, &x).unwrap(); // saves s (8 bytes) and x again
        tape.pop();
        assert_eq!(
            recorded(&tape),
            [
                ("Mul", Some(24)),
                ("Tanh", Some(24)),
                ("Reshape", Some(0)),
                ("Sum", Some(0)),
                ("Mul", Some(32)),
            ]
        );
        let view = tape.inspect();
        // x, tanh's output and s, each once
        assert_eq!((view.saved_bytes, view.saved_buffers), (24 + 24 + 8, 3));
        assert_eq!(view.watched_sources, [x.id()]);
        let last = view.nodes.last().unwrap();
        assert_eq!(last.inputs, [s.meta(), x.meta()]);
        assert_eq!(last.outputs, [z.meta()]);
    }

    #[test]
    fn a_view_shares_its_buffer() {
        let a = f64s(&[2, 3]);
        let t = ops::transpose(&a, None).unwrap();
        assert_eq!(a.buffer(), t.buffer());
        assert_eq!(a.buffer().bytes, 48);
        let tape = Tape::new(true, true);
        tape.push().unwrap();
        tape.watch(a.id());
        tape.watch(t.id());
        ops::matmul(&a, &t, false, false).unwrap(); // saves a and its transpose
        tape.pop();
        let view = tape.inspect();
        assert_eq!(view.nodes[0].saved_bytes, Some(48));
        assert_eq!((view.saved_bytes, view.saved_buffers), (48, 1));
        assert_eq!(view.watched_sources, [a.id(), t.id()]);
    }

    #[test]
    fn clones_are_logged_only_while_listening() {
        let a = f64s(&[4]);
        let _outside = a.clone();
        let ((), inner) = buffers_cloned_during(|| {
            let _kept = a.clone();
        });
        assert_eq!(inner, [a.buffer()]);
        let _after = a.clone();
        let ((), nested) = buffers_cloned_during(|| {
            let ((), deeper) = buffers_cloned_during(|| drop(a.clone()));
            assert_eq!(deeper.len(), 1);
        });
        assert_eq!(
            nested.len(),
            1,
            "the enclosing listener sees inner clones too"
        );
    }

    #[test]
    fn a_non_persistent_tape_hands_its_nodes_over() {
        let x = f64s(&[2]);
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        tape.watch(x.id());
        ops::exp(&x).unwrap();
        tape.pop();
        assert_eq!(recorded(&tape), [("Exp", Some(16))]);
        drop(tape.take_nodes());
        assert_eq!(tape.inspect(), TapeView::default());
    }
}
