//! The rewrites a finished trace gets before it becomes a plan:
//! 1. maximal runs of elementwise float steps become ONE step that runs a
//!    fused program ([`crate::fuse`]) block by block, so that the run's
//!    intermediates never reach memory and a replay pays one step (and one
//!    tape node) for the run; reads of one variable that only the run uses
//!    become one input ([`merged_reads`]), and a returned loss that a
//!    gradient call differentiates gets its gradient from the same pass
//!    ([`fuse::apply_with_gradient`]);
//! 2. a step whose values nothing needs — only gradient calls read them, as
//!    their targets, or other such steps whose VJPs do not read them —
//!    records its tape node without computing them (see
//!    [`leave_unread_unevaluated`]): `tape.gradient(Σ A·B, [A, B])` in a
//!    function that does not return the loss computes the two products of
//!    the gradient and not the forward one, as TF's graph mode does.
//!
//! What a step computes is learnt from the core itself, not from the
//! binding's name: while a trace captures, every elementwise core op, every
//! full `reduce_sum` and every float `matmul` leaves a [`Note`] (the op, its
//! inputs' and its output's tensor ids). A recorded step whose kernel made
//! exactly one note, reading exactly the step's inputs and giving exactly
//! its output, is that op; any other step (a composite, a cast inside, an
//! op that reads an internal constant) is opaque: never fused, always
//! evaluated.
//!
//! A run may absorb a step only when doing so cannot change what anything
//! else sees:
//! - every member has the run's dtype (float32/float64) and output shape
//!   (a trailing full sum reads that shape and ends the run);
//! - a member's output that anything outside the run reads (a later step, a
//!   guard, a function output, a gradient target) becomes an output of the
//!   fused step, and a step that reads one ends the run before it;
//! - a tape step (new, push/pop, watch, gradient) ends the run, so a fused
//!   step records on exactly the tapes its members recorded on;
//! - a slot that a tape watches or differentiates with respect to is never
//!   an intermediate (its producer is not fused): its gradient must reach
//!   it through its own tape node.
//!
//! The members move to the position of the run's last member; the steps
//! they pass over do not read their outputs (that would have ended the run)
//! and slots are written once, so only when the pure values are computed
//! changes. Scalar constants made from host values during the trace become
//! program constants (exact: a float32 or float64 scalar is exactly an f64).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::plan::{Expect, Slot, Step, Target, VarRef};
use crate::dtype::DType;
use crate::fuse::{self, Binary, Inst, Output, Program, Reg, Unary};
use crate::tensor::{Tensor, TensorId};

/// An op a fused program can run, as its note named it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elementwise {
    Unary(Unary),
    Binary(Binary),
    /// `reduce_sum` over every axis, to a scalar.
    Sum,
}

impl Elementwise {
    /// The elementwise op of a TF op name, if a fused program runs it
    /// bitwise as the eager op.
    fn of(tf: &str) -> Option<Elementwise> {
        use Elementwise::{Binary as B, Unary as U};
        Some(match tf {
            "Neg" => U(Unary::Neg),
            "Abs" => U(Unary::Abs),
            "Sign" => U(Unary::Sign),
            "Square" => U(Unary::Square),
            "Exp" => U(Unary::Exp),
            "Log" => U(Unary::Log),
            "Log1p" => U(Unary::Log1p),
            "Expm1" => U(Unary::Expm1),
            "Sqrt" => U(Unary::Sqrt),
            "Rsqrt" => U(Unary::Rsqrt),
            "Reciprocal" => U(Unary::Reciprocal),
            "Sin" => U(Unary::Sin),
            "Cos" => U(Unary::Cos),
            "Tanh" => U(Unary::Tanh),
            "Sigmoid" => U(Unary::Sigmoid),
            "Relu" => U(Unary::Relu),
            "Softplus" => U(Unary::Softplus),
            "Erf" => U(Unary::Erf),
            "AddV2" => B(Binary::Add),
            "Sub" => B(Binary::Sub),
            "Mul" => B(Binary::Mul),
            "RealDiv" => B(Binary::Div),
            "Maximum" => B(Binary::Maximum),
            "Minimum" => B(Binary::Minimum),
            "Sum" => Elementwise::Sum,
            _ => return None,
        })
    }
}

