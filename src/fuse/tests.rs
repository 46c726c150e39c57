use std::sync::Arc;

use super::*;
use crate::grad::{self, Unconnected};
use crate::kernels::PAR_MIN_LEN;
use crate::ops;
use crate::tape::Tape;
use crate::tensor::Element;

/// A fixed-seed xorshift generator.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

fn random<T: Element + crate::dtype::Num>(
    rng: &mut Rng,
    shape: &[usize],
    lo: f64,
    hi: f64,
) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<T> = (0..n).map(|_| T::from_f64(rng.uniform(lo, hi))).collect();
    Tensor::from_vec(shape, v).unwrap()
}

fn bits(t: &Tensor) -> Vec<u64> {
    match t.data() {
        crate::tensor::Data::F32(a) => a.iter().map(|v| v.to_bits() as u64).collect(),
        crate::tensor::Data::F64(a) => a.iter().map(|v| v.to_bits()).collect(),
        _ => panic!("float tensors only"),
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    let t = ops::cast(t, crate::DType::F64).unwrap();
    t.array::<f64>().unwrap().iter().copied().collect()
}

const UNARY: [Unary; 18] = [
    Unary::Neg,
    Unary::Abs,
    Unary::Sign,
    Unary::Square,
    Unary::Exp,
    Unary::Log,
    Unary::Log1p,
    Unary::Expm1,
    Unary::Sqrt,
    Unary::Rsqrt,
    Unary::Reciprocal,
    Unary::Sin,
    Unary::Cos,
    Unary::Tanh,
    Unary::Sigmoid,
    Unary::Relu,
    Unary::Softplus,
    Unary::Erf,
];

const BINARY: [Binary; 7] = [
    Binary::Add,
    Binary::Sub,
    Binary::Mul,
    Binary::Div,
    Binary::Maximum,
    Binary::Minimum,
    Binary::Pow,
];

fn eager_unary(op: Unary, x: &Tensor) -> Result<Tensor> {
    match op {
        Unary::Neg => ops::negative(x),
        Unary::Abs => ops::abs(x),
        Unary::Sign => ops::sign(x),
        Unary::Square => ops::square(x),
        Unary::Exp => ops::exp(x),
        Unary::Log => ops::log(x),
        Unary::Log1p => ops::log1p(x),
        Unary::Expm1 => ops::expm1(x),
        Unary::Sqrt => ops::sqrt(x),
        Unary::Rsqrt => ops::rsqrt(x),
        Unary::Reciprocal => ops::reciprocal(x),
        Unary::Sin => ops::sin(x),
        Unary::Cos => ops::cos(x),
        Unary::Tanh => ops::tanh(x),
        Unary::Sigmoid => ops::sigmoid(x),
        Unary::Relu => ops::relu(x),
        Unary::Softplus => ops::softplus(x),
        Unary::Erf => ops::erf(x),
    }
}

fn eager_binary(op: Binary, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    match op {
        Binary::Add => ops::add(a, b),
        Binary::Sub => ops::subtract(a, b),
        Binary::Mul => ops::multiply(a, b),
        Binary::Div => ops::divide(a, b),
        Binary::Maximum => ops::maximum(a, b),
        Binary::Minimum => ops::minimum(a, b),
        Binary::Pow => ops::pow(a, b),
    }
}

/// Domain of an op's first operand: positive where the op needs it.
fn domain_unary(op: Unary) -> (f64, f64) {
    match op {
        Unary::Log | Unary::Sqrt | Unary::Rsqrt | Unary::Reciprocal | Unary::Log1p => (0.05, 30.0),
        _ => (-6.0, 6.0),
    }
}

fn unary_program(op: Unary) -> Arc<Program> {
    let mut p = Program::new(1);
    let x = p.input(0);
    let y = p.unary(op, x);
    p.output(Output::Value(y));
    Arc::new(p)
}

fn binary_program(op: Binary) -> Arc<Program> {
    let mut p = Program::new(2);
    let (a, b) = (p.input(0), p.input(1));
    let y = p.binary(op, a, b);
    p.output(Output::Value(y));
    Arc::new(p)
}

// Sizes across the block (4096) and parallel (PAR_MIN_LEN) boundaries.
const SIZES: [usize; 4] = [1, 4095, 9000, PAR_MIN_LEN + 4097];

fn unary_bitwise<T: Element + crate::dtype::Num>() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for op in UNARY {
        let (lo, hi) = domain_unary(op);
        for n in SIZES {
            let x = random::<T>(&mut rng, &[n], lo, hi);
            let fused = &apply(&unary_program(op), std::slice::from_ref(&x)).unwrap()[0];
            let eager = eager_unary(op, &x).unwrap();
            assert_eq!(bits(fused), bits(&eager), "{op:?} over {n} elements");
        }
    }
}

