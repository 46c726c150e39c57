//! Fused elementwise programs: a chain of elementwise and broadcasting ops
//! (optionally ending in a full sum) evaluated block by block, so that its
//! intermediates live in cache-sized scratch and never reach memory.
//!
//! A [`Program`] is an SSA list of instructions over registers: inputs (any
//! tensors that broadcast together), f64 constants, unary and binary ops and
//! a comparison-select. Its outputs are registers taken whole (`Value`),
//! summed to a scalar (`Sum`), or summed down to one input's shape
//! (`SumToInput`, what a gradient needs).
//!
//! The contract:
//! - every instruction runs the very scalar function of the eager op
//!   (`ops::unary`, `ops::binary`, `fastmath`), element by element in the same
//!   order, so a fused `Value` is bitwise the eager chain's result;
//! - a `Sum` is taken over the same 4096-element chunks (`kernels::reduce::
//!   CHUNK`) with the same in-chunk lanes and the same pairwise combine as
//!   `reduce_sum`, so it is bitwise eager's `reduce_sum` of the materialised
//!   chain too, and independent of the thread count;
//! - [`vjp`] builds the backward as another program that recomputes the
//!   forward from the saved inputs (no saved activations), and [`apply`]
//!   records one tape node whose rule runs it through [`apply`] again, so
//!   gradients of any order work.
//!
//! ```text
//! // loss = Σ tanh(x · w)²  (x, w broadcast)
//! let mut p = Program::new(2);
//! let (x, w) = (p.input(0), p.input(1));
//! let t = p.binary(Binary::Mul, x, w);
//! let t = p.unary(Unary::Tanh, t);
//! let t = p.unary(Unary::Square, t);
//! p.output(Output::Sum(t));
//! let loss = fuse::apply(&p, &[x, w])?;
//! ```

mod eval;
mod vjp;

#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use crate::tape;
use crate::tensor::Tensor;

pub(crate) use eval::BLOCK;
pub use vjp::vjp;

/// A register: the index of the instruction that defines it.
pub type Reg = usize;

/// Elementwise functions of one operand, each the eager op of that name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unary {
    Neg,
    Abs,
    Sign,
    Square,
    Exp,
    Log,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    Softplus,
    Erf,
}

/// Elementwise functions of two broadcast operands, each the eager op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    Pow,
}

/// The comparison of a [`Inst::Select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inst {
    /// The program's input `i`, broadcast to the output shape.
    Input(usize),
    /// A constant, rounded to the inputs' dtype (as `Tensor::scalar_of`).
    Const(f64),
    Unary(Unary, Reg),
    Binary(Binary, Reg, Reg),
    /// `if lhs <cmp> rhs { then } else { otherwise }` (eager `where_` of a
    /// comparison).
    Select {
        cmp: Cmp,
        lhs: Reg,
        rhs: Reg,
        then: Reg,
        otherwise: Reg,
    },
}

/// What the program hands back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The register over the whole broadcast shape.
    Value(Reg),
    /// The sum of the register over every element: a scalar.
    Sum(Reg),
    /// The register summed down to input `i`'s shape (undoing its
    /// broadcast): the gradient of that input.
    SumToInput(Reg, usize),
}

impl Output {
    /// The register this output reads.
    pub fn reg(&self) -> Reg {
        let (Output::Value(r) | Output::Sum(r) | Output::SumToInput(r, _)) = *self;
        r
    }
}

/// A fused elementwise program (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Program {
    num_inputs: usize,
    insts: Vec<Inst>,
    outputs: Vec<Output>,
    /// The backward program, built once on first need.
    backward: OnceLock<Arc<Program>>,
    /// The backward program with the forward's outputs ([`vjp::joint`]).
    joint: OnceLock<Arc<Program>>,
    /// The evaluation plan of the last call, reused while the inputs keep
    /// their layouts (a replayed step calls with the same ones every time).
    plans: eval::PlanCache,
}

impl PartialEq for Program {
    fn eq(&self, o: &Program) -> bool {
        self.num_inputs == o.num_inputs && self.insts == o.insts && self.outputs == o.outputs
    }
}