/// A core op a step can be identified as, from its note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    /// An op a fused program runs.
    Elementwise(Elementwise),
    /// `matmul` of two float32/float64 operands, with its transpose flags.
    MatMul { transpose: [bool; 2] },
}

impl Known {
    fn elementwise(self) -> Option<Elementwise> {
        match self {
            Known::Elementwise(e) => Some(e),
            Known::MatMul { .. } => None,
        }
    }
}

/// One core op run while a trace captured.
pub(crate) struct Note {
    op: Known,
    inputs: Vec<TensorId>,
    output: TensorId,
}

thread_local! {
    static NOTES: RefCell<Vec<Note>> = const { RefCell::new(Vec::new()) };
    /// Did the trace run a product that gemm splits over the pool?
    static PARALLEL_PRODUCT: Cell<bool> = const { Cell::new(false) };
}

/// A core op `tf` made `output` from `inputs`: noted while a trace captures
/// (one thread-local read otherwise). Only float32/float64 ops a fused
/// program runs are noted.
#[inline]
pub fn note_op(tf: &'static str, inputs: &[&Tensor], output: &Tensor) {
    if !super::is_tracing() {
        return;
    }
    let Some(op) = Elementwise::of(tf) else {
        return;
    };
    if !matches!(output.dtype(), DType::F32 | DType::F64)
        || inputs.iter().any(|x| x.dtype() != output.dtype())
    {
        return;
    }
    push_note(Known::Elementwise(op), inputs, output);
}

/// `matmul` made `output` from `a` and `b` (transposed as flagged): noted
/// while a trace captures, for float32/float64 operands.
#[inline]
pub fn note_matmul(a: &Tensor, b: &Tensor, transpose: [bool; 2], output: &Tensor) {
    if !super::is_tracing()
        || !matches!(output.dtype(), DType::F32 | DType::F64)
        || a.dtype() != output.dtype()
        || b.dtype() != output.dtype()
    {
        return;
    }
    // the product's multiply-adds: its output's elements times the depth
    let depth = match (a.shape(), transpose[0]) {
        ([.., k], false) | ([.., k, _], true) => *k,
        _ => 0,
    };
    if output.numel().saturating_mul(depth) >= crate::kernels::matmul::PAR_MIN_FLOPS {
        PARALLEL_PRODUCT.with(|p| p.set(true));
    }
    push_note(Known::MatMul { transpose }, &[a, b], output);
}

/// Did a float product run while this thread's trace captured (the
/// forward's or a gradient's, in any step) with enough multiply-adds for
/// gemm to split it over the pool? Forgets it (a trace asks at its start
/// and at its end).
pub(crate) fn take_parallel_product() -> bool {
    PARALLEL_PRODUCT.with(|p| p.replace(false))
}

fn push_note(op: Known, inputs: &[&Tensor], output: &Tensor) {
    NOTES.with(|n| {
        n.borrow_mut().push(Note {
            op,
            inputs: inputs.iter().map(|x| x.id()).collect(),
            output: output.id(),
        })
    });
}

/// Forget the notes so far (a binding calls this before running the kernel
/// it records, so that the notes a step sees are its kernel's own).
pub fn clear_notes() {
    NOTES.with(|n| n.borrow_mut().clear());
}

/// The op a step with these inputs and outputs is, from the notes its
/// kernel made (taken); `None` when it is not exactly one known op.
pub(crate) fn take_op(inputs: &[Tensor], outputs: &[Tensor]) -> Option<Known> {
    let notes = NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()));
    let [note] = notes.as_slice() else {
        return None;
    };
    let [output] = outputs else {
        return None;
    };
    let same_inputs = note.inputs.len() == inputs.len()
        && note.inputs.iter().zip(inputs).all(|(&id, x)| id == x.id());
    (same_inputs && note.output == output.id()).then_some(note.op)
}