#[test]
fn every_unary_instruction_is_bitwise_the_eager_op() {
    unary_bitwise::<f32>();
    unary_bitwise::<f64>();
}

fn binary_bitwise<T: Element + crate::dtype::Num>() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[PAR_MIN_LEN + 5], &[PAR_MIN_LEN + 5]),
        (&[3000], &[]),
        (&[], &[3000]),
        (&[300, 1], &[1, 70]),
        (&[2, 1, 9000], &[3, 1]),
        (&[40, 1000], &[1000]),
    ];
    for op in BINARY {
        for (sa, sb) in shapes {
            // pow: a positive base, so that every exponent is defined
            let a = random::<T>(&mut rng, sa, 0.1, 3.0);
            let b = random::<T>(&mut rng, sb, -3.0, 3.0);
            let fused = &apply(&binary_program(op), &[a.clone(), b.clone()]).unwrap()[0];
            let eager = eager_binary(op, &a, &b).unwrap();
            assert_eq!(fused.shape(), eager.shape());
            assert_eq!(bits(fused), bits(&eager), "{op:?} of {sa:?} and {sb:?}");
        }
        // pow's small integer exponents take eager's product path
        for k in [1.0, 2.0, 3.0] {
            let a = random::<T>(&mut rng, &[5000], -3.0, 3.0);
            let b = Tensor::scalar_of(T::DTYPE, k);
            let fused = &apply(&binary_program(Binary::Pow), &[a.clone(), b.clone()]).unwrap()[0];
            assert_eq!(bits(fused), bits(&ops::pow(&a, &b).unwrap()), "pow {k}");
        }
    }
}

#[test]
fn every_binary_instruction_is_bitwise_the_eager_op_under_broadcasting() {
    binary_bitwise::<f32>();
    binary_bitwise::<f64>();
}

#[test]
fn select_is_eager_where_of_a_comparison() {
    let mut rng = Rng(7);
    let a = random::<f32>(&mut rng, &[50, 40], -1.0, 1.0);
    let b = random::<f32>(&mut rng, &[40], -1.0, 1.0);
    let mut p = Program::new(2);
    let (x, y) = (p.input(0), p.input(1));
    let s = p.select(Cmp::Ge, x, y, x, y);
    p.output(Output::Value(s));
    let fused = &apply(&Arc::new(p), &[a.clone(), b.clone()]).unwrap()[0];
    let eager = ops::where_(&ops::greater_equal(&a, &b).unwrap(), &a, &b).unwrap();
    assert_eq!(bits(fused), bits(&eager));
}

