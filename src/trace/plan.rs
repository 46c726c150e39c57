//! A finished trace and its executor: a vector of slots, the steps in
//! program order, each slot freed right after its last reader.

use std::sync::Arc;

use super::{Kernel, TapeStep, Update, VarKernel};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::grad::{self, Unconnected};
use crate::ops::random;
use crate::tape::Tape;
use crate::tensor::{Data, Tensor, TensorMeta};
use crate::variable::Variable;

pub(crate) type Slot = usize;

/// A variable a step reads or updates: one of the plan's inputs, or one the
/// function reached by itself (a model's weights), held here.
#[derive(Clone)]
pub(crate) enum VarRef {
    Input(usize),
    Captured(Arc<Variable>),
}

/// A tape's target, source or watched object.
#[derive(Clone)]
pub(crate) enum Target {
    Slot(Slot),
    Var(VarRef),
}

/// The dtype and shape a slot had when traced.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Expect {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl Expect {
    pub fn of(t: &Tensor) -> Expect {
        Expect {
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
        }
    }

    fn holds(&self, t: &Tensor) -> bool {
        t.dtype() == self.dtype && t.shape() == self.shape.as_slice()
    }
}

/// What a tensor's value told the host during the trace.
pub(crate) enum Guard {
    /// Its whole value (`float(x)`, `x.numpy()`).
    Value(Tensor),
    /// Only its truth (`if x:`).
    Truth(bool),
}

pub(crate) enum Step {
    Op {
        name: &'static str,
        kernel: Kernel,
        inputs: Vec<Slot>,
        outputs: Vec<(Slot, Expect)>,
    },
    VarOp {
        name: &'static str,
        kernel: VarKernel,
        vars: Vec<VarRef>,
        inputs: Vec<Slot>,
        outputs: Vec<(Slot, Expect)>,
    },
    Read {
        var: VarRef,
        output: (Slot, Expect),
    },
    Update {
        var: VarRef,
        how: Update,
        input: Slot,
    },
    Guard {
        slot: Slot,
        guard: Guard,
    },
    TapeNew {
        tape: usize,
        persistent: bool,
        watch_accessed_variables: bool,
    },
    Tape {
        tape: usize,
        step: TapeStep,
    },
    Watch {
        tape: usize,
        what: Target,
    },
    Derive {
        tape: usize,
        kind: crate::grad::Kind,
        targets: Vec<Target>,
        seeds: Vec<Option<Slot>>,
        sources: Vec<Target>,
        zero: bool,
        outputs: Vec<Option<(Slot, Expect)>>,
    },
}

impl Step {
    /// The slots this step reads.
    pub fn reads(&self) -> Vec<Slot> {
        let target = |t: &Target| match t {
            Target::Slot(s) => Some(*s),
            Target::Var(_) => None,
        };
        match self {
            Step::Op { inputs, .. } | Step::VarOp { inputs, .. } => inputs.clone(),
            Step::Update { input, .. } => vec![*input],
            Step::Guard { slot, .. } => vec![*slot],
            Step::Watch { what, .. } => target(what).into_iter().collect(),
            Step::Derive {
                targets,
                seeds,
                sources,
                ..
            } => targets
                .iter()
                .chain(sources)
                .filter_map(target)
                .chain(seeds.iter().flatten().copied())
                .collect(),
            Step::Read { .. } | Step::TapeNew { .. } | Step::Tape { .. } => Vec::new(),
        }
    }

    /// The slots this step writes.
    pub fn writes(&self) -> Vec<Slot> {
        match self {
            Step::Op { outputs, .. } | Step::VarOp { outputs, .. } => {
                outputs.iter().map(|o| o.0).collect()
            }
            Step::Read { output, .. } => vec![output.0],
            Step::Derive { outputs, .. } => outputs.iter().flatten().map(|o| o.0).collect(),
            _ => Vec::new(),
        }
    }

    /// Could this step change state outside the plan (a variable, the random
    /// streams)? Such a step before a failing guard is undone.
    pub fn has_effects(&self) -> bool {
        matches!(
            self,
            Step::Op { .. } | Step::VarOp { .. } | Step::Update { .. }
        )
    }
}