/// A run being gathered.
struct Run {
    /// Step indices, in program order.
    members: Vec<usize>,
    dtype: DType,
    shape: Vec<usize>,
    /// The slots the members define.
    defines: Vec<Slot>,
    /// A full sum ended it.
    closed: bool,
}

/// What the rewrite needs of the trace besides its steps.
pub(crate) struct Context<'a> {
    /// The op each known step is (by step index).
    pub known: &'a HashMap<usize, Known>,
    /// Constant slots and their tensors.
    pub constants: &'a [(Slot, Tensor)],
    /// Tensors with a smaller id were born before the trace.
    pub start: TensorId,
    pub outputs: &'a [Slot],
    pub n_slots: usize,
}

/// The steps a finished trace replays: every run of fusible steps made one
/// step ([`fuse_runs`]), then every step whose values nothing reads, except
/// gradient calls as their targets, made to record its tape node without
/// computing them ([`leave_unread_unevaluated`]).
pub(crate) fn rewrite(steps: Vec<Step>, cx: &Context<'_>) -> Vec<Step> {
    let (steps, unevaluated) = fuse_runs(steps, cx);
    leave_unread_unevaluated(steps, unevaluated, cx)
}

/// The steps with every run of two or more fusible steps made one step, and
/// for each resulting step how it could run unevaluated, if it can.
fn fuse_runs(steps: Vec<Step>, cx: &Context<'_>) -> (Vec<Step>, Vec<Option<Unevaluated>>) {
    let runs = find_runs(&steps, cx);
    // readers outside a run decide its outputs
    let mut read_by: Vec<Vec<usize>> = vec![Vec::new(); cx.n_slots];
    for (i, step) in steps.iter().enumerate() {
        for s in step.reads() {
            if let Some(r) = read_by.get_mut(s) {
                r.push(i);
            }
        }
    }
    let mut fused_at: HashMap<usize, (Step, Unevaluated)> = HashMap::new();
    let mut dropped = vec![false; steps.len()];
    for run in &runs {
        if let Some((step, unevaluated, merged_reads)) = fused_step(&steps, run, cx, &read_by) {
            let (&last, rest) = run.members.split_last().unwrap_or((&0, &[]));
            for &m in rest.iter().chain(&merged_reads) {
                dropped[m] = true;
            }
            fused_at.insert(last, (step, unevaluated));
        }
    }
    steps
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped[*i])
        .map(|(i, step)| match fused_at.remove(&i) {
            Some((fused, unevaluated)) => (fused, Some(unevaluated)),
            None => {
                let unevaluated = match cx.known.get(&i) {
                    Some(Known::Elementwise(Elementwise::Sum)) => Some(Unevaluated::Sum),
                    Some(&Known::MatMul { transpose }) => Some(Unevaluated::MatMul(transpose)),
                    _ => None,
                };
                (step, unevaluated)
            }
        })
        .unzip()
}

/// How a step records its tape node without computing its outputs. None of
/// these nodes' VJPs reads the step's outputs, so zeros of the traced
/// shapes stand in for them.
enum Unevaluated {
    /// A fused run (its backward recomputes what it needs from its inputs).
    Fused(Arc<Program>, Vec<Vec<usize>>),
    /// `reduce_sum` over every axis: its VJP reads only its input's shape.
    Sum,
    /// `matmul` with its transpose flags: its VJP reads both operands.
    MatMul([bool; 2]),
}

impl Unevaluated {
    /// Does the node's VJP read the values of the step's inputs?
    fn reads_inputs(&self) -> bool {
        !matches!(self, Unevaluated::Sum)
    }