#[test]
fn results_read_later_and_inputs_handed_back_are_eager() {
    // More than one block (and thread): `t = tanh(x·y)` is a result that a
    // later instruction reads, `t + x` one that nothing reads, and `y` an
    // input handed back as a result (a new tensor), also summed down to a
    // broadcast input's shape.
    let mut rng = Rng(11);
    let a = random::<f32>(&mut rng, &[300, 70], -2.0, 2.0);
    let b = random::<f32>(&mut rng, &[300, 70], -2.0, 2.0);
    let row = random::<f32>(&mut rng, &[70], -2.0, 2.0);
    let mut p = Program::new(3);
    let (x, y, r) = (p.input(0), p.input(1), p.input(2));
    let xy = p.binary(Binary::Mul, x, y);
    let t = p.unary(Unary::Tanh, xy);
    let u = p.binary(Binary::Add, t, x);
    let v = p.binary(Binary::Mul, u, r);
    p.output(Output::Value(t));
    p.output(Output::Value(v));
    p.output(Output::Value(y));
    p.output(Output::SumToInput(y, 2));
    let out = apply(&Arc::new(p), &[a.clone(), b.clone(), row.clone()]).unwrap();
    let t_eager = ops::tanh(&ops::multiply(&a, &b).unwrap()).unwrap();
    let v_eager = ops::multiply(&ops::add(&t_eager, &a).unwrap(), &row).unwrap();
    assert_eq!(bits(&out[0]), bits(&t_eager));
    assert_eq!(bits(&out[1]), bits(&v_eager));
    assert_eq!(bits(&out[2]), bits(&b));
    assert_ne!(out[2].id(), b.id());
    let summed = ops::sum_to_shape(&b, &[70]).unwrap();
    assert_eq!(bits(&out[3]), bits(&summed));
}

/// The W2/W3/W6 cycle of `benches`: sin, ×0.5, +x, tanh, exp, ×0.5, y·y,
/// cos, ×x; `reps` times, with a full sum at the end when `sum`.
pub(crate) fn cycle_program(reps: usize, sum: bool) -> Arc<Program> {
    let mut p = Program::new(1);
    let x = p.input(0);
    let half = p.constant(0.5);
    let mut y = x;
    for _ in 0..reps {
        y = p.unary(Unary::Sin, y);
        y = p.binary(Binary::Mul, y, half);
        y = p.binary(Binary::Add, y, x);
        y = p.unary(Unary::Tanh, y);
        y = p.unary(Unary::Exp, y);
        y = p.binary(Binary::Mul, y, half);
        y = p.binary(Binary::Mul, y, y);
        y = p.unary(Unary::Cos, y);
        y = p.binary(Binary::Mul, y, x);
    }
    p.output(if sum {
        Output::Sum(y)
    } else {
        Output::Value(y)
    });
    Arc::new(p)
}

pub(crate) fn cycle_eager(x: &Tensor, reps: usize) -> Tensor {
    let half = Tensor::scalar_of(x.dtype(), 0.5);
    let mut y = x.clone();
    for _ in 0..reps {
        y = ops::sin(&y).unwrap().mul(&half).unwrap().add(x).unwrap();
        y = ops::exp(&ops::tanh(&y).unwrap())
            .unwrap()
            .mul(&half)
            .unwrap();
        y = y.mul(&y).unwrap();
        y = ops::cos(&y).unwrap().mul(x).unwrap();
    }
    y
}

#[test]
fn the_cycle_chain_and_its_sum_are_bitwise_eager() {
    let mut rng = Rng(11);
    for n in [100, PAR_MIN_LEN * 3 + 17] {
        let x = random::<f32>(&mut rng, &[n], -2.0, 2.0);
        let eager = cycle_eager(&x, 2);
        let fused = &apply(&cycle_program(2, false), std::slice::from_ref(&x)).unwrap()[0];
        assert_eq!(bits(fused), bits(&eager));
        // the fused sum adds eager's chunks in eager's order
        let fused_sum = &apply(&cycle_program(2, true), std::slice::from_ref(&x)).unwrap()[0];
        let eager_sum = ops::reduce_sum(&eager, None, false).unwrap();
        assert_eq!(fused_sum.shape(), &[] as &[usize]);
        assert_eq!(bits(fused_sum), bits(&eager_sum));
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = Rng(5);
    let x = random::<f32>(&mut rng, &[PAR_MIN_LEN * 4 + 3], -2.0, 2.0);
    let eval =
        |sum: bool| bits(&apply(&cycle_program(1, sum), std::slice::from_ref(&x)).unwrap()[0]);
    let on_pool = |threads: usize, sum: bool| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| eval(sum))
    };
    for sum in [true, false] {
        // split by rayon on a pool thread, alone, and shared from outside
        // the pool (this thread) the way the eager kernels share theirs
        assert_eq!(on_pool(1, sum), on_pool(3, sum));
        assert_eq!(on_pool(1, sum), eval(sum));
    }
}

