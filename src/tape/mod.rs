//! Recording: gradient tapes and forward accumulators, a thread-local stack
//! of active recorders, what each watches, and the recorded nodes. This layer
//! sits below the ops (they call `record_rule` after their kernel) and never
//! calls them: differentiating a record (the backward traversal, JVPs,
//! jacobians) is `crate::grad`, above the ops. With nothing active, recording
//! costs one thread-local read.

mod forward;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::error::{Error, Result};
use crate::tensor::{Buffer, IdSet, Tensor, TensorId, TensorMeta};

pub use forward::{Accumulator, JvpFn};

/// A recorded op's backward rule together with the tensors it saved.
pub trait Vjp: Send + Sync {
    /// Given the gradient of every output and which inputs need a gradient,
    /// one gradient per input (`None` where not needed or not defined). A
    /// gradient may carry leading batch dimensions (`batch ++ out_shape`, see
    /// `ops::lead`) and the broadcast output shape; the traversal sums it back
    /// down to each input. Rules are written with tapegrad ops, so active
    /// tapes record them too.
    fn vjp(&self, grads: &[Tensor], need: &[bool]) -> Result<Vec<Option<Tensor>>>;

    /// The tensors kept alive for the backward pass (what `Tape::inspect`
    /// counts); `None` for a foreign rule, whose captures Rust cannot see.
    fn saved(&self) -> Option<&[Tensor]>;

    /// What a foreign rule captured (see `record_foreign`), for the embedding
    /// program to inspect (the Python bindings show the garbage collector the
    /// Python objects a custom gradient holds); `None` for a native rule.
    fn captures(&self) -> Option<&(dyn Any + Send + Sync)> {
        None
    }

    /// The function that computes the node's one output again from its
    /// inputs, if it has one (see `Remade`).
    fn remake(&self) -> Option<Remake> {
        None
    }

    /// The save this node does not keep and remakes, if any.
    fn remade(&self) -> Option<&Arc<Remade>> {
        None
    }

    /// A foreign rule is written for cotangents of its outputs' own shapes:
    /// a batch of cotangents (a jacobian) must go through it one row at a
    /// time, and what it returns is checked exactly rather than summed down.
    fn is_foreign(&self) -> bool {
        false
    }
}

/// One recorded op application. The rule is stored inline (`Node<V>` coerces
/// to `Node<dyn Vjp>`), so a node is one allocation whatever rule it holds.
pub struct Node<V: ?Sized + Vjp = dyn Vjp> {
    pub op: &'static str,
    pub inputs: Vec<TensorMeta>,
    pub outputs: Vec<TensorMeta>,
    pub rule: V,
}

/// The gradient of one input: `(cotangent of the output, the tensors the op
/// saved, the op's non-tensor context) ↦ gradient`. Rules are plain function
/// pointers (closures that capture nothing), so a rule can only use what the
/// op declared as saved: anything else fails to compile.
pub type Rule<C, const N: usize> = fn(&Tensor, &[Tensor; N], &C) -> Result<Tensor>;

/// One rule for every input of an op of any arity (`concat`), told which
/// input it differentiates.
pub type EachRule<C, const N: usize> = fn(usize, &Tensor, &[Tensor; N], &C) -> Result<Tensor>;

/// The node payload `record_rule` builds: explicit saves, context and rules.
struct Rules<C, R, const N: usize> {
    saved: [Tensor; N],
    /// A save this node does not keep (`saved` holds an empty stand-in in
    /// these slots), made again when the rules run.
    remade: Option<(Vec<usize>, Arc<Remade>)>,
    /// How this node's output is made again (`record_remakeable`).
    remake: Option<Remake>,
    ctx: C,
    rules: R,
}

/// An op's forward function, which a saved value is made again with.
#[derive(Clone, Copy)]
pub enum Remake {
    Unary(fn(&Tensor) -> Result<Tensor>),
    Binary(fn(&Tensor, &Tensor) -> Result<Tensor>),
}