/// An input of a plan: a tensor, or a variable (read and updated by steps).
#[derive(Clone)]
pub enum Arg {
    Tensor(Tensor),
    Variable(Arc<Variable>),
}

impl Arg {
    /// What a tape knows it by: a tensor's id, a variable's handle.
    pub fn meta(&self) -> TensorMeta {
        match self {
            Arg::Tensor(t) => t.meta(),
            Arg::Variable(v) => v.handle_meta(),
        }
    }
}

/// What a plan's inputs looked like when traced.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum InputSpec {
    Tensor(Expect),
    Variable(Expect),
}

/// The result of a replay.
pub enum Outcome {
    /// The function's outputs.
    Done(Vec<Tensor>),
    /// A guard failed (named in the text): the caller retraces. Every
    /// variable update and random draw of this replay was undone.
    GuardFailed(String),
}

/// Elements from which a plan's largest value makes its replay move to the
/// pool, matmul or not: a cheap binary pass over 512k float32 takes ~75 µs,
/// several times the kernels' threshold for waking a helper
/// (`kernels::HELP_WORTH`), so every pass of such a plan is shared. Chosen
/// between the measured points (`Plan::pays_for_pool`): 100k elements
/// replayed faster on the caller, 1M and 4M tied.
pub(crate) const POOL_MIN_LEN: usize = 1 << 19;

/// A replayable trace.
pub struct Plan {
    pub(crate) inputs: Vec<InputSpec>,
    /// The slot of each tensor input (`None` for variables).
    pub(crate) input_slots: Vec<Option<Slot>>,
    /// Input positions that were one object when traced (they must be one
    /// object at every replay).
    pub(crate) same_as: Vec<(usize, usize)>,
    pub(crate) constants: Vec<(Slot, Tensor)>,
    pub(crate) steps: Vec<Step>,
    /// `free_after[i]`: the slots whose last reader is step `i`.
    pub(crate) free_after: Vec<Vec<Slot>>,
    pub(crate) outputs: Vec<Slot>,
    pub(crate) n_slots: usize,
    pub(crate) n_tapes: usize,
    /// Does some guard follow a step with side effects?
    pub(crate) undo: bool,
    /// Do the plan's kernels share their work over the pool often enough
    /// to pay for the move (`pays_for_pool`), and does no step call the
    /// host? Then a replay runs on a pool thread (`replay`).
    pub(crate) on_pool: bool,
}

/// The tapes a replay made, popped from this thread when the replay ends
/// however it ends.
struct Tapes(Vec<Option<Tape>>);

impl Drop for Tapes {
    fn drop(&mut self) {
        self.0.iter().flatten().for_each(Tape::pop);
    }
}

/// What to restore when a guard fails: the random streams, and each
/// variable's value before the replay's first update of it.
struct Undo {
    seeds: random::SeedState,
    vars: Vec<(Arc<Variable>, Tensor)>,
}

impl Undo {
    fn restore(self) -> Result<()> {
        for (var, old) in self.vars.into_iter().rev() {
            var.assign(&old)?;
        }
        random::restore_seed_state(self.seeds);
        Ok(())
    }
}

fn internal(msg: &str) -> Error {
    Error::invalid(
        "tf.function",
        format!("replay: {msg} (a bug in tapegrad's trace)"),
    )
}

/// Bitwise equality of two tensors' values (NaN equals the same NaN).
fn same_value(a: &Tensor, b: &Tensor) -> bool {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return false;
    }
    match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
        (Data::F64(x), Data::F64(y)) => x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
        (Data::I32(x), Data::I32(y)) => x == y,
        (Data::I64(x), Data::I64(y)) => x == y,
        (Data::Bool(x), Data::Bool(y)) => x == y,
        _ => false,
    }
}

/// Truth of a one-element tensor, as Python's `bool(x)` reads it.
fn truth(t: &Tensor) -> Option<bool> {
    match t.numel() {
        0 => Some(false),
        1 => t.item_f64().map(|v| v != 0.0),
        _ => None,
    }
}