/// Gradients of `f(xs)` (a scalar) by the tape, differentiable again when
/// an outer tape records.
fn tape_gradient(f: &dyn Fn(&[Tensor]) -> Tensor, xs: &[Tensor]) -> Vec<Tensor> {
    let tape = Tape::new(false, true);
    tape.push().unwrap();
    for x in xs {
        tape.watch(x.id());
    }
    let y = f(xs);
    tape.pop();
    let seed = ops::ones_like(&y).unwrap();
    let metas: Vec<_> = xs.iter().map(Tensor::meta).collect();
    grad::gradient(
        tape.take_nodes(),
        &[(y.meta(), seed)],
        &metas,
        Unconnected::Zero,
        &[],
    )
    .unwrap()
    .into_iter()
    .map(Option::unwrap)
    .collect()
}

/// A program of two broadcast inputs that uses every instruction: its
/// first input full shaped, the second a row (broadcast over the rows).
fn every_op_program() -> Arc<Program> {
    let mut p = Program::new(2);
    let (x, w) = (p.input(0), p.input(1));
    let xw = p.binary(Binary::Mul, x, w);
    let mut terms = Vec::new();
    for op in UNARY {
        // a positive argument for the ops that need one
        let arg = match op {
            Unary::Log | Unary::Sqrt | Unary::Rsqrt | Unary::Reciprocal | Unary::Log1p => {
                let s = p.unary(Unary::Square, xw);
                let one = p.constant(1.0);
                p.binary(Binary::Add, s, one)
            }
            _ => xw,
        };
        terms.push(p.unary(op, arg));
    }
    for op in BINARY {
        let a = match op {
            Binary::Pow => p.unary(Unary::Exp, x),
            _ => x,
        };
        terms.push(p.binary(op, a, w));
    }
    let zero = p.constant(0.0);
    terms.push(p.select(Cmp::Gt, x, zero, xw, w));
    let mut total = terms[0];
    for &t in &terms[1..] {
        total = p.binary(Binary::Add, total, t);
    }
    p.output(Output::Sum(total));
    Arc::new(p)
}

/// Central differences of a scalar function, element by element.
fn numeric_gradient(f: &dyn Fn(&[Tensor]) -> f64, xs: &[Tensor]) -> Vec<Vec<f64>> {
    let h = 1e-6;
    (0..xs.len())
        .map(|i| {
            let base = values(&xs[i]);
            (0..base.len())
                .map(|k| {
                    let at = |d: f64| {
                        let mut v = base.clone();
                        v[k] += d;
                        let mut moved = xs.to_vec();
                        moved[i] = Tensor::from_vec(xs[i].shape(), v).unwrap();
                        f(&moved)
                    };
                    (at(h) - at(-h)) / (2.0 * h)
                })
                .collect()
        })
        .collect()
}

fn assert_close(name: &str, analytic: &[Tensor], numeric: &[Vec<f64>]) {
    for (a, n) in analytic.iter().zip(numeric) {
        let a = values(a);
        assert_eq!(a.len(), n.len(), "{name}: gradient shape");
        for (k, (x, y)) in a.iter().zip(n).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                "{name}[{k}]: {x} vs numeric {y}"
            );
        }
    }
}