/// Saving a large tensor costs its whole buffer for as long as the node
/// lives. When the tensor is the output of the node recorded just before,
/// or of the node being recorded (`exp` saves its own output), that op is
/// elementwise, and every input of it is kept by one of the few nodes
/// recorded before (`a·b` keeps `a` and `b`; `exp(tanh(x))` keeps tanh's
/// output, which exp was applied to), the backward pass can run that op
/// again instead: the node keeps references to buffers that nodes recorded
/// earlier hold anyway (and free later: the backward pass runs nodes latest
/// first), and the output's buffer is freed as soon as the program drops
/// it. An input may itself be a value one of those nodes remakes: in W6's
/// chain `cos((0.5·exp(t))²)·x`, tanh keeps `t` and everything after it is
/// remade from `t` and `x`, so a restore may run several ops
/// (`MAX_REMAKE_OPS`). Each value is made once per backward pass: a remade
/// part keeps its value (`made`) until the node that did not keep it has
/// run, and the backward pass runs that node later, because parts come
/// from nodes recorded earlier.
///
/// The remade value is bitwise the value first computed (the same
/// elementwise kernel on the same inputs) and carries the same id, so every
/// tape sees it exactly as the saved one; it is made with nothing recording.
pub struct Remade {
    forward: Remake,
    inputs: Vec<Part>,
    id: TensorId,
    /// Ops a restore runs when no part's value is made yet.
    ops: usize,
    /// The value, from when it is first made until its node has used it.
    made: Mutex<Option<Tensor>>,
}

/// An input of a remade value: kept by an earlier node, or remade itself.
enum Part {
    Kept(Tensor),
    Remade(Arc<Remade>),
}

impl Part {
    fn ops(&self) -> usize {
        match self {
            Part::Kept(_) => 0,
            Part::Remade(r) => r.ops,
        }
    }
}

/// Saved tensors smaller than this are kept: remaking costs an op.
pub const REMAKE_MIN_BYTES: usize = 256 << 10;
/// How many nodes back (the producer included) a remade value's inputs are
/// looked for among the saves.
const REMAKE_LOOKBACK: usize = 4;
/// The most ops one restore may run (each at most once, see `Remade`):
/// W6's cycle needs 5 (`exp`, two products, `cos`, the product by `x`).
pub const MAX_REMAKE_OPS: usize = 6;

/// A node whose output a save may be: its forward function and the ids of
/// its inputs and output.
struct Producer {
    forward: Remake,
    inputs: Vec<TensorId>,
    output: TensorId,
}

impl Producer {
    /// The slots of `saves` holding this producer's output, and how to
    /// remake it from what `nodes` (the tape so far) keep.
    fn remade(&self, saves: &[&Tensor], nodes: &[Arc<Node>]) -> Option<(Vec<usize>, Arc<Remade>)> {
        let slots: Vec<usize> = (0..saves.len())
            .filter(|&i| saves[i].id() == self.output && Remade::worth_it(saves[i]))
            .collect();
        let arity = match self.forward {
            Remake::Unary(_) => 1,
            Remake::Binary(_) => 2,
        };
        if slots.is_empty() || self.inputs.len() != arity {
            return None;
        }
        // each input as a save of one of the last few nodes, or as a value
        // one of them remakes
        let part = |id: TensorId| {
            nodes.iter().rev().take(REMAKE_LOOKBACK).find_map(|node| {
                if let Some(t) = node.rule.saved()?.iter().find(|t| t.id() == id) {
                    return Some(Part::Kept(t.clone()));
                }
                let remade = node.rule.remade().filter(|r| r.id == id)?;
                Some(Part::Remade(remade.clone()))
            })
        };
        let inputs: Vec<Part> = self
            .inputs
            .iter()
            .map(|&id| part(id))
            .collect::<Option<_>>()?;
        // (a part read twice, as by `m·m`, is made once)
        let ops = match inputs.as_slice() {
            [Part::Remade(a), Part::Remade(b)] if Arc::ptr_eq(a, b) => 1 + a.ops,
            _ => 1 + inputs.iter().map(Part::ops).sum::<usize>(),
        };
        (ops <= MAX_REMAKE_OPS).then(|| {
            let remade = Remade {
                forward: self.forward,
                inputs,
                id: self.output,
                ops,
                made: Mutex::new(None),
            };
            (slots, Arc::new(remade))
        })
    }
}

impl Remade {
    /// The slots of `saves` a node need not keep and how to remake them,
    /// when it is worth it, exactly one tape records (so the node is
    /// recorded with respect to that tape's last node alone) and no NaN/Inf
    /// check would see the remade value twice. `own` is the node being
    /// recorded, when its op can make its output again.
    #[inline(never)]
    fn of(saves: &[&Tensor], own: Option<Producer>) -> Option<(Vec<usize>, Arc<Remade>)> {
        if ACTIVE_COUNT.with(Cell::get) != 1
            || CHECK_NUMERICS.load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let tape = ACTIVE.with(|s| match s.borrow().first() {
            Some(Recorder::Tape(t)) => Some(t.clone()),
            _ => None,
        })?;
        let st = tape.state();
        if st.recording_on != Some(thread_token()) {
            return None;
        }
        let last = st.nodes.last().and_then(|node| {
            let [made] = node.outputs.as_slice() else {
                return None;
            };
            Some(Producer {
                forward: node.rule.remake()?,
                inputs: node.inputs.iter().map(|m| m.id).collect(),
                output: made.id,
            })
        });
        own.into_iter()
            .chain(last)
            .find_map(|producer| producer.remade(saves, &st.nodes))
    }