impl Plan {
    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Does a replay of this plan gain from running on a pool thread? Only
    /// if its kernels hand work to the pool often: the move itself costs
    /// two wake-ups (the pool thread's, then the caller's). Two kinds of
    /// plan qualify:
    /// - one with a value of `POOL_MIN_LEN` elements: every elementwise
    ///   pass over it is shared, even a cheap one;
    /// - one that ran a float product (forward or in a gradient) of
    ///   `kernels::matmul::PAR_MIN_FLOPS` multiply-adds or more while
    ///   traced (`parallel_product`): gemm splits each such product over
    ///   the pool.
    ///
    /// Below that only dear elementwise ops (`tanh` on 100k elements) are
    /// shared, and a replay on the calling thread gets their help the way
    /// eager calls do. Measured on the 100k-element Hessian-vector product
    /// (2-core Zen 4 guest, 30 interleaved samples of 100 calls, three
    /// rounds, medians): eager 532-552 µs, replayed here 449-469 µs, on
    /// the pool 514-524 µs. The 256² jacobian and the MLP step (both with
    /// products) were faster on the pool: 421 against 455 µs and 2.15
    /// against 2.44 ms; the 4M-element chain and the 1M-element 100-op
    /// chain tied.
    pub(crate) fn pays_for_pool(&self, parallel_product: bool) -> bool {
        parallel_product || self.largest_value() >= POOL_MIN_LEN
    }

    /// The number of elements of the plan's largest input, constant or
    /// step output.
    pub(crate) fn largest_value(&self) -> usize {
        let numel = |e: &Expect| e.shape.iter().product::<usize>();
        let inputs = self.inputs.iter().map(|i| match i {
            InputSpec::Tensor(e) | InputSpec::Variable(e) => numel(e),
        });
        let constants = self.constants.iter().map(|(_, t)| t.numel());
        let outputs = self.steps.iter().flat_map(|step| -> Vec<usize> {
            match step {
                Step::Op { outputs, .. } | Step::VarOp { outputs, .. } => {
                    outputs.iter().map(|(_, e)| numel(e)).collect()
                }
                Step::Read { output, .. } => vec![numel(&output.1)],
                Step::Derive { outputs, .. } => {
                    outputs.iter().flatten().map(|(_, e)| numel(e)).collect()
                }
                _ => Vec::new(),
            }
        });
        inputs.chain(constants).chain(outputs).max().unwrap_or(0)
    }

    /// Why `args` do not fit this plan, if they do not.
    fn mismatch(&self, args: &[Arg]) -> Option<String> {
        if args.len() != self.inputs.len() {
            return Some(format!(
                "{} inputs given, {} traced",
                args.len(),
                self.inputs.len()
            ));
        }
        for (i, (arg, spec)) in args.iter().zip(&self.inputs).enumerate() {
            let ok = match (arg, spec) {
                (Arg::Tensor(t), InputSpec::Tensor(e)) => e.holds(t),
                (Arg::Variable(v), InputSpec::Variable(e)) => e.holds(&v.peek()),
                _ => false,
            };
            if !ok {
                return Some(format!("input {i} has another kind, dtype or shape"));
            }
        }
        for &(a, b) in &self.same_as {
            let same = match (&args[a], &args[b]) {
                (Arg::Tensor(x), Arg::Tensor(y)) => x.id() == y.id(),
                (Arg::Variable(x), Arg::Variable(y)) => Arc::ptr_eq(x, y),
                _ => false,
            };
            if !same {
                return Some(format!("inputs {a} and {b} were one object when traced"));
            }
        }
        None
    }

    /// `run`, on a pool thread when that is the same to everyone and
    /// faster (`on_pool`, from `pays_for_pool`): a plan with parallel
    /// kernels then starts each of them from a pool thread, instead of
    /// waking a pool from outside and sleeping until it is done, once per
    /// kernel (`interrupt::on_pool`). Measured on the benchmark's steps
    /// (2-core Zen 4 guest, 80 interleaved samples, one run, median / best,
    /// here → on the pool): MLP step 1.46 / 1.30 → 1.37 / 1.25 ms, 1024²
    /// matmul backward 26.6 / 20.9 → 20.8 / 20.3 ms, 256² jacobian 332 /
    /// 267 → 365 / 252 µs: on this shared host the gain is mostly in the
    /// spread, since the wake-ups are what varies.
    ///
    /// The replay moves only when nothing on this thread would see the
    /// move: no tape, accumulator, trace or numerics check is active (they
    /// are per thread), no random keys are being logged for
    /// `recompute_grad`, and no step calls the host (a Python callback could
    /// see another thread).
    pub fn replay(plan: &Arc<Plan>, args: Vec<Arg>) -> Result<Outcome> {
        let moves = plan.on_pool
            && crate::interrupt::may_wait_here()
            && !crate::tape::is_observed()
            && !random::keys_in_use()
            && crate::kernels::parallel(usize::MAX);
        if !moves {
            return plan.run(&args);
        }
        let plan = Arc::clone(plan);
        crate::interrupt::on_pool(move || plan.run(&args)).unwrap_or_else(|here| here())
    }