    /// `step` (an op step) running unevaluated.
    fn step(self, step: Step) -> Step {
        let Step::Op {
            name,
            kernel,
            inputs,
            outputs,
        } = step
        else {
            return step;
        };
        let arity = |name: &'static str| {
            move || crate::error::Error::invalid(name, "replay: wrong number of operands")
        };
        let (name, kernel) = match self {
            Unevaluated::Fused(program, shapes) => (
                FUSED_FOR_GRADIENT,
                super::kernel(move |xs: &[Tensor]| fuse::apply_unevaluated(&program, xs, &shapes)),
            ),
            Unevaluated::Sum => (
                SUM_FOR_GRADIENT,
                super::kernel(move |xs: &[Tensor]| {
                    let [x] = xs else {
                        return Err(arity(SUM_FOR_GRADIENT)());
                    };
                    Ok(vec![crate::ops::reduce_sum_unevaluated(x)?])
                }),
            ),
            Unevaluated::MatMul([ta, tb]) => {
                let Some((_, expect)) = outputs.first().cloned() else {
                    return Step::Op {
                        name,
                        kernel,
                        inputs,
                        outputs,
                    };
                };
                // the product's stand-in: made once, a fresh id per replay
                // (its values are never read, so one buffer serves them all)
                let stand_in: OnceLock<Tensor> = OnceLock::new();
                (
                    MATMUL_FOR_GRADIENT,
                    super::kernel(move |xs: &[Tensor]| {
                        let [a, b] = xs else {
                            return Err(arity(MATMUL_FOR_GRADIENT)());
                        };
                        let out = match stand_in.get() {
                            Some(t) => t.with_fresh_id(),
                            None => {
                                let t = crate::ops::zeros(expect.dtype, &expect.shape)?;
                                stand_in.get_or_init(|| t).with_fresh_id()
                            }
                        };
                        crate::ops::matmul_unevaluated(a, b, ta, tb, &out)?;
                        Ok(vec![out])
                    }),
                )
            }
        };
        Step::Op {
            name,
            kernel,
            inputs,
            outputs,
        }
    }
}

/// `steps` with every step that can run [`Unevaluated`] and whose outputs
/// no one needs made to. A value is needed when the function returns it,
/// or a step reads it that is not an unevaluated one (a guard, an update, a
/// watch, an evaluated op, a gradient call other than as its target), or an
/// unevaluated step whose VJP reads its inputs ([`Unevaluated::reads_inputs`])
/// reads it. Slots are written once and read after, so one backward sweep
/// sees every reader of a slot before its writer.
fn leave_unread_unevaluated(
    steps: Vec<Step>,
    unevaluated: Vec<Option<Unevaluated>>,
    cx: &Context<'_>,
) -> Vec<Step> {
    let mut needed = vec![false; cx.n_slots];
    for &s in cx.outputs {
        needed[s] = true;
    }
    let mut skip = vec![false; steps.len()];
    for (i, step) in steps.iter().enumerate().rev() {
        let unread = step.writes().iter().all(|&s| !needed[s]);
        match &unevaluated[i] {
            Some(how) if unread => {
                skip[i] = true;
                if how.reads_inputs() {
                    step.reads().into_iter().for_each(|s| needed[s] = true);
                }
            }
            _ => {
                for s in step.reads() {
                    if !only_as_target(step, s) {
                        needed[s] = true;
                    }
                }
            }
        }
    }
    steps
        .into_iter()
        .zip(unevaluated)
        .zip(skip)
        .map(|((step, how), skip)| match how {
            Some(how) if skip => how.step(step),
            _ => step,
        })
        .collect()
}

/// The output slot, dtype and shape an op step defines.
fn op_output(step: &Step) -> Option<(Slot, &Expect, &[Slot])> {
    match step {
        Step::Op {
            inputs, outputs, ..
        } => match outputs.as_slice() {
            [(s, e)] => Some((*s, e, inputs.as_slice())),
            _ => None,
        },
        _ => None,
    }
}

