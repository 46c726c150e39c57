//! The thread-local capture: what a trace records while the function runs.
//! Every hook is one call that costs one thread-local read when nothing
//! traces.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use super::optimize::{self, Known};
use super::plan::{Expect, Guard, InputSpec, Plan, Slot, Step, Target, VarRef};
use super::{Arg, Kernel, TapeStep, TraceError, Update, VarKernel};
use crate::error::Result;
use crate::tape::{self, Tape};
use crate::tensor::{IdMap, Tensor, TensorId, fresh_id};
use crate::variable::Variable;

struct Capture {
    /// Tensors with a smaller id were born before the trace.
    start: TensorId,
    /// The slot holding each tensor id the steps know.
    slots: IdMap<Slot>,
    n_slots: usize,
    inputs: Vec<InputSpec>,
    input_slots: Vec<Option<Slot>>,
    same_as: Vec<(usize, usize)>,
    /// Variable handle → input position.
    var_inputs: IdMap<usize>,
    constants: Vec<(Slot, Tensor)>,
    /// Tensors made from host values, given a slot when a step reads one.
    pending: IdMap<Tensor>,
    steps: Vec<Step>,
    /// A tape (by `Tape::key`) → its index in a replay's tapes.
    tapes: HashMap<usize, usize>,
    n_tapes: usize,
    /// What cannot be replayed, in the order met.
    problems: Vec<String>,
    created_variables: usize,
    /// The core op each known step is (by step index).
    known: HashMap<usize, Known>,
    /// Does a step call the host (`record_host_op`)?
    calls_host: bool,
}

