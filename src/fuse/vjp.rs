//! Reverse-mode differentiation of a [`Program`] into another program.
//!
//! The backward program takes the forward's inputs followed by one upstream
//! gradient per forward output (full shape for `Value`, a scalar for `Sum`,
//! input `i`'s shape for `SumToInput(_, i)`; each broadcasts to the output
//! shape), recomputes the forward instructions it needs from the inputs
//! alone, and returns each input's gradient summed down to that input's
//! shape. The derivative rules are the eager VJPs of `ops::unary` and
//! `ops::binary`, written with the same operations in the same order, so
//! that a fused gradient matches eager's wherever eager adds its
//! contributions in the same order.

use std::collections::HashMap;

use super::{Binary, Cmp, Inst, Output, Program, Reg, Unary};

/// Appends instructions to the backward program, sharing constants.
struct Builder {
    p: Program,
    constants: HashMap<u64, Reg>,
}

impl Builder {
    fn c(&mut self, v: f64) -> Reg {
        if let Some(&r) = self.constants.get(&v.to_bits()) {
            return r;
        }
        let r = self.p.constant(v);
        self.constants.insert(v.to_bits(), r);
        r
    }
    fn u(&mut self, op: Unary, x: Reg) -> Reg {
        self.p.unary(op, x)
    }
    fn b(&mut self, op: Binary, a: Reg, b: Reg) -> Reg {
        self.p.binary(op, a, b)
    }
    fn mul(&mut self, a: Reg, b: Reg) -> Reg {
        self.b(Binary::Mul, a, b)
    }
    fn scale(&mut self, a: Reg, c: f64) -> Reg {
        let c = self.c(c);
        self.mul(a, c)
    }
    /// TF's MulNoNan(x, g): 0 where g is 0, else x·g.
    fn mul_no_nan(&mut self, x: Reg, g: Reg) -> Reg {
        let zero = self.c(0.0);
        let product = self.mul(x, g);
        self.p.select(Cmp::Eq, g, zero, zero, product)
    }
    /// `g` where `lhs cmp rhs`, else 0 (`when`), or the other way round.
    fn route(&mut self, cmp: Cmp, lhs: Reg, rhs: Reg, g: Reg, when: bool) -> Reg {
        let zero = self.c(0.0);
        let (t, f) = if when { (g, zero) } else { (zero, g) };
        self.p.select(cmp, lhs, rhs, t, f)
    }
}

/// The backward program of `p` (see the module docs).
pub fn vjp(p: &Program) -> Program {
    dead_code_eliminated(backward_with_forward(p))
}

/// The backward program of `p` followed by `p`'s own outputs: one pass
/// over the inputs that gives both (the forward's registers feed both), in
/// that order. Each output is bitwise the one of the program it comes from.
pub fn joint(p: &Program) -> Program {
    let mut q = backward_with_forward(p);
    // (the forward's instructions keep their registers in `q`)
    for out in &p.outputs {
        q.output(*out);
    }
    dead_code_eliminated(q)
}