fn find_runs(steps: &[Step], cx: &Context<'_>) -> Vec<Run> {
    // slots whose gradient a tape asks for directly: never intermediates
    let mut pinned = vec![false; cx.n_slots];
    let mut pin = |t: &Target| {
        if let Target::Slot(s) = t
            && let Some(p) = pinned.get_mut(*s)
        {
            *p = true;
        }
    };
    for step in steps {
        match step {
            Step::Watch { what, .. } => pin(what),
            Step::Derive { sources, .. } => sources.iter().for_each(&mut pin),
            _ => {}
        }
    }
    let mut runs = Vec::new();
    let mut current: Option<Run> = None;
    let close = |current: &mut Option<Run>, runs: &mut Vec<Run>| {
        if let Some(run) = current.take()
            && pays_off(&run)
        {
            runs.push(run);
        }
    };
    for (i, step) in steps.iter().enumerate() {
        let op = cx.known.get(&i).and_then(|k| k.elementwise());
        let fits = op
            .zip(op_output(step))
            .and_then(|(op, (out, expect, inputs))| {
                if pinned[out] {
                    return None;
                }
                // a sum's run is shaped like its operand
                let shape = match op {
                    Elementwise::Sum => {
                        let &[x] = inputs else { return None };
                        shape_of(steps, cx, x)?
                    }
                    _ => expect.shape.clone(),
                };
                Some((out, expect.dtype, shape, op == Elementwise::Sum))
            });
        match fits {
            Some((out, dtype, shape, is_sum)) => {
                let joins = current
                    .as_ref()
                    .is_some_and(|r| !r.closed && r.dtype == dtype && r.shape == shape);
                if !joins {
                    close(&mut current, &mut runs);
                    current = Some(Run {
                        members: Vec::new(),
                        dtype,
                        shape,
                        defines: Vec::new(),
                        closed: false,
                    });
                }
                if let Some(run) = current.as_mut() {
                    run.members.push(i);
                    run.defines.push(out);
                    run.closed = is_sum;
                }
            }
            None => {
                let tape_step = matches!(
                    step,
                    Step::TapeNew { .. }
                        | Step::Tape { .. }
                        | Step::Watch { .. }
                        | Step::Derive { .. }
                );
                let reads_run = current
                    .as_ref()
                    .is_some_and(|r| step.reads().iter().any(|s| r.defines.contains(s)));
                if tape_step || reads_run {
                    close(&mut current, &mut runs);
                }
            }
        }
    }
    close(&mut current, &mut runs);
    runs
}

/// Is fusing `run` cheaper than replaying its steps one by one? A fused
/// evaluation has a fixed cost (its layout plan, scratch registers, one tape
/// node whose backward is another evaluation). On tensors of a block or
/// more, fusion wins from two ops on: no intermediate reaches memory. On
/// smaller ones it needs a few ops to repay that cost. Measured (callgrind,
/// instructions per replayed step, scalars): the benchmark's `y = x·x;
/// z = y·y` with two gradients costs 97k fused and 78k unfused, while
/// `x·x·x·sin(x)` under nested tapes costs 78k fused and 202k unfused.
fn pays_off(run: &Run) -> bool {
    const MIN_SMALL_RUN: usize = 3;
    let elements: usize = run.shape.iter().product();
    let min_ops = if elements >= crate::fuse::BLOCK {
        2
    } else {
        MIN_SMALL_RUN
    };
    run.members.len() >= min_ops
}

/// The shape a slot has (from its defining step or its constant).
fn shape_of(steps: &[Step], cx: &Context<'_>, slot: Slot) -> Option<Vec<usize>> {
    if let Some((_, t)) = cx.constants.iter().find(|(s, _)| *s == slot) {
        return Some(t.shape().to_vec());
    }
    steps.iter().find_map(|step| match step {
        Step::Op { outputs, .. } | Step::VarOp { outputs, .. } => outputs
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, e)| e.shape.clone()),
        Step::Read { output, .. } => (output.0 == slot).then(|| output.1.shape.clone()),
        _ => None,
    })
}