thread_local! {
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
    /// A capture is active and not paused: the whole cost of a hook when false.
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// Is a trace capturing on this thread?
#[inline]
pub fn is_tracing() -> bool {
    TRACING.with(Cell::get)
}

fn with_capture<T>(f: impl FnOnce(&mut Capture) -> T) -> Option<T> {
    if !is_tracing() {
        return None;
    }
    CAPTURE.with(|c| c.borrow_mut().as_mut().map(f))
}

impl Capture {
    fn new_slot(&mut self) -> Slot {
        self.n_slots += 1;
        self.n_slots - 1
    }

    /// The slot a step reads `t` from: known, a constant, or born before
    /// the trace (captured by value); otherwise a problem (`what` names the
    /// reader).
    fn slot_in(&mut self, t: &Tensor, what: &dyn Fn() -> String) -> Slot {
        if let Some(&s) = self.slots.get(&t.id()) {
            return s;
        }
        let constant = self.pending.remove(&t.id());
        if constant.is_some() || t.id() < self.start {
            let s = self.new_slot();
            self.constants.push((s, t.clone()));
            self.slots.insert(t.id(), s);
            return s;
        }
        self.problems.push(format!(
            "{} is a {}{:?} tensor made during the trace by an operation that was not captured \
             (a path tapegrad cannot replay)",
            what(),
            t.dtype().name(),
            t.shape()
        ));
        usize::MAX
    }

    fn slots_in(&mut self, name: &str, ts: &[Tensor]) -> Vec<Slot> {
        ts.iter()
            .enumerate()
            .map(|(i, t)| self.slot_in(t, &|| format!("input {i} of {name}")))
            .collect()
    }

    /// A new slot for a step's output (a new one even for a known id: the
    /// steps stay in single-assignment form).
    fn define(&mut self, t: &Tensor) -> (Slot, Expect) {
        let s = self.new_slot();
        self.slots.insert(t.id(), s);
        (s, Expect::of(t))
    }

    fn var_ref(&self, v: &Arc<Variable>) -> VarRef {
        match self.var_inputs.get(&v.handle()) {
            Some(&i) => VarRef::Input(i),
            None => VarRef::Captured(v.clone()),
        }
    }

    fn target(&mut self, r: &Arg, what: &dyn Fn() -> String) -> Target {
        match r {
            Arg::Tensor(t) => Target::Slot(self.slot_in(t, what)),
            Arg::Variable(v) => Target::Var(self.var_ref(v)),
        }
    }

    fn tape(&mut self, t: &Tape) -> Option<usize> {
        let i = self.tapes.get(&t.key()).copied();
        if i.is_none() {
            self.problems.push(
                "a GradientTape made outside the traced function was used inside it (make the \
                 tape inside the function, or run it eagerly)"
                    .into(),
            );
        }
        i
    }

    /// Record a guard on `t` unless its value is fixed (a constant, or a
    /// tensor from before the trace).
    fn guard(&mut self, t: &Tensor, guard: impl FnOnce() -> Guard) {
        match self.slots.get(&t.id()) {
            Some(&slot) => {
                let is_constant = self.constants.iter().any(|(s, _)| *s == slot);
                if !is_constant {
                    self.steps.push(Step::Guard {
                        slot,
                        guard: guard(),
                    });
                }
            }
            None if self.pending.contains_key(&t.id()) || t.id() < self.start => {}
            None => {
                let _ = self.slot_in(t, &|| "a tensor whose value Python read".into());
            }
        }
    }
}

/// Start capturing on this thread, with `args` as the plan's inputs.
pub fn begin(args: &[Arg]) -> std::result::Result<(), TraceError> {
    if CAPTURE.with(|c| c.borrow().is_some()) {
        return Err(TraceError::State(
            "a trace is already active on this thread (run the inner function inline)".into(),
        ));
    }
    let mut c = Capture {
        start: 0,
        slots: IdMap::default(),
        n_slots: 0,
        inputs: Vec::new(),
        input_slots: Vec::new(),
        same_as: Vec::new(),
        var_inputs: IdMap::default(),
        constants: Vec::new(),
        pending: IdMap::default(),
        steps: Vec::new(),
        tapes: HashMap::new(),
        n_tapes: 0,
        problems: Vec::new(),
        created_variables: 0,
        known: HashMap::new(),
        calls_host: false,
    };
    let mut seen: IdMap<usize> = IdMap::default();
    for (i, arg) in args.iter().enumerate() {
        let id = match arg {
            Arg::Tensor(t) => t.id(),
            Arg::Variable(v) => v.handle(),
        };
        if let Some(&first) = seen.get(&id) {
            c.same_as.push((first, i));
        }
        seen.entry(id).or_insert(i);
        match arg {
            Arg::Tensor(t) => {
                c.inputs.push(InputSpec::Tensor(Expect::of(t)));
                let s = match c.slots.get(&t.id()) {
                    Some(&s) => s,
                    None => {
                        let s = c.new_slot();
                        c.slots.insert(t.id(), s);
                        s
                    }
                };
                c.input_slots.push(Some(s));
            }
            Arg::Variable(v) => {
                c.inputs.push(InputSpec::Variable(Expect::of(&v.peek())));
                c.input_slots.push(None);
                c.var_inputs.entry(v.handle()).or_insert(i);
            }
        }
    }
    c.start = fresh_id();
    CAPTURE.with(|cell| *cell.borrow_mut() = Some(c));
    optimize::clear_notes();
    optimize::take_parallel_product();
    TRACING.with(|t| t.set(true));
    Ok(())
}

/// Stop capturing and forget the record (the function raised).
pub fn abort() {
    TRACING.with(|t| t.set(false));
    CAPTURE.with(|c| c.borrow_mut().take());
}

/// Stop capturing: the plan that returns `outputs`, or what cannot be
/// replayed.
pub fn finish(outputs: &[Tensor]) -> std::result::Result<Plan, TraceError> {
    TRACING.with(|t| t.set(false));
    let parallel_product = optimize::take_parallel_product();
    let Some(mut c) = CAPTURE.with(|c| c.borrow_mut().take()) else {
        return Err(TraceError::State(
            "no trace is active on this thread".into(),
        ));
    };
    let outs: Vec<Slot> = outputs
        .iter()
        .enumerate()
        .map(|(i, t)| c.slot_in(t, &|| format!("output {i} of the function")))
        .collect();
    if !c.problems.is_empty() {
        let mut seen = Vec::new();
        for p in c.problems {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        return Err(TraceError::Unsupported(format!(
            "the function cannot be replayed: {}",
            seen.join("; ")
        )));
    }
    // a trace for `saved_model` is described step by step (one description
    // per recorded call): it keeps its steps as recorded
    if !super::describing() {
        let steps = std::mem::take(&mut c.steps);
        c.steps = optimize::rewrite(
            steps,
            &optimize::Context {
                known: &c.known,
                constants: &c.constants,
                start: c.start,
                outputs: &outs,
                n_slots: c.n_slots,
            },
        );
        // constants folded into fused programs are read by no step any more
        let mut read = vec![false; c.n_slots];
        for s in c
            .steps
            .iter()
            .flat_map(Step::reads)
            .chain(outs.iter().copied())
        {
            read[s] = true;
        }
        c.constants.retain(|(s, _)| read[*s]);
    }
    // each slot's last reader (outputs live to the end; a slot nobody reads
    // dies right after the step that wrote it)
    let mut last: Vec<Option<usize>> = vec![None; c.n_slots];
    for (i, step) in c.steps.iter().enumerate() {
        for s in step.writes() {
            last[s] = Some(i);
        }
        for s in step.reads() {
            last[s] = Some(i);
        }
    }
    let mut free_after = vec![Vec::new(); c.steps.len()];
    let keep: Vec<Slot> = outs.clone();
    for (s, l) in last.iter().enumerate() {
        if let Some(i) = *l
            && !keep.contains(&s)
        {
            free_after[i].push(s);
        }
    }
    let first_effect = c.steps.iter().position(Step::has_effects);
    let undo = first_effect.is_some_and(|e| {
        c.steps
            .iter()
            .skip(e)
            .any(|s| matches!(s, Step::Guard { .. }))
    });
    let mut plan = Plan {
        inputs: c.inputs,
        input_slots: c.input_slots,
        same_as: c.same_as,
        constants: c.constants,
        steps: c.steps,
        free_after,
        outputs: outs,
        n_slots: c.n_slots,
        n_tapes: c.n_tapes,
        undo,
        on_pool: false,
    };
    plan.on_pool = !c.calls_host && plan.pays_for_pool(parallel_product);
    Ok(plan)
}

/// Run `f` with the capture paused (a host callback's own ops belong to the
/// callback, not to the plan).
pub fn paused<T>(f: impl FnOnce() -> T) -> T {
    struct Resume(bool);
    impl Drop for Resume {
        fn drop(&mut self) {
            TRACING.with(|t| t.set(self.0));
        }
    }
    let _resume = Resume(TRACING.with(|t| t.replace(false)));
    f()
}

/// Record a step: `kernel` maps `inputs` to `outputs` (already computed,
/// by this kernel or the same core call).
pub fn record_op(name: &'static str, inputs: &[Tensor], outputs: &[Tensor], kernel: Kernel) {
    with_capture(|c| {
        if let Some(op) = optimize::take_op(inputs, outputs) {
            c.known.insert(c.steps.len(), op);
        }
        let inputs = c.slots_in(name, inputs);
        let outputs = outputs.iter().map(|t| c.define(t)).collect();
        c.steps.push(Step::Op {
            name,
            kernel,
            inputs,
            outputs,
        });
    });
}

/// `record_op` for a kernel that calls the host (a Python callback): its
/// plan always replays on the calling thread.
pub fn record_host_op(name: &'static str, inputs: &[Tensor], outputs: &[Tensor], kernel: Kernel) {
    record_op(name, inputs, outputs, kernel);
    with_capture(|c| c.calls_host = true);
}

/// Record a step that updates `vars` (already run once by the caller).
pub fn record_var_op(
    name: &'static str,
    vars: &[Arc<Variable>],
    inputs: &[Tensor],
    outputs: &[Tensor],
    kernel: VarKernel,
) {
    with_capture(|c| {
        let vars = vars.iter().map(|v| c.var_ref(v)).collect();
        let inputs = c.slots_in(name, inputs);
        let outputs = outputs.iter().map(|t| c.define(t)).collect();
        c.steps.push(Step::VarOp {
            name,
            kernel,
            vars,
            inputs,
            outputs,
        });
    });
}

/// A tensor made from a host value (a Python number, list or array) during
/// the trace: a constant of the plan if a step reads it.
pub fn constant(t: &Tensor) {
    with_capture(|c| {
        if t.id() >= c.start && !c.slots.contains_key(&t.id()) {
            c.pending.insert(t.id(), t.clone());
        }
    });
}

/// Read `var` (recorded by active tapes as in eager mode); while tracing,
/// a step that reads its value at every replay.
pub fn read_variable(var: &Arc<Variable>) -> Tensor {
    let value = var.read();
    if !is_tracing() {
        return value;
    }
    // (untaped reads share the variable's id; a traced read gets its own)
    let value = if tape::is_recording() {
        value
    } else {
        value.with_fresh_id()
    };
    with_capture(|c| {
        let var = c.var_ref(var);
        let output = c.define(&value);
        c.steps.push(Step::Read { var, output });
    });
    value
}

/// Update `var` with `value`; while tracing, a step that updates it at
/// every replay (in program order with the reads).
pub fn update_variable(var: &Arc<Variable>, how: Update, value: &Tensor) -> Result<()> {
    how.apply(var, value)?;
    with_capture(|c| {
        let input = c.slot_in(value, &|| "the value of a variable update".into());
        let var = c.var_ref(var);
        c.steps.push(Step::Update { var, how, input });
    });
    Ok(())
}

/// Python read the whole value of `t` (`float(t)`, `t.numpy()`): a replay
/// that computes another value stops there.
pub fn guard_value(t: &Tensor) {
    with_capture(|c| c.guard(t, || Guard::Value(t.clone())));
}

/// Python read the truth of `t` (`if t:`): a replay where it differs stops.
pub fn guard_truth(t: &Tensor, truth: bool) {
    with_capture(|c| c.guard(t, || Guard::Truth(truth)));
}

/// Something that cannot be replayed happened during the trace: `finish`
/// will fail, naming it.
pub fn unsupported(what: &str) {
    with_capture(|c| c.problems.push(what.to_string()));
}

/// A variable was created during the trace.
pub fn created_variable() {
    with_capture(|c| c.created_variables += 1);
}

/// How many variables were created so far by the active trace.
pub fn created_variables() -> Option<usize> {
    CAPTURE.with(|c| c.borrow().as_ref().map(|c| c.created_variables))
}

/// A tape was made during the trace: a replay makes a fresh one there.
pub fn tape_new(t: &Tape, persistent: bool, watch_accessed_variables: bool) {
    with_capture(|c| {
        let tape = c.n_tapes;
        c.n_tapes += 1;
        c.tapes.insert(t.key(), tape);
        c.steps.push(Step::TapeNew {
            tape,
            persistent,
            watch_accessed_variables,
        });
    });
}

/// The function pushed, popped or reset a tape.
pub fn tape_step(t: &Tape, step: TapeStep) {
    with_capture(|c| {
        if let Some(tape) = c.tape(t) {
            c.steps.push(Step::Tape { tape, step });
        }
    });
}

/// The function watched a tensor or a variable on a tape.
pub fn tape_watch(t: &Tape, what: &Arg) {
    with_capture(|c| {
        if let Some(tape) = c.tape(t) {
            let what = c.target(what, &|| "a watched tensor".into());
            c.steps.push(Step::Watch { tape, what });
        }
    });
}

/// The function differentiated on a tape; `outputs` are what it got.
#[allow(clippy::too_many_arguments)]
pub fn tape_gradient(
    t: &Tape,
    kind: crate::grad::Kind,
    targets: &[Arg],
    seeds: &[Option<Tensor>],
    sources: &[Arg],
    zero: bool,
    outputs: &[Option<Tensor>],
) {
    with_capture(|c| {
        let Some(tape) = c.tape(t) else { return };
        let targets = targets
            .iter()
            .map(|r| c.target(r, &|| "a gradient target".into()))
            .collect();
        let sources = sources
            .iter()
            .map(|r| c.target(r, &|| "a gradient source".into()))
            .collect();
        let seeds = seeds
            .iter()
            .map(|s| {
                s.as_ref()
                    .map(|s| c.slot_in(s, &|| "an output gradient".into()))
            })
            .collect();
        let outputs = outputs
            .iter()
            .map(|o| o.as_ref().map(|o| c.define(o)))
            .collect();
        c.steps.push(Step::Derive {
            tape,
            kind,
            targets,
            seeds,
            sources,
            zero,
            outputs,
        });
    });
}

/// Kernel of one closure, for `record_op`.
pub fn kernel(f: impl Fn(&[Tensor]) -> Result<Vec<Tensor>> + Send + Sync + 'static) -> Kernel {
    Arc::new(f)
}

#[cfg(test)]
pub(crate) fn free_after(plan: &Plan) -> &[Vec<Slot>] {
    &plan.free_after
}

/// For `tf.saved_model`'s description of a call: the slot each of `ts`
/// would be read from (a constant from a host value or from before the
/// trace gets one now; `None`: not readable by a step) and the number of
/// steps recorded so far; `None` when no trace is active.
pub fn slots_of<'a>(
    ts: impl IntoIterator<Item = &'a Tensor>,
) -> Option<(usize, Vec<Option<Slot>>)> {
    CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        let c = c.as_mut()?;
        let slots = ts
            .into_iter()
            .map(|t| {
                let known = c.slots.contains_key(&t.id())
                    || c.pending.contains_key(&t.id())
                    || t.id() < c.start;
                known.then(|| c.slot_in(t, &String::new))
            })
            .collect();
        Some((c.steps.len(), slots))
    })
}
