//! The rewrite a finished trace gets before it becomes a plan: maximal runs
//! of elementwise float steps become ONE step that runs a fused program
//! ([`crate::fuse`]) block by block, so that the run's intermediates never
//! reach memory and a replay pays one step (and one tape node) for the run.
//!
//! What a step computes is learnt from the core itself, not from the
//! binding's name: while a trace captures, every elementwise core op and
//! every full `reduce_sum` leaves a [`Note`] (its TF name, its inputs' and
//! its output's tensor ids). A recorded step whose kernel made exactly one
//! note, reading exactly the step's inputs and giving exactly its output,
//! is that op; any other step (a composite, a cast inside, an op that reads
//! an internal constant) is opaque and never fused.
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

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use super::plan::{Expect, Slot, Step, Target};
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

/// One core op run while a trace captured.
pub(crate) struct Note {
    op: Elementwise,
    inputs: Vec<TensorId>,
    output: TensorId,
}

thread_local! {
    static NOTES: RefCell<Vec<Note>> = const { RefCell::new(Vec::new()) };
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
/// kernel made (taken); `None` when it is not exactly one fusible op.
pub(crate) fn take_op(inputs: &[Tensor], outputs: &[Tensor]) -> Option<Elementwise> {
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
    /// The op each fusible step is (by step index).
    pub fusible: &'a HashMap<usize, Elementwise>,
    /// Constant slots and their tensors.
    pub constants: &'a [(Slot, Tensor)],
    /// Tensors with a smaller id were born before the trace.
    pub start: TensorId,
    pub outputs: &'a [Slot],
    pub n_slots: usize,
}

/// The steps with every run of two or more fusible steps made one step.
pub(crate) fn fuse_runs(steps: Vec<Step>, cx: &Context<'_>) -> Vec<Step> {
    let runs = find_runs(&steps, cx);
    if runs.is_empty() {
        return steps;
    }
    // readers outside a run decide its outputs
    let mut read_by: Vec<Vec<usize>> = vec![Vec::new(); cx.n_slots];
    for (i, step) in steps.iter().enumerate() {
        for s in step.reads() {
            if let Some(r) = read_by.get_mut(s) {
                r.push(i);
            }
        }
    }
    let mut fused_at: HashMap<usize, Step> = HashMap::new();
    let mut dropped = vec![false; steps.len()];
    for run in &runs {
        if let Some(step) = fused_step(&steps, run, cx, &read_by) {
            let (&last, rest) = run.members.split_last().unwrap_or((&0, &[]));
            for &m in rest {
                dropped[m] = true;
            }
            fused_at.insert(last, step);
        }
    }
    steps
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped[*i])
        .map(|(i, step)| fused_at.remove(&i).unwrap_or(step))
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
        let op = cx.fusible.get(&i).copied();
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

/// The one step that runs `run`, or `None` when it cannot be built.
fn fused_step(steps: &[Step], run: &Run, cx: &Context<'_>, read_by: &[Vec<usize>]) -> Option<Step> {
    let mut inputs: Vec<Slot> = Vec::new();
    let mut regs: HashMap<Slot, Reg> = HashMap::new();
    let mut insts: Vec<Inst> = Vec::new();
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
        let op = *cx.fusible.get(&m)?;
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
    // Values only a gradient call reads, as its target (a loss the function
    // does not return), are never looked at: the gradient needs the node and
    // the target's shape. Such a step records the node without evaluating.
    let only_targets = outputs.iter().all(|(_, s, _)| {
        !cx.outputs.contains(s)
            && read_by[*s]
                .iter()
                .filter(|r| !run.members.contains(r))
                .all(|&r| only_as_target(&steps[r], *s))
    });
    let (name, kernel) = if only_targets {
        let shapes: Vec<Vec<usize>> = outputs.iter().map(|(_, _, e)| e.shape.clone()).collect();
        let kernel =
            super::kernel(move |xs: &[Tensor]| fuse::apply_unevaluated(&program, xs, &shapes));
        (FUSED_FOR_GRADIENT, kernel)
    } else {
        let kernel = super::kernel(move |xs: &[Tensor]| fuse::apply(&program, xs));
        (FUSED, kernel)
    };
    Some(Step::Op {
        name,
        kernel,
        inputs,
        outputs: outputs.into_iter().map(|(_, s, e)| (s, e)).collect(),
    })
}