    /// What a node keeps of `saves`: each tensor, or, where it need not
    /// keep one, a stand-in with no elements and how to remake it.
    #[allow(clippy::type_complexity)]
    #[inline]
    fn split<const N: usize>(
        saves: [&Tensor; N],
        own: impl FnOnce() -> Option<Producer>,
    ) -> ([Tensor; N], Option<(Vec<usize>, Arc<Remade>)>) {
        // (the common case, every save small, stays inline and cheap)
        let remade = match saves.iter().any(|t| Remade::worth_it(t)) {
            true => Remade::of(&saves, own()),
            false => None,
        };
        let Some((slots, remade)) = remade else {
            return (saves.map(Tensor::clone), None);
        };
        let kept = std::array::from_fn(|i| match slots.contains(&i) {
            true => Tensor::full("remade", saves[i].dtype(), &[0], 0.0)
                .unwrap_or_else(|_| saves[i].clone()),
            false => saves[i].clone(),
        });
        (kept, Some((slots, remade)))
    }

    /// Is `t` large enough that remaking it beats keeping it?
    #[inline]
    fn worth_it(t: &Tensor) -> bool {
        t.numel().saturating_mul(t.dtype().size_of()) >= REMAKE_MIN_BYTES
    }

    fn made(&self) -> MutexGuard<'_, Option<Tensor>> {
        // (a poisoned lock only means a panic elsewhere: the slot is plain data)
        self.made.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value, computed again with nothing recording, under its id (or
    /// the one made earlier in this backward pass).
    fn value(&self) -> Result<Tensor> {
        if let Some(value) = self.made().clone() {
            return Ok(value);
        }
        let inputs = self
            .inputs
            .iter()
            .map(|p| match p {
                Part::Kept(t) => Ok(t.clone()),
                Part::Remade(r) => r.value(),
            })
            .collect::<Result<Vec<Tensor>>>()?;
        let value = without_recording(|| match (self.forward, inputs.as_slice()) {
            (Remake::Unary(f), [x]) => f(x),
            (Remake::Binary(f), [a, b]) => f(a, b),
            _ => unreachable!("a producer's arity is checked when it is recorded"),
        })?
        .with_id(self.id);
        *self.made() = Some(value.clone());
        Ok(value)
    }

    /// Lets go of the value once the node that did not keep it has run:
    /// nothing else needs it in this backward pass.
    fn forget(&self) {
        self.made().take();
    }
}

/// How a rule set finds the rule of one input.
trait RuleSet<C, const N: usize>: Send + Sync {
    fn apply(
        &self,
        input: usize,
        g: &Tensor,
        saved: &[Tensor; N],
        ctx: &C,
    ) -> Option<Result<Tensor>>;
}

impl<C, const N: usize, const K: usize> RuleSet<C, N> for [Option<Rule<C, N>>; K] {
    fn apply(
        &self,
        input: usize,
        g: &Tensor,
        saved: &[Tensor; N],
        ctx: &C,
    ) -> Option<Result<Tensor>> {
        self.get(input)
            .copied()
            .flatten()
            .map(|rule| rule(g, saved, ctx))
    }
}

/// The single rule of `record_each`.
struct Each<C, const N: usize>(EachRule<C, N>);

impl<C, const N: usize> RuleSet<C, N> for Each<C, N> {
    fn apply(
        &self,
        input: usize,
        g: &Tensor,
        saved: &[Tensor; N],
        ctx: &C,
    ) -> Option<Result<Tensor>> {
        Some((self.0)(input, g, saved, ctx))
    }
}

impl<C: Send + Sync, R: RuleSet<C, N>, const N: usize> Vjp for Rules<C, R, N> {
    fn vjp(&self, grads: &[Tensor], need: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let restored;
        let saved = match &self.remade {
            None => &self.saved,
            Some((slots, remade)) => {
                let value = remade.value()?;
                remade.forget();
                let mut full = self.saved.clone();
                for &i in slots {
                    full[i] = value.clone();
                }
                restored = full;
                &restored
            }
        };
        // the framework, not the rule, decides which rules run
        need.iter()
            .enumerate()
            .map(|(i, &want)| match want {
                true => self.rules.apply(i, &grads[0], saved, &self.ctx).transpose(),
                false => Ok(None),
            })
            .collect()
    }

    fn saved(&self) -> Option<&[Tensor]> {
        Some(&self.saved)
    }

    fn remake(&self) -> Option<Remake> {
        self.remake
    }