impl Program {
    /// An empty program of `num_inputs` inputs.
    pub fn new(num_inputs: usize) -> Program {
        Program {
            num_inputs,
            ..Program::default()
        }
    }

    pub fn num_inputs(&self) -> usize {
        self.num_inputs
    }

    pub fn insts(&self) -> &[Inst] {
        &self.insts
    }

    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// Appends `inst`; its register.
    pub fn push(&mut self, inst: Inst) -> Reg {
        self.plans = eval::PlanCache::default();
        self.insts.push(inst);
        self.insts.len() - 1
    }

    pub fn input(&mut self, i: usize) -> Reg {
        self.push(Inst::Input(i))
    }

    pub fn constant(&mut self, v: f64) -> Reg {
        self.push(Inst::Const(v))
    }

    pub fn unary(&mut self, op: Unary, x: Reg) -> Reg {
        self.push(Inst::Unary(op, x))
    }

    pub fn binary(&mut self, op: Binary, a: Reg, b: Reg) -> Reg {
        self.push(Inst::Binary(op, a, b))
    }

    pub fn select(&mut self, cmp: Cmp, lhs: Reg, rhs: Reg, then: Reg, otherwise: Reg) -> Reg {
        self.push(Inst::Select {
            cmp,
            lhs,
            rhs,
            then,
            otherwise,
        })
    }

    pub fn output(&mut self, out: Output) {
        self.plans = eval::PlanCache::default();
        self.outputs.push(out);
    }

    /// The backward program ([`vjp`]), built once and shared.
    pub fn backward(&self) -> Arc<Program> {
        self.backward.get_or_init(|| Arc::new(vjp(self))).clone()
    }

    /// The backward program followed by this one's outputs, built once.
    fn joint(&self) -> Arc<Program> {
        self.joint
            .get_or_init(|| Arc::new(vjp::joint(self)))
            .clone()
    }

    /// Every register is defined before it is read and every input index
    /// exists.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid("fuse", msg));
        let input_ok = |i: usize| i < self.num_inputs;
        for (r, inst) in self.insts.iter().enumerate() {
            let reads: &[Reg] = match inst {
                Inst::Input(i) if !input_ok(*i) => {
                    return bad(format!(
                        "instruction {r} reads input {i} of a program of {} inputs",
                        self.num_inputs
                    ));
                }
                Inst::Input(_) | Inst::Const(_) => &[],
                Inst::Unary(_, x) => &[*x],
                Inst::Binary(_, a, b) => &[*a, *b],
                Inst::Select {
                    lhs,
                    rhs,
                    then,
                    otherwise,
                    ..
                } => &[*lhs, *rhs, *then, *otherwise],
            };
            if let Some(x) = reads.iter().find(|&&x| x >= r) {
                return bad(format!(
                    "instruction {r} reads register {x}, which is not defined before it"
                ));
            }
        }
        for out in &self.outputs {
            let r = out.reg();
            if r >= self.insts.len() {
                return bad(format!("an output reads the undefined register {r}"));
            }
            if let Output::SumToInput(_, i) = *out
                && !input_ok(i)
            {
                return bad(format!("an output sums down to the missing input {i}"));
            }
        }
        Ok(())
    }
}

/// Runs `program` on `inputs` (one dtype, float32 or float64, broadcasting
/// together) and records ONE node on the active tapes: its rule runs the
/// backward program ([`Program::backward`]) on the saved inputs and the
/// output gradients, through `apply` again, so the rule is differentiable.
pub fn apply(program: &Arc<Program>, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let outputs = tape::without_recording(|| eval::run(program, inputs))?;
    record(program, inputs, &outputs);
    Ok(outputs)
}