#[test]
fn gradients_of_every_instruction_match_central_differences_to_second_order() {
    let mut rng = Rng(3);
    // away from the kinks of abs, relu, sign, max/min ties and select
    let x = Tensor::from_vec(
        &[3, 4],
        (0..12)
            .map(|k| {
                (0.3 + 0.1 * rng.uniform(0.0, 1.0))
                    * if k % 2 == 0 { 1.0 } else { -1.0 }
                    * (1.0 + k as f64 / 6.0)
            })
            .collect::<Vec<f64>>(),
    )
    .unwrap();
    let w = Tensor::from_vec(&[4], vec![0.7, -1.3, 1.1, -0.45]).unwrap();
    let program = every_op_program();
    let f = |xs: &[Tensor]| apply(&program, xs).unwrap().remove(0);
    let first = tape_gradient(&f, &[x.clone(), w.clone()]);
    assert_eq!(
        first[1].shape(),
        &[4],
        "the row's gradient is summed over the rows"
    );
    let value = |xs: &[Tensor]| values(&f(xs))[0];
    assert_close(
        "first order",
        &first,
        &numeric_gradient(&value, &[x.clone(), w.clone()]),
    );

    // ⟨v, ∇f⟩ differentiated again: the VJP is itself a fused, recorded program
    let v: Vec<Tensor> = vec![
        random::<f64>(&mut rng, &[3, 4], -1.0, 1.0),
        random::<f64>(&mut rng, &[4], -1.0, 1.0),
    ];
    let projected = |xs: &[Tensor]| {
        let g = tape_gradient(&f, xs);
        let a = ops::reduce_sum(&g[0].mul(&v[0]).unwrap(), None, false).unwrap();
        let b = ops::reduce_sum(&g[1].mul(&v[1]).unwrap(), None, false).unwrap();
        a.add(&b).unwrap()
    };
    let second = tape_gradient(&projected, &[x.clone(), w.clone()]);
    let projected_value = |xs: &[Tensor]| values(&projected(xs))[0];
    assert_close(
        "second order",
        &second,
        &numeric_gradient(&projected_value, &[x.clone(), w.clone()]),
    );
}

#[test]
fn the_cycle_gradient_is_bitwise_eager_and_records_one_node() {
    let mut rng = Rng(13);
    let x = random::<f32>(&mut rng, &[PAR_MIN_LEN + 100], -2.0, 2.0);
    let program = cycle_program(1, false);
    let fused =
        |xs: &[Tensor]| ops::reduce_sum(&apply(&program, xs).unwrap()[0], None, false).unwrap();
    let eager = |xs: &[Tensor]| ops::reduce_sum(&cycle_eager(&xs[0], 1), None, false).unwrap();
    let gf = tape_gradient(&fused, std::slice::from_ref(&x));
    let ge = tape_gradient(&eager, std::slice::from_ref(&x));
    // eager adds x's two gradient contributions (through `+ x` and `× x`) in
    // the tape's order; the fused backward in reverse program order: the
    // same two terms, so the same sum (a + b = b + a bitwise)
    assert_eq!(bits(&gf[0]), bits(&ge[0]));

    let tape = Tape::new(false, true);
    tape.push().unwrap();
    tape.watch(x.id());
    let _ = apply(&program, std::slice::from_ref(&x)).unwrap();
    tape.pop();
    assert_eq!(tape.num_nodes(), 1);
}