/// The name of a fused step.
pub(crate) const FUSED: &str = "fused_elementwise";
/// The name of a fused step whose values only gradient calls read, as
/// their targets: it records its tape node without evaluating.
pub(crate) const FUSED_FOR_GRADIENT: &str = "fused_elementwise_for_gradient";
/// A full `reduce_sum` that records its tape node without evaluating.
pub(crate) const SUM_FOR_GRADIENT: &str = "reduce_sum_for_gradient";
/// A `matmul` that records its tape node without evaluating.
pub(crate) const MATMUL_FOR_GRADIENT: &str = "matmul_for_gradient";

/// Does `step` read `slot` only as a gradient target (not as a seed, a
/// source, or an operand)?
fn only_as_target(step: &Step, slot: Slot) -> bool {
    let is_slot = |t: &Target| matches!(t, Target::Slot(s) if *s == slot);
    match step {
        Step::Derive {
            targets,
            seeds,
            sources,
            ..
        } => {
            targets.iter().any(is_slot)
                && !sources.iter().any(is_slot)
                && !seeds.contains(&Some(slot))
        }
        _ => false,
    }
}

/// The groups of variable reads that a fused run's step can read as one
/// input: each group is every read (step index, slot) of one variable in
/// the trace whose value something reads, in order, when there are
/// several, only the run's members read their values, and only pure steps
/// (known core ops, other reads) lie between the first and the last, so
/// they read one value under the same tapes. (A read nothing reads gives
/// no gradient: its node is on no path from a target.)
///
/// Exact: eager records one read node per read, and the gradient sums the
/// reads' gradients into the variable's in reverse read order, each left
/// fold `prev + g`. The fused program gives each read its own `Input`
/// register, in read order, so its backward sums the registers' gradients
/// into the one input's in the same order, with the same additions.
fn merged_reads(
    steps: &[Step],
    run: &Run,
    cx: &Context<'_>,
    read_by: &[Vec<usize>],
) -> Vec<Vec<(usize, Slot)>> {
    let same_var = |a: &VarRef, b: &VarRef| match (a, b) {
        (VarRef::Input(i), VarRef::Input(j)) => i == j,
        (VarRef::Captured(v), VarRef::Captured(w)) => Arc::ptr_eq(v, w),
        _ => false,
    };
    let mut groups: Vec<(&VarRef, Vec<(usize, Slot)>)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if let Step::Read { var, output } = step
            && (cx.outputs.contains(&output.0) || !read_by[output.0].is_empty())
        {
            match groups.iter_mut().find(|(v, _)| same_var(v, var)) {
                Some((_, g)) => g.push((i, output.0)),
                None => groups.push((var, vec![(i, output.0)])),
            }
        }
    }
    let pure = |i: usize| {
        matches!(steps[i], Step::Read { .. })
            || (cx.known.contains_key(&i) && matches!(steps[i], Step::Op { .. }))
    };
    groups
        .into_iter()
        .map(|(_, g)| g)
        .filter(|g| {
            let (Some(&(first, _)), Some(&(last, _))) = (g.first(), g.last()) else {
                return false;
            };
            g.len() > 1
                && g.iter().all(|&(_, s)| {
                    !cx.outputs.contains(&s)
                        && !read_by[s].is_empty()
                        && read_by[s].iter().all(|r| run.members.contains(r))
                })
                && (first..=last).all(pure)
        })
        .collect()
}