/// The backward program with every forward instruction kept at its own
/// register (the dead ones still in).
fn backward_with_forward(p: &Program) -> Program {
    let k = p.num_inputs;
    let mut b = Builder {
        p: Program::new(k + p.outputs.len()),
        constants: HashMap::new(),
    };
    // The forward, recomputed (dead parts are dropped below).
    for inst in &p.insts {
        b.p.push(*inst);
        if let Inst::Const(v) = *inst {
            b.constants
                .entry(v.to_bits())
                .or_insert(b.p.insts.len() - 1);
        }
    }
    let n = p.insts.len();
    let mut adjoint: Vec<Option<Reg>> = vec![None; n];
    let mut input_adjoint: Vec<Option<Reg>> = vec![None; k];
    fn accumulate(b: &mut Builder, slot: &mut Option<Reg>, g: Reg) {
        *slot = Some(match *slot {
            Some(prev) => b.b(Binary::Add, prev, g),
            None => g,
        });
    }
    for (j, out) in p.outputs.iter().enumerate() {
        let g = b.p.input(k + j);
        accumulate(&mut b, &mut adjoint[out.reg()], g);
    }
    for r in (0..n).rev() {
        let Some(g) = adjoint[r] else { continue };
        match p.insts[r] {
            Inst::Const(_) => {}
            Inst::Input(i) => accumulate(&mut b, &mut input_adjoint[i], g),
            Inst::Unary(op, x) => {
                if let Some(dx) = unary_vjp(&mut b, op, x, r, g) {
                    accumulate(&mut b, &mut adjoint[x], dx);
                }
            }
            Inst::Binary(op, x, y) => {
                let (dx, dy) = binary_vjp(&mut b, op, x, y, r, g);
                accumulate(&mut b, &mut adjoint[x], dx);
                accumulate(&mut b, &mut adjoint[y], dy);
            }
            Inst::Select {
                cmp,
                lhs,
                rhs,
                then,
                otherwise,
            } => {
                let dt = b.route(cmp, lhs, rhs, g, true);
                accumulate(&mut b, &mut adjoint[then], dt);
                let df = b.route(cmp, lhs, rhs, g, false);
                accumulate(&mut b, &mut adjoint[otherwise], df);
            }
        }
    }
    for (i, adj) in input_adjoint.into_iter().enumerate() {
        let g = adj.unwrap_or_else(|| b.c(0.0));
        b.p.output(Output::SumToInput(g, i));
    }
    b.p
}

/// d op(x) · g, for the output register `y`; `None`: no gradient (sign).
fn unary_vjp(b: &mut Builder, op: Unary, x: Reg, y: Reg, g: Reg) -> Option<Reg> {
    Some(match op {
        Unary::Neg => b.u(Unary::Neg, g),
        Unary::Abs => {
            let s = b.u(Unary::Sign, x);
            b.mul(g, s)
        }
        Unary::Sign => return None,
        Unary::Square => {
            let gx = b.mul(g, x);
            b.scale(gx, 2.0)
        }
        Unary::Exp => b.mul(g, y),
        Unary::Log => b.b(Binary::Div, g, x),
        Unary::Log1p => {
            let one = b.c(1.0);
            let x1 = b.b(Binary::Add, x, one);
            b.b(Binary::Div, g, x1)
        }
        Unary::Expm1 => {
            let e = b.u(Unary::Exp, x);
            b.mul(g, e)
        }
        Unary::Sqrt => {
            let r = b.u(Unary::Reciprocal, y);
            let half = b.scale(r, 0.5);
            b.mul_no_nan(half, g)
        }
        Unary::Rsqrt => {
            let y2 = b.u(Unary::Square, y);
            let y3 = b.mul(y, y2);
            let d = b.scale(y3, -0.5);
            b.mul_no_nan(d, g)
        }
        Unary::Reciprocal => {
            let y2 = b.u(Unary::Square, y);
            let d = b.u(Unary::Neg, y2);
            b.mul_no_nan(d, g)
        }
        Unary::Sin => {
            let c = b.u(Unary::Cos, x);
            b.mul(g, c)
        }
        Unary::Cos => {
            let s = b.u(Unary::Sin, x);
            let gs = b.mul(g, s);
            b.u(Unary::Neg, gs)
        }
        // TanhGrad: g·(1 − y·y)
        Unary::Tanh => {
            let one = b.c(1.0);
            let yy = b.mul(y, y);
            let d = b.b(Binary::Sub, one, yy);
            b.mul(g, d)
        }
        // SigmoidGrad: g·(y·(1 − y))
        Unary::Sigmoid => {
            let one = b.c(1.0);
            let d = b.b(Binary::Sub, one, y);
            let d = b.mul(y, d);
            b.mul(g, d)
        }
        Unary::Relu => {
            let zero = b.c(0.0);
            b.route(Cmp::Gt, x, zero, g, true)
        }
        Unary::Softplus => {
            let s = b.u(Unary::Sigmoid, x);
            b.mul(g, s)
        }
        // g·e^(−x²)·2/√π
        Unary::Erf => {
            let x2 = b.u(Unary::Square, x);
            let nx2 = b.u(Unary::Neg, x2);
            let e = b.u(Unary::Exp, nx2);
            let ge = b.mul(g, e);
            b.scale(ge, std::f64::consts::FRAC_2_SQRT_PI)
        }
    })
}