#[test]
fn broadcast_inputs_get_gradients_of_their_own_shape() {
    let mut rng = Rng(17);
    let x = random::<f64>(&mut rng, &[30, 20], -1.0, 1.0);
    let row = random::<f64>(&mut rng, &[20], -1.0, 1.0);
    let col = random::<f64>(&mut rng, &[30, 1], -1.0, 1.0);
    let scalar = Tensor::scalar_of(crate::DType::F64, 0.7);
    let mut p = Program::new(4);
    let (a, b, c, d) = (p.input(0), p.input(1), p.input(2), p.input(3));
    let t = p.binary(Binary::Mul, a, b);
    let t = p.binary(Binary::Add, t, c);
    let t = p.binary(Binary::Mul, t, d);
    let t = p.unary(Unary::Tanh, t);
    p.output(Output::Value(t));
    let program = Arc::new(p);
    let xs = [x, row, col, scalar];
    let fused =
        |xs: &[Tensor]| ops::reduce_sum(&apply(&program, xs).unwrap()[0], None, false).unwrap();
    let eager = |xs: &[Tensor]| {
        let t = xs[0]
            .mul(&xs[1])
            .unwrap()
            .add(&xs[2])
            .unwrap()
            .mul(&xs[3])
            .unwrap();
        ops::reduce_sum(&ops::tanh(&t).unwrap(), None, false).unwrap()
    };
    let gf = tape_gradient(&fused, &xs);
    let ge = tape_gradient(&eager, &xs);
    for (f, e) in gf.iter().zip(&ge) {
        assert_eq!(f.shape(), e.shape());
        for (a, b) in values(f).iter().zip(values(e)) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

#[test]
fn the_backward_recomputes_from_the_inputs_alone() {
    let back = cycle_program(3, true).backward();
    // inputs: x and the upstream gradient of the sum; no activation
    assert_eq!(back.num_inputs(), 2);
    assert_eq!(
        back.outputs(),
        &[Output::SumToInput(back.outputs()[0].reg(), 0)]
    );
}

#[test]
fn bad_programs_and_inputs_are_errors() {
    let mut p = Program::new(1);
    p.push(Inst::Unary(Unary::Exp, 3));
    p.output(Output::Value(0));
    let x = Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap();
    assert!(apply(&Arc::new(p), std::slice::from_ref(&x)).is_err());
    let add = binary_program(Binary::Add);
    let y = Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap();
    assert!(matches!(
        apply(&add, &[x.clone(), y]),
        Err(Error::DTypeMismatch { .. })
    ));
    assert!(apply(&add, std::slice::from_ref(&x)).is_err());
    let z = Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap();
    assert!(matches!(
        apply(&add, &[x, z]),
        Err(Error::ShapeMismatch { .. }) | Err(Error::InvalidArgument { .. })
    ));
    let ints = Tensor::from_vec(&[2], vec![1i32, 2]).unwrap();
    assert!(matches!(
        apply(&add, &[ints.clone(), ints]),
        Err(Error::UnsupportedDType { .. })
    ));
}

#[test]
fn selects_against_a_uniform_or_a_slice_are_eager_where_of_a_comparison() {
    // relu's routes and their mirror images: the loops of their own
    let mut rng = Rng(23);
    let a = random::<f32>(&mut rng, &[9000], -1.0, 1.0);
    let b = random::<f32>(&mut rng, &[9000], -1.0, 1.0);
    let zero = Tensor::scalar_of(crate::DType::F32, 0.0);
    let half = Tensor::scalar_of(crate::DType::F32, 0.5);
    for cmp in [Cmp::Gt, Cmp::Ge, Cmp::Lt, Cmp::Le, Cmp::Eq] {
        for (rhs_slice, then_slice) in [(false, true), (false, false), (true, true), (true, false)]
        {
            let mut p = Program::new(2);
            let (x, y) = (p.input(0), p.input(1));
            let (z, h) = (p.constant(0.0), p.constant(0.5));
            let rhs = if rhs_slice { y } else { z };
            let (t, f) = if then_slice { (y, h) } else { (h, y) };
            let s = p.select(cmp, x, rhs, t, f);
            p.output(Output::Value(s));
            let fused = &apply(&Arc::new(p), &[a.clone(), b.clone()]).unwrap()[0];
            let rhs = if rhs_slice { &b } else { &zero };
            let mask = match cmp {
                Cmp::Gt => ops::greater(&a, rhs),
                Cmp::Ge => ops::greater_equal(&a, rhs),
                Cmp::Lt => ops::less(&a, rhs),
                Cmp::Le => ops::less_equal(&a, rhs),
                Cmp::Eq => ops::equal(&a, rhs),
            }
            .unwrap();
            let (t, f) = if then_slice { (&b, &half) } else { (&half, &b) };
            let eager = ops::where_(&mask, t, f).unwrap();
            assert_eq!(
                bits(fused),
                bits(&eager),
                "{cmp:?} {rhs_slice} {then_slice}"
            );
        }
    }
}