    /// Replay on `args` (the kinds, dtypes and shapes traced). Tapes active
    /// on this thread record the replayed ops exactly as eager calls.
    pub fn run(&self, args: &[Arg]) -> Result<Outcome> {
        if super::is_tracing() {
            // its updates and reads would escape the outer trace
            super::unsupported(
                "a traced function's plan was run inside another trace (run the inner function inline)",
            );
        }
        if let Some(why) = self.mismatch(args) {
            return Ok(Outcome::GuardFailed(why));
        }
        let vars: Vec<Option<Arc<Variable>>> = args
            .iter()
            .map(|a| match a {
                Arg::Variable(v) => Some(v.clone()),
                Arg::Tensor(_) => None,
            })
            .collect();
        let mut slots: Vec<Option<Tensor>> = vec![None; self.n_slots];
        for (arg, slot) in args.iter().zip(&self.input_slots) {
            if let (Arg::Tensor(t), Some(s)) = (arg, slot) {
                slots[*s] = Some(t.clone());
            }
        }
        for (s, t) in &self.constants {
            slots[*s] = Some(t.clone());
        }
        let mut tapes = Tapes(vec![None; self.n_tapes]);
        let mut undo = self.undo.then(|| Undo {
            seeds: random::seed_state(),
            vars: Vec::new(),
        });
        for (i, step) in self.steps.iter().enumerate() {
            // (Ctrl-C lands between steps, as between eager calls)
            crate::interrupt::poll()?;
            if let Some(why) = self.step(step, &mut slots, &vars, &mut tapes, &mut undo)? {
                drop(tapes);
                if let Some(u) = undo {
                    u.restore()?;
                }
                return Ok(Outcome::GuardFailed(why));
            }
            for &s in &self.free_after[i] {
                slots[s] = None;
            }
        }
        let outputs = self
            .outputs
            .iter()
            .map(|&s| {
                slots[s]
                    .clone()
                    .ok_or_else(|| internal("an output was never written"))
            })
            .collect::<Result<_>>()?;
        Ok(Outcome::Done(outputs))
    }