/// (d/da, d/db) of `a op b` · g, for the output register `y`.
fn binary_vjp(b: &mut Builder, op: Binary, x: Reg, z: Reg, y: Reg, g: Reg) -> (Reg, Reg) {
    match op {
        Binary::Add => (g, g),
        Binary::Sub => (g, b.u(Unary::Neg, g)),
        Binary::Mul => (b.mul(g, z), b.mul(g, x)),
        Binary::Div => {
            let dx = b.b(Binary::Div, g, z);
            let gy = b.mul(g, y);
            let q = b.b(Binary::Div, gy, z);
            (dx, b.u(Unary::Neg, q))
        }
        // ties route to the first operand (TF's convention)
        Binary::Maximum => (
            b.route(Cmp::Ge, x, z, g, true),
            b.route(Cmp::Ge, x, z, g, false),
        ),
        Binary::Minimum => (
            b.route(Cmp::Le, x, z, g, true),
            b.route(Cmp::Le, x, z, g, false),
        ),
        // d/da = g·b·a^(b−1); d/db = g·y·ln a, with ln a taken as 0 where
        // a ≤ 0 (as eager `pow`, which masks the log there)
        Binary::Pow => {
            let one = b.c(1.0);
            let zero = b.c(0.0);
            let gb = b.mul(g, z);
            let bm1 = b.b(Binary::Sub, z, one);
            let p = b.b(Binary::Pow, x, bm1);
            let dx = b.mul(gb, p);
            let safe = b.p.select(Cmp::Gt, x, zero, x, one);
            let log = b.u(Unary::Log, safe);
            let log = b.p.select(Cmp::Gt, x, zero, log, zero);
            let gy = b.mul(g, y);
            (dx, b.mul(gy, log))
        }
    }
}

/// `p` without the instructions no output needs, registers renumbered.
fn dead_code_eliminated(p: Program) -> Program {
    let n = p.insts.len();
    let mut live = vec![false; n];
    for out in &p.outputs {
        live[out.reg()] = true;
    }
    for r in (0..n).rev() {
        if live[r] {
            for x in operands(&p.insts[r]) {
                live[x] = true;
            }
        }
    }
    let mut new_reg = vec![usize::MAX; n];
    let mut q = Program::new(p.num_inputs);
    for (r, inst) in p.insts.iter().enumerate() {
        if !live[r] {
            continue;
        }
        let m = |x: Reg| new_reg[x];
        new_reg[r] = q.push(match *inst {
            Inst::Input(_) | Inst::Const(_) => *inst,
            Inst::Unary(op, x) => Inst::Unary(op, m(x)),
            Inst::Binary(op, a, c) => Inst::Binary(op, m(a), m(c)),
            Inst::Select {
                cmp,
                lhs,
                rhs,
                then,
                otherwise,
            } => Inst::Select {
                cmp,
                lhs: m(lhs),
                rhs: m(rhs),
                then: m(then),
                otherwise: m(otherwise),
            },
        });
    }
    for out in &p.outputs {
        q.output(match *out {
            Output::Value(r) => Output::Value(new_reg[r]),
            Output::Sum(r) => Output::Sum(new_reg[r]),
            Output::SumToInput(r, i) => Output::SumToInput(new_reg[r], i),
        });
    }
    q
}

pub(super) fn operands(inst: &Inst) -> Vec<Reg> {
    match *inst {
        Inst::Input(_) | Inst::Const(_) => vec![],
        Inst::Unary(_, x) => vec![x],
        Inst::Binary(_, a, b) => vec![a, b],
        Inst::Select {
            lhs,
            rhs,
            then,
            otherwise,
            ..
        } => vec![lhs, rhs, then, otherwise],
    }
}