    fn remade(&self) -> Option<&Arc<Remade>> {
        self.remade.as_ref().map(|(_, r)| r)
    }
}

/// A rule written in another language (a Python custom gradient): it gets
/// every output's gradient (unbatched) and answers for every input; what it
/// keeps alive is opaque here, shown only through `captures`.
struct Foreign<F, A> {
    rule: F,
    captures: A,
}

impl<F, A> Vjp for Foreign<F, A>
where
    F: Fn(&A, &[Tensor]) -> Result<Vec<Option<Tensor>>> + Send + Sync,
    A: Any + Send + Sync,
{
    fn vjp(&self, grads: &[Tensor], _need: &[bool]) -> Result<Vec<Option<Tensor>>> {
        (self.rule)(&self.captures, grads)
    }

    fn saved(&self) -> Option<&[Tensor]> {
        None
    }

    fn captures(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(&self.captures)
    }

    fn is_foreign(&self) -> bool {
        true
    }
}

/// One recorded node as `Tape::inspect` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub op: &'static str,
    pub inputs: Vec<TensorMeta>,
    pub outputs: Vec<TensorMeta>,
    /// Bytes of the distinct buffers this node's rule keeps alive (`None`: a
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

/// The interrupt check the backward pass polls (see `crate::interrupt`).
pub use crate::interrupt::{hook as interrupt_hook, set_hook as set_interrupt_hook};

/// Where a recorded op was called from, as the embedding program identifies
/// it (the Python bindings keep the calling frame's code object and
/// instruction offset, and `GradientTape.explain` turns them into file:line
/// only when asked). Opaque here; `None` where the program cannot tell.
pub type CallSite = Arc<dyn std::any::Any + Send + Sync>;

/// Asked once per node that some tape records (never when nothing records),
/// with `false`, and once per `record_escape`, with `true`: skip the
/// embedding program's library frames (numpy's, tapegrad's own Python).
static CALL_SITE_HOOK: OnceLock<fn(bool) -> Option<CallSite>> = OnceLock::new();

/// Install the call-site probe (once per process; later calls are ignored).
pub fn set_call_site_hook(hook: fn(bool) -> Option<CallSite>) {
    let _ = CALL_SITE_HOOK.set(hook);
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
    /// The thread whose stack this tape is on (`thread_token`), if any.
    recording_on: Option<u64>,
    /// `sites[i]`: where `nodes[i]` was called from (see `CallSite`).
    sites: Vec<Option<CallSite>>,
    /// Where a tensor this tape watches left it (`record_escape`).
    escapes: Vec<Escape>,
    /// A tensor id taken when recording last started (`push`): inputs with
    /// larger ids were made since, while this tape recorded.
    span_start: TensorId,
}

/// A watched tensor turned into something the tape cannot follow
/// (`.numpy()`, `float()`, `stop_gradient`, …), kept for
/// `GradientTape.explain`.
#[derive(Clone)]
pub struct Escape {
    /// How it left: "numpy()", "float()", "stop_gradient", …
    pub how: &'static str,
    pub id: TensorId,
    /// The new tensor it became, if it stayed a tensor (`stop_gradient`).
    pub output: Option<TensorId>,
    pub site: Option<CallSite>,
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
    /// Is this recorder still claimed by the thread `token`?
    fn is_live(&self, token: u64) -> bool {
        match self {
            Recorder::Tape(t) => t.state().recording_on == Some(token),
            Recorder::Forward(a) => a.recording_on() == Some(token),
        }
    }

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
    static THREAD_TOKEN: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// A number naming this thread (never reused, unlike an OS thread id).
fn thread_token() -> u64 {
    THREAD_TOKEN.with(|t| *t)
}

// A recorder can be stopped from a thread other than the one it records on
// (a generator holding `with tape:` finalised elsewhere, `gradient()` called
// from a second thread). The stacks are thread-local, so such a stop only
// clears the recorder's claim (`recording_on`); its owner thread sees the
// stale entry at its next recorded op and drops it from its stack.

/// Is anything recording on this thread? The whole cost of an op outside a tape.
#[inline]
pub fn is_recording() -> bool {
    ACTIVE_COUNT.with(|c| c.get() != 0)
}

/// Could an op recorded now pass a gradient (or a tangent) to `t`? Only if
/// a tape on this thread's stack watches it (a watched source or a recorded
/// op's output) or an accumulator carries its tangent. A rule may skip what
/// only that gradient needs: `y * 0.5` need not keep `y` alive.
pub fn may_need_gradient(t: &Tensor) -> bool {
    if !is_recording() || !t.dtype().is_float() {
        return false;
    }
    let id = t.id();
    ACTIVE.with(|stack| {
        stack.borrow().iter().any(|rec| match rec {
            Recorder::Tape(tape) => tape.state().watched.contains(&id),
            Recorder::Forward(acc) => acc.tangent(id).is_some(),
        })
    })
}

fn set_stack(stack: Vec<Recorder>) {
    ACTIVE_COUNT.with(|c| c.set(stack.len()));
    ACTIVE.with(|s| *s.borrow_mut() = stack);
}

fn is_on_stack(r: &Recorder) -> bool {
    ACTIVE.with(|s| s.borrow().iter().any(|x| x.is(r)))
}

/// Drop the recorders that were stopped from another thread.
fn purge_stale() {
    let token = thread_token();
    ACTIVE.with(|s| {
        let mut s = s.borrow_mut();
        s.retain(|r| r.is_live(token));
        ACTIVE_COUNT.with(|c| c.set(s.len()));
    });
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

    /// A number naming this tape while it lives (what a trace knows it by).
    pub fn key(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    pub fn persistent(&self) -> bool {
        self.state().persistent
    }

    /// Is this tape recording on this thread's active stack?
    pub fn is_active(&self) -> bool {
        self.state().recording_on == Some(thread_token())
            && is_on_stack(&Recorder::Tape(self.clone()))
    }

    /// Start recording on this thread (moving the tape here if it was
    /// recording on another one).
    pub fn push(&self) -> Result<()> {
        if self.is_active() {
            return Err(Error::TapeState(
                "Tape is still recording, This can happen if you try to re-enter an already-active tape."
                    .into(),
            ));
        }
        {
            let mut st = self.state();
            st.recording_on = Some(thread_token());
            st.span_start = crate::tensor::fresh_id();
        }
        push_recorder(Recorder::Tape(self.clone()));
        Ok(())
    }

    /// Stop recording, called from any thread (a no-op if it was not
    /// recording). From the thread it records on, it leaves that thread's
    /// stack now; from another, at that thread's next recorded op.
    pub fn pop(&self) {
        self.state().recording_on = None;
        pop_recorder(&Recorder::Tape(self.clone()))
    }

    /// Drop everything recorded and watched (TF's `reset`).
    pub fn reset(&self) {
        let mut st = self.state();
        st.watched.clear();
        st.nodes.clear();
        st.sites.clear();
        st.escapes.clear();
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

    /// Where watched tensors left this tape, in order.
    pub fn escapes(&self) -> Vec<Escape> {
        self.state().escapes.clone()
    }

    /// Where each recorded node was called from, in recording order.
    pub fn call_sites(&self) -> Vec<Option<CallSite>> {
        self.state().sites.clone()
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
            let saved = node
                .rule
                .saved()
                .map(|ts| distinct(ts.iter().map(Tensor::buffer)));
            for b in saved.iter().flatten() {
                let bytes = all_saved.entry(b.start).or_insert(0);
                *bytes = (*bytes).max(b.bytes);
            }
            view.nodes.push(NodeView {
                op: node.op,
                inputs: node.inputs.clone(),
                outputs: node.outputs.clone(),
                saved_bytes: saved.map(|s| s.iter().map(|b| b.bytes).sum()),
            });
        }
        view.saved_bytes = all_saved.values().sum();
        view.saved_buffers = all_saved.len();
        view
    }

    /// Visit each recorded node unless the tape is locked right now (then
    /// return false): a garbage collector's traversal must never block.
    pub fn try_for_each_node(&self, mut f: impl FnMut(&Arc<Node>)) -> bool {
        match self.0.try_lock() {
            Ok(st) => {
                st.nodes.iter().for_each(&mut f);
                true
            }
            Err(_) => false,
        }
    }

    /// Hand over every recorded node and forget them (the caller drops them
    /// outside the tape's lock: dropping a foreign rule may run foreign code).
    pub fn release_nodes(&self) -> Vec<Arc<Node>> {
        std::mem::take(&mut self.state().nodes)
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
            st.sites.clear();
            std::mem::take(&mut st.nodes)
        }
    }
}

/// Record one op application (one output) into every active tape that
/// watches one of its float inputs, and push tangents through it for every
/// active forward accumulator that has one for an input (autograd's
/// `defvjp`, with explicit saves).
///
/// `saves` are the tensors the rules read, kept in the node (and counted by
/// `Tape::inspect`); `ctx` builds the op's non-tensor context (shapes, axes,
/// flags), only if some recorder needs the node; `rules[i]` differentiates
/// input `i` (`None`: no gradient flows to it) and runs only when that input
/// needs a gradient. Example, `a * b`:
/// ```text
/// tape::record_rule("Mul", &[a, b], &out, [a, b], || (), [
///     Some(|g, [_, b], _| g.mul(b)),
///     Some(|g, [a, _], _| g.mul(a)),
/// ]);
/// ```
#[inline]
pub fn record_rule<I: Input, C, const N: usize, const K: usize>(
    op: &'static str,
    inputs: &[I],
    output: &Tensor,
    saves: [&Tensor; N],
    ctx: impl FnOnce() -> C,
    rules: [Option<Rule<C, N>>; K],
) where
    C: Send + Sync + 'static,
{
    debug_assert_eq!(inputs.len(), K, "{op}: one rule per input");
    record_rules(op, inputs, output, saves, None, ctx, rules);
}

/// `record_rule` for an op with no context whose output `forward` computes
/// again from its inputs: a node that saves the output (this one or a
/// later one) may remake it instead of keeping it (see `Remade`).
#[inline]
pub fn record_remakeable<const N: usize, const K: usize>(
    op: &'static str,
    inputs: [&Tensor; K],
    output: &Tensor,
    saves: [&Tensor; N],
    forward: Remake,
    rules: [Option<Rule<(), N>>; K],
) {
    record_rules(op, &inputs, output, saves, Some(forward), || (), rules);
}

/// `record_rule` for an op of any arity (`concat`): one rule, told which
/// input it differentiates, for every input.
#[inline]
pub fn record_each<I: Input, C, const N: usize>(
    op: &'static str,
    inputs: &[I],
    output: &Tensor,
    saves: [&Tensor; N],
    ctx: impl FnOnce() -> C,
    rule: EachRule<C, N>,
) where
    C: Send + Sync + 'static,
{
    record_rules(op, inputs, output, saves, None, ctx, Each(rule));
}

/// What the three recording entry points share: the NaN/Inf check, then,
/// if anything records, one node keeping `saves` (or remaking one, see
/// `Remade`).
#[inline]
fn record_rules<I: Input, C, R, const N: usize>(
    op: &'static str,
    inputs: &[I],
    output: &Tensor,
    saves: [&Tensor; N],
    remake: Option<Remake>,
    ctx: impl FnOnce() -> C,
    rules: R,
) where
    C: Send + Sync + 'static,
    R: RuleSet<C, N> + 'static,
{
    check_numerics(op, output);
    if !is_recording() {
        return;
    }
    let own = || {
        Some(Producer {
            forward: remake?,
            inputs: inputs.iter().map(Input::id).collect(),
            output: output.id(),
        })
    };
    let (saved, remade) = Remade::split(saves, own);
    record_node(op, inputs, &[output], || Rules {
        saved,
        remade,
        remake,
        ctx: ctx(),
        rules,
    });
}

/// `tf.debugging.enable_check_numerics`: every recorded-kind op checks its
/// output for NaN/Inf. Off, the check costs one relaxed atomic load per op.
static CHECK_NUMERICS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// The first NaN/Inf found on this thread since the caller last asked.
    static NUMERICS_ERROR: std::cell::RefCell<Option<Error>> = const { std::cell::RefCell::new(None) };
}

/// Turn the NaN/Inf check of every op's output on or off (process-wide).
pub fn set_check_numerics(on: bool) {
    CHECK_NUMERICS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Is the NaN/Inf check on?
#[inline]
pub fn checks_numerics() -> bool {
    CHECK_NUMERICS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Could anything see an op run on this thread now — a tape or forward
/// accumulator recording it, a trace capturing it, the NaN/Inf check
/// reading its output? When nothing can, a computation may skip building
/// intermediate tensors (a VJP's factor, a fan-out sum's new buffer) as
/// long as its values are bitwise those of the ops it stands for.
#[inline]
pub fn is_observed() -> bool {
    is_recording() || checks_numerics() || crate::trace::is_tracing()
}

/// The NaN/Inf error an op of this thread raised, if the check is on and
/// one did (`record_rule` cannot fail, so the caller collects it).
pub fn take_numerics_error() -> Option<Error> {
    if !CHECK_NUMERICS.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    NUMERICS_ERROR.with(|e| e.borrow_mut().take())
}

#[inline]
fn check_numerics(op: &'static str, output: &Tensor) {
    if CHECK_NUMERICS.load(std::sync::atomic::Ordering::Relaxed)
        && let Some(message) = numerics_report(op, output)
    {
        NUMERICS_ERROR.with(|e| {
            e.borrow_mut().get_or_insert(Error::invalid(op, message));
        });
    }
}

/// TF's check-numerics report for a float output with NaN or ±Inf.
fn numerics_report(op: &'static str, output: &Tensor) -> Option<String> {
    fn count<T: Copy + Into<f64>>(a: &ndarray::ArcArray<T, ndarray::IxDyn>) -> [usize; 3] {
        let mut n = [0; 3]; // -Inf, +Inf, NaN
        for v in a.iter().map(|&v| v.into()) {
            if v.is_nan() {
                n[2] += 1;
            } else if v == f64::NEG_INFINITY {
                n[0] += 1;
            } else if v == f64::INFINITY {
                n[1] += 1;
            }
        }
        n
    }
    let n = match output.data() {
        crate::tensor::Data::F32(a) => count(a),
        crate::tensor::Data::F64(a) => count(a),
        _ => return None,
    };
    if n == [0; 3] {
        return None;
    }
    let names = ["-Inf", "+Inf", "NaN"];
    let mut lines = format!(
        "\n\n!!! Detected Infinity or NaN in output 0 of eagerly-executing op \"{op}\" (# of outputs: 1) !!!\n  dtype: <dtype: '{}'>\n  shape: {}\n",
        output.dtype().name(),
        match output.shape() {
            [d] => format!("({d},)"),
            dims => format!(
                "({})",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    );
    for (name, k) in names.iter().zip(n).filter(|&(_, k)| k > 0) {
        let sign = if *name == "NaN" { "+" } else { "" };
        lines += &format!("  # of {sign}{name} elements: {k}\n");
    }
    let found: Vec<&str> = names
        .iter()
        .zip(n)
        .filter(|&(_, k)| k > 0)
        .map(|(s, _)| *s)
        .collect();
    Some(format!(
        "{lines}\n : Tensor had {} values",
        found.join(" and ")
    ))
}

/// Record a rule written in another language (a Python custom gradient):
/// `rule(captures, grads of every output) ↦ gradient of every input`.
/// `captures` holds what the rule needs (the foreign callable); the node
/// owns it, and `Vjp::captures` shows it to the embedding program.
pub fn record_foreign<F, A>(
    op: &'static str,
    inputs: &[TensorMeta],
    outputs: &[&Tensor],
    captures: impl FnOnce() -> A,
    rule: F,
) where
    A: Any + Send + Sync,
    F: Fn(&A, &[Tensor]) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    if !is_recording() {
        return;
    }
    record_node(op, inputs, outputs, || Foreign {
        rule,
        captures: captures(),
    });
}

/// Distinct buffers, by start address (the widest span of each).
fn distinct(buffers: impl Iterator<Item = Buffer>) -> Vec<Buffer> {
    let mut out: Vec<Buffer> = Vec::new();
    for b in buffers {
        match out.iter_mut().find(|o| o.start == b.start) {
            Some(o) => o.bytes = o.bytes.max(b.bytes),
            None => out.push(b),
        }
    }
    out
}

/// An op input as recording sees it: a tensor, or a variable handle known by
/// its metadata. Metadata (which copies the shape) is built only for a node
/// that is actually recorded.
pub trait Input {
    fn id(&self) -> TensorId;
    fn is_float(&self) -> bool;
    fn meta(&self) -> TensorMeta;
}

impl Input for &Tensor {
    fn id(&self) -> TensorId {
        Tensor::id(self)
    }
    fn is_float(&self) -> bool {
        self.dtype().is_differentiable()
    }
    fn meta(&self) -> TensorMeta {
        Tensor::meta(self)
    }
}

impl Input for Tensor {
    fn id(&self) -> TensorId {
        Tensor::id(self)
    }
    fn is_float(&self) -> bool {
        self.dtype().is_differentiable()
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
        self.dtype.is_differentiable()
    }
    fn meta(&self) -> TensorMeta {
        self.clone()
    }
}

/// The one recording path: build the node (once, and only if some recorder
/// needs it) and hand it to every interested recorder.
fn record_node<I: Input, V: Vjp + 'static>(
    op: &'static str,
    inputs: &[I],
    outputs: &[&Tensor],
    make_rule: impl FnOnce() -> V,
) {
    let mut make_rule = Some(make_rule);
    let mut node: Option<Arc<Node>> = None;
    let mut build = || -> Arc<Node> {
        node.get_or_insert_with(|| {
            let node: Arc<Node> = Arc::new(Node {
                op,
                inputs: inputs.iter().map(Input::meta).collect(),
                outputs: outputs.iter().map(|t| t.meta()).collect(),
                rule: make_rule.take().expect("built once")(),
            });
            node
        })
        .clone()
    };
    // asked at most once, and only if some tape records the node
    let mut site: Option<Option<CallSite>> = None;
    let mut call_site = || {
        site.get_or_insert_with(|| CALL_SITE_HOOK.get().and_then(|hook| hook(false)))
            .clone()
    };
    // (position on the stack, accumulator, tangent of each input)
    let mut forward: Vec<(usize, Accumulator, Vec<Option<Tensor>>)> = Vec::new();
    let token = thread_token();
    let mut stale = false;
    ACTIVE.with(|stack| {
        for (pos, rec) in stack.borrow().iter().enumerate() {
            match rec {
                Recorder::Tape(tape) => {
                    let mut st = tape.state();
                    if st.recording_on != Some(token) {
                        stale = true;
                        continue;
                    }
                    // Recorded if it uses a watched float input. Its call site
                    // is read only where `explain` may report the path as
                    // broken: at a float input that is neither watched nor
                    // made since recording started, or that is an escape's
                    // output (`stop_gradient`). Elsewhere it is never shown,
                    // and asking the embedding program costs a frame object
                    // per op (a twentieth of a small op).
                    let (mut watched, mut may_break) = (false, false);
                    for m in inputs.iter().filter(|m| m.is_float()) {
                        let id = m.id();
                        if st.watched.contains(&id) {
                            watched = true;
                        } else if id < st.span_start
                            || st.escapes.iter().any(|e| e.output == Some(id))
                        {
                            may_break = true;
                        }
                    }
                    if !watched {
                        continue;
                    }
                    st.nodes.push(build());
                    let site = if may_break { call_site() } else { None };
                    st.sites.push(site);
                    for o in outputs {
                        if o.dtype().is_differentiable() {
                            st.watched.insert(o.id());
                        }
                    }
                }
                Recorder::Forward(acc) => {
                    if acc.recording_on() != Some(token) {
                        stale = true;
                        continue;
                    }
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
    if stale {
        purge_stale();
        // positions on the stack shifted: find each accumulator again
        forward.retain_mut(|(pos, acc, _)| {
            let at = ACTIVE.with(|s| {
                s.borrow()
                    .iter()
                    .position(|r| matches!(r, Recorder::Forward(a) if a.same(acc)))
            });
            at.map(|p| *pos = p).is_some()
        });
    }
    for (pos, acc, tangents) in forward {
        let node = build();
        // Strict nesting: the JVP computation is seen by the recorders that
        // started before this accumulator, never by it or later ones.
        let result = with_prefix(pos, || acc.jvp(&node, &tangents));
        acc.store(outputs, result);
    }
}

/// Note, for every tape recording on this thread that watches `id`, that
/// the tensor left it (`how`: "numpy()", "stop_gradient", …), becoming
/// `output` if it stayed a tensor. Costs one thread-local read when nothing
/// records; never changes what is differentiated.
pub fn record_escape(how: &'static str, id: TensorId, output: Option<TensorId>) {
    if !is_recording() {
        return;
    }
    let mut site: Option<Option<CallSite>> = None;
    ACTIVE.with(|stack| {
        for rec in stack.borrow().iter() {
            if let Recorder::Tape(tape) = rec {
                let mut st = tape.state();
                if st.watched.contains(&id) {
                    let site = site
                        .get_or_insert_with(|| CALL_SITE_HOOK.get().and_then(|hook| hook(true)))
                        .clone();
                    st.escapes.push(Escape {
                        how,
                        id,
                        output,
                        site,
                    });
                }
            }
        }
    });
}

/// Record a read of a variable: `handle` stands for the variable, `value` is
/// the freshly-identified tensor the read returns. Tapes that watch accessed
/// variables start watching a trainable one here.
pub fn record_variable_read(handle: &TensorMeta, trainable: bool, value: &Tensor) {
    if !is_recording() {
        return;
    }
    let token = thread_token();
    ACTIVE.with(|stack| {
        for rec in stack.borrow().iter() {
            if let Recorder::Tape(tape) = rec {
                let mut st = tape.state();
                if st.recording_on != Some(token) {
                    continue; // stopped from another thread; purged by `record_rule`
                }
                if trainable && st.watch_accessed_variables && st.watched.insert(handle.id) {
                    st.variables.push(handle.id);
                }
            }
        }
    });
    record_rule(
        "ReadVariableOp",
        std::slice::from_ref(handle),
        value,
        [],
        || (),
        [Some(|g, [], _| Ok(g.clone()))],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_report_counts_as_tf_and_skips_finite_and_integer_outputs() {
        let bad = Tensor::from_vec(&[3], vec![f32::NEG_INFINITY, 0.0, f32::NAN]).unwrap();
        let report = numerics_report("Log", &bad).unwrap();
        assert!(report.contains("eagerly-executing op \"Log\" (# of outputs: 1)"));
        assert!(report.contains("shape: (3,)"));
        assert!(report.contains("# of -Inf elements: 1\n  # of +NaN elements: 1\n"));
        assert!(report.ends_with("Tensor had -Inf and NaN values"));
        let fine = Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap();
        assert_eq!(numerics_report("Add", &fine), None);
        let ints = Tensor::from_vec(&[1], vec![3i32]).unwrap();
        assert_eq!(numerics_report("Add", &ints), None);
    }
}