/// [`apply`] for outputs whose values nobody reads, only their gradients
/// (a replayed loss that the function does not return): records the same
/// node, on zeros of `shapes`, without evaluating the forward program. The
/// backward program recomputes what it needs from the saved inputs anyway,
/// so this skips a whole pass over the inputs.
pub fn apply_unevaluated(
    program: &Arc<Program>,
    inputs: &[Tensor],
    shapes: &[Vec<usize>],
) -> Result<Vec<Tensor>> {
    let dtype = inputs
        .first()
        .ok_or_else(|| Error::invalid("fuse", "a program needs an input"))?
        .dtype();
    let outputs = shapes
        .iter()
        .map(|shape| crate::ops::zeros(dtype, shape))
        .collect::<Result<Vec<_>>>()?;
    record(program, inputs, &outputs);
    Ok(outputs)
}

/// [`apply`] for a program whose outputs a gradient is about to be taken
/// of, with the upstream gradients `seeds` (one scalar per output: 1 for a
/// loss that is a gradient's target): evaluates the forward and the
/// backward program in ONE pass over the inputs ([`vjp::joint`]), and
/// records the node with the backward's results kept. Its rule, given
/// exactly `seeds`, hands those back (recording the node `apply` of the
/// backward program would record) instead of evaluating again; given other
/// gradients, it evaluates as usual. Both ways give the same bits: the same
/// program on the same inputs.
pub fn apply_with_gradient(
    program: &Arc<Program>,
    inputs: &[Tensor],
    seeds: &[f64],
) -> Result<Vec<Tensor>> {
    let Some(dtype) = inputs.first().map(Tensor::dtype) else {
        return apply(program, inputs);
    };
    let scalar_outputs = program.outputs.iter().all(|o| matches!(o, Output::Sum(_)));
    if !tape::is_recording() || !scalar_outputs || seeds.len() != program.outputs.len() {
        return apply(program, inputs);
    }
    let seeds: Vec<Tensor> = seeds.iter().map(|&v| Tensor::scalar_of(dtype, v)).collect();
    let mut args = inputs.to_vec();
    args.extend(seeds.iter().cloned());
    let mut gradients = tape::without_recording(|| eval::run(&program.joint(), &args))?;
    let outputs = gradients.split_off(program.num_inputs);
    record_node(program, inputs, &outputs, Some((seeds, gradients)));
    Ok(outputs)
}

/// The one node of `program`'s evaluation on the active tapes (see [`apply`]).
fn record(program: &Arc<Program>, inputs: &[Tensor], outputs: &[Tensor]) {
    record_node(program, inputs, outputs, None);
}

/// Upstream gradients and the backward program's results for them.
type Known = Option<(Vec<Tensor>, Vec<Tensor>)>;

/// [`record`], the backward's results for some upstream gradients known.
fn record_node(program: &Arc<Program>, inputs: &[Tensor], outputs: &[Tensor], known: Known) {
    if tape::is_recording() && inputs.iter().any(|x| x.dtype().is_float()) {
        let metas: Vec<_> = inputs.iter().map(Tensor::meta).collect();
        let refs: Vec<&Tensor> = outputs.iter().collect();
        tape::record_foreign(
            "FusedElementwise",
            &metas,
            &refs,
            || (program.clone(), inputs.to_vec(), known),
            |(program, inputs, known): &(Arc<Program>, Vec<Tensor>, Known), grads: &[Tensor]| {
                let backward = program.backward();
                let mut args = inputs.clone();
                args.extend(grads.iter().cloned());
                if let Some((seeds, results)) = known
                    && seeds.len() == grads.len()
                    && seeds.iter().zip(grads).all(|(s, g)| same_scalar(s, g))
                {
                    // fresh ids: each backward run makes tensors of its own
                    let results: Vec<Tensor> = results.iter().map(Tensor::with_fresh_id).collect();
                    record(&backward, &args, &results);
                    return Ok(results.into_iter().map(Some).collect());
                }
                Ok(apply(&backward, &args)?.into_iter().map(Some).collect())
            },
        );
    }
}

/// Are `a` and `b` one-element tensors of one dtype and shape with the
/// same bits?
fn same_scalar(a: &Tensor, b: &Tensor) -> bool {
    a.dtype() == b.dtype()
        && a.shape() == b.shape()
        && a.numel() == 1
        && a.item_f64().map(f64::to_bits) == b.item_f64().map(f64::to_bits)
}