/// The one step that runs `run`, how it runs unevaluated, and the reads it
/// made redundant (see [`merged_reads`]); `None` when it cannot be built.
fn fused_step(
    steps: &[Step],
    run: &Run,
    cx: &Context<'_>,
    read_by: &[Vec<usize>],
) -> Option<(Step, Unevaluated, Vec<usize>)> {
    let mut inputs: Vec<Slot> = Vec::new();
    let mut regs: HashMap<Slot, Reg> = HashMap::new();
    let mut insts: Vec<Inst> = Vec::new();
    // reads of one variable that only this run uses: one input, one
    // register per read (laid out in the reads' order, first)
    let merged = merged_reads(steps, run, cx, read_by);
    for group in &merged {
        inputs.push(group[0].1);
        for &(_, s) in group {
            insts.push(Inst::Input(inputs.len() - 1));
            regs.insert(s, insts.len() - 1);
        }
    }
    // a slot read by a member: a member's register, a program constant or
    // an input of the fused step
    let mut operand = |s: Slot, insts: &mut Vec<Inst>, regs: &mut HashMap<Slot, Reg>| -> Reg {
        if let Some(&r) = regs.get(&s) {
            return r;
        }
        let host_scalar = cx.constants.iter().find_map(|(c, t)| {
            (*c == s && t.id() >= cx.start && t.shape().is_empty() && t.dtype() == run.dtype)
                .then(|| t.item_f64())
                .flatten()
        });
        let inst = match host_scalar {
            Some(v) => Inst::Const(v),
            None => {
                inputs.push(s);
                Inst::Input(inputs.len() - 1)
            }
        };
        insts.push(inst);
        regs.insert(s, insts.len() - 1);
        insts.len() - 1
    };
    let mut outputs: Vec<(Output, Slot, Expect)> = Vec::new();
    let last = *run.members.last()?;
    for &m in &run.members {
        let (out, expect, ins) = op_output(&steps[m])?;
        let op = cx.known.get(&m)?.elementwise()?;
        let ins: Vec<Reg> = ins
            .iter()
            .map(|&s| operand(s, &mut insts, &mut regs))
            .collect();
        // read after the run, or a function output: handed back
        let seen = cx.outputs.contains(&out)
            || read_by[out].iter().any(|r| !run.members.contains(r))
            || m == last;
        match (op, ins.as_slice()) {
            (Elementwise::Sum, &[x]) => {
                if seen {
                    outputs.push((Output::Sum(x), out, expect.clone()));
                }
            }
            (Elementwise::Unary(u), &[x]) => {
                insts.push(Inst::Unary(u, x));
                regs.insert(out, insts.len() - 1);
                if seen {
                    outputs.push((Output::Value(insts.len() - 1), out, expect.clone()));
                }
            }
            (Elementwise::Binary(b), &[x, y]) => {
                insts.push(Inst::Binary(b, x, y));
                regs.insert(out, insts.len() - 1);
                if seen {
                    outputs.push((Output::Value(insts.len() - 1), out, expect.clone()));
                }
            }
            _ => return None,
        }
    }
    // a program needs an input (its dtype and shape)
    if inputs.is_empty() {
        return None;
    }
    let mut program = Program::new(inputs.len());
    for inst in insts {
        program.push(inst);
    }
    for (o, _, _) in &outputs {
        program.output(*o);
    }
    program.validate().ok()?;
    let program = Arc::new(program);
    let shapes: Vec<Vec<usize>> = outputs.iter().map(|(_, _, e)| e.shape.clone()).collect();
    let unevaluated = Unevaluated::Fused(program.clone(), shapes);
    // A loss that a gradient call then differentiates (and something else
    // reads: otherwise it is left unevaluated): its gradient, for the seed
    // 1, comes out of the same pass over the inputs.
    let differentiated = match outputs.as_slice() {
        [(Output::Sum(_), s, _)] => read_by[*s].iter().any(|&r| only_as_target(&steps[r], *s)),
        _ => false,
    };
    let kernel = if differentiated {
        super::kernel(move |xs: &[Tensor]| fuse::apply_with_gradient(&program, xs, &[1.0]))
    } else {
        super::kernel(move |xs: &[Tensor]| fuse::apply(&program, xs))
    };
    let step = Step::Op {
        name: FUSED,
        kernel,
        inputs,
        outputs: outputs.into_iter().map(|(_, s, e)| (s, e)).collect(),
    };
    let redundant = merged.iter().flat_map(|g| g[1..].iter().map(|&(i, _)| i));
    Some((step, unevaluated, redundant.collect()))
}