    /// Run one step; `Some(why)` when a guard (or an expected shape) failed.
    fn step(
        &self,
        step: &Step,
        slots: &mut [Option<Tensor>],
        vars: &[Option<Arc<Variable>>],
        tapes: &mut Tapes,
        undo: &mut Option<Undo>,
    ) -> Result<Option<String>> {
        let get = |slots: &[Option<Tensor>], s: Slot| {
            slots
                .get(s)
                .and_then(Clone::clone)
                .ok_or_else(|| internal("a slot was read before it was written"))
        };
        let var = |v: &VarRef| -> Result<Arc<Variable>> {
            match v {
                VarRef::Captured(v) => Ok(v.clone()),
                VarRef::Input(i) => vars
                    .get(*i)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| internal("a variable input is missing")),
            }
        };
        let tape = |tapes: &Tapes, i: usize| {
            tapes.0[i]
                .clone()
                .ok_or_else(|| internal("a tape was used before it was made"))
        };
        let write = |slots: &mut [Option<Tensor>],
                     name: &str,
                     out: Vec<Tensor>,
                     expect: &[(Slot, Expect)]| {
            if out.len() != expect.len() {
                return Some(format!(
                    "{name} gave {} outputs, {} traced",
                    out.len(),
                    expect.len()
                ));
            }
            for (t, (s, e)) in out.into_iter().zip(expect) {
                if !e.holds(&t) {
                    return Some(format!(
                        "{name} gave a {}{:?} tensor where the trace had {}{:?}",
                        t.dtype().name(),
                        t.shape(),
                        e.dtype.name(),
                        e.shape
                    ));
                }
                slots[*s] = Some(t);
            }
            None
        };
        match step {
            Step::Op {
                name,
                kernel,
                inputs,
                outputs,
            } => {
                let xs = inputs
                    .iter()
                    .map(|&s| get(slots, s))
                    .collect::<Result<Vec<_>>>()?;
                let out = kernel(&xs)?;
                Ok(write(slots, name, out, outputs))
            }
            Step::VarOp {
                name,
                kernel,
                vars: refs,
                inputs,
                outputs,
            } => {
                let vs = refs.iter().map(var).collect::<Result<Vec<_>>>()?;
                if let Some(u) = undo {
                    u.vars.extend(vs.iter().map(|v| (v.clone(), v.peek())));
                }
                let xs = inputs
                    .iter()
                    .map(|&s| get(slots, s))
                    .collect::<Result<Vec<_>>>()?;
                let out = kernel(&vs, &xs)?;
                Ok(write(slots, name, out, outputs))
            }
            Step::Read { var: v, output } => {
                let value = var(v)?.read();
                Ok(write(
                    slots,
                    "a variable read",
                    vec![value],
                    std::slice::from_ref(output),
                ))
            }
            Step::Update { var: v, how, input } => {
                let v = var(v)?;
                if let Some(u) = undo {
                    u.vars.push((v.clone(), v.peek()));
                }
                how.apply(&v, &get(slots, *input)?)?;
                Ok(None)
            }
            Step::Guard { slot, guard } => {
                let t = get(slots, *slot)?;
                let held = match guard {
                    Guard::Value(traced) => same_value(&t, traced),
                    Guard::Truth(b) => truth(&t) == Some(*b),
                };
                Ok((!held).then(|| "a value Python used when tracing changed".to_string()))
            }
            Step::TapeNew {
                tape: i,
                persistent,
                watch_accessed_variables,
            } => {
                tapes.0[*i] = Some(Tape::new(*persistent, *watch_accessed_variables));
                Ok(None)
            }
            Step::Tape { tape: i, step } => {
                let t = tape(tapes, *i)?;
                match step {
                    TapeStep::Push => t.push()?,
                    TapeStep::Pop => t.pop(),
                    TapeStep::Reset => t.reset(),
                }
                Ok(None)
            }
            Step::Watch { tape: i, what } => {
                let t = tape(tapes, *i)?;
                match what {
                    Target::Slot(s) => t.watch(get(slots, *s)?.id()),
                    Target::Var(v) => t.watch_variable(var(v)?.handle()),
                }
                Ok(None)
            }
            Step::Derive {
                tape: i,
                kind,
                targets,
                seeds,
                sources,
                zero,
                outputs,
            } => {
                let meta = |slots: &[Option<Tensor>], t: &Target| -> Result<TensorMeta> {
                    match t {
                        Target::Slot(s) => Ok(get(slots, *s)?.meta()),
                        Target::Var(v) => Ok(var(v)?.handle_meta()),
                    }
                };
                let targets = targets
                    .iter()
                    .map(|t| meta(slots, t))
                    .collect::<Result<Vec<_>>>()?;
                let sources = sources
                    .iter()
                    .map(|t| meta(slots, t))
                    .collect::<Result<Vec<_>>>()?;
                let nodes = tape(tapes, *i)?.take_nodes();
                let given = seeds
                    .iter()
                    .map(|s| s.map(|s| get(slots, s)).transpose())
                    .collect::<Result<Vec<_>>>()?;
                let unconnected = Unconnected::zero_if(*zero);
                let request = grad::Request::new(*kind, targets, given, sources, unconnected)?;
                let grads = request.run(nodes, None)?;
                if grads.len() != outputs.len()
                    || grads
                        .iter()
                        .zip(outputs)
                        .any(|(g, o)| g.is_some() != o.is_some())
                {
                    return Ok(Some(
                        "a gradient that was None when traced is not now (or the reverse)".into(),
                    ));
                }
                let (out, expect): (Vec<Tensor>, Vec<(Slot, Expect)>) = grads
                    .into_iter()
                    .zip(outputs)
                    .filter_map(|(g, o)| Some((g?, o.clone()?)))
                    .unzip();
                Ok(write(slots, "a gradient", out, &expect))
            }
        }
    }
}
