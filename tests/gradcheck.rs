//! Every differentiable row of `ops::registry()` against float64 central
//! differences: the VJP (first order), and the VJP of a projected VJP
//! (second order), at points sampled from the row's `domain`.
//!
//! A row is checked at points inside its domain and away from its kinks (0,
//! and ties of `maximum`/`minimum`) and jumps (`floormod`'s multiples of the
//! divisor), where every row is smooth; so second order runs for every row.

use tapegrad::grad::{self, Unconnected};
use tapegrad::ops::{self, OpFn, OpInfo};
use tapegrad::{Tape, Tensor};

/// A fixed-seed xorshift generator: the same points on every run.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// |v| in [lo, hi], either sign.
    fn magnitude(&mut self, lo: f64, hi: f64) -> f64 {
        let v = self.uniform(lo, hi);
        if self.uniform(0.0, 1.0) < 0.5 { -v } else { v }
    }
}

/// A point of `domain` ("real", "positive", "unit" or "above_one"), kept 0.25 from 0 on
/// the real line (the kinks of abs, relu, elu, …).
fn sample(domain: &str, rng: &mut Rng) -> f64 {
    match domain {
        "real" => rng.magnitude(0.25, 2.0),
        "positive" => rng.uniform(0.5, 2.0),
        "unit" => rng.uniform(-0.9, 0.9),
        "above_one" => rng.uniform(1.5, 3.0),
        other => panic!("unknown domain {other:?}"),
    }
}

/// The inputs of one check: `shapes[i]` filled from the row's domain, with
/// the second operand of a binary row kept apart from the first (no ties)
/// and, for `floormod`, the quotient kept away from whole numbers.
fn inputs(op: &OpInfo, shapes: &[&[usize]], rng: &mut Rng) -> Vec<Vec<f64>> {
    let mut xs: Vec<Vec<f64>> = shapes
        .iter()
        .map(|s| {
            (0..s.iter().product())
                .map(|_| sample(op.domain, rng))
                .collect()
        })
        .collect();
    if op.arity == 2 {
        for v in &mut xs[1] {
            // a grid offset by 1/4 from the first operand's: |a − b| ≥ 0.2 in
            // the common cases, and a/b never near a whole number for floormod
            *v = (*v * 2.0).round() / 2.0 + 0.25 * v.signum();
            if *v == 0.0 {
                *v = 0.75;
            }
        }
        if op.name == "floormod" {
            for v in &mut xs[0] {
                *v = v.signum() * (v.abs() % 1.0).clamp(0.1, 0.4) * 2.0;
            }
            for v in &mut xs[1] {
                *v = v.signum() * 3.0;
            }
        }
    }
    xs
}

fn tensor(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.array::<f64>().unwrap().iter().copied().collect()
}

fn apply(op: &OpInfo, xs: &[Tensor]) -> Tensor {
    match op.kernel {
        OpFn::Unary(f) => f(&xs[0]).unwrap(),
        OpFn::Binary(f) => f(&xs[0], &xs[1]).unwrap(),
    }
}

/// A scalar function of the inputs and its gradient by the tape.
trait Scalar {
    fn value(&self, xs: &[Tensor]) -> f64;
    fn grads(&self, xs: &[Tensor]) -> Vec<Vec<f64>>;
}

/// ⟨u, op(xs)⟩ for a fixed cotangent u.
struct Projected<'a> {
    op: &'a OpInfo,
    u: Vec<f64>,
}

/// ⟨v, ∇ₓ⟨u, op(xs)⟩⟩: its gradient is a second derivative of the op.
struct ProjectedGradient<'a> {
    first: Projected<'a>,
    v: Vec<Vec<f64>>,
}

impl Projected<'_> {
    /// The gradient, differentiable again: taken under `outer` if given.
    fn grad_tensors(&self, xs: &[Tensor]) -> Vec<Tensor> {
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        for x in xs {
            tape.watch(x.id());
        }
        let y = apply(self.op, xs);
        tape.pop();
        let seed = tensor(y.shape(), &self.u);
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
}

impl Scalar for Projected<'_> {
    fn value(&self, xs: &[Tensor]) -> f64 {
        let y = values(&apply(self.op, xs));
        y.iter().zip(&self.u).map(|(a, b)| a * b).sum()
    }

    fn grads(&self, xs: &[Tensor]) -> Vec<Vec<f64>> {
        self.grad_tensors(xs).iter().map(values).collect()
    }
}

impl Scalar for ProjectedGradient<'_> {
    fn value(&self, xs: &[Tensor]) -> f64 {
        let gs = self.first.grads(xs);
        gs.iter()
            .zip(&self.v)
            .flat_map(|(g, v)| g.iter().zip(v).map(|(a, b)| a * b))
            .sum()
    }

    fn grads(&self, xs: &[Tensor]) -> Vec<Vec<f64>> {
        let outer = Tape::new(false, true);
        outer.push().unwrap();
        for x in xs {
            outer.watch(x.id());
        }
        let gs = self.first.grad_tensors(xs);
        let mut total: Option<Tensor> = None;
        for (g, v) in gs.iter().zip(&self.v) {
            let term = ops::reduce_sum(&g.mul(&tensor(g.shape(), v)).unwrap(), None, false);
            let term = term.unwrap();
            total = Some(match total {
                Some(t) => t.add(&term).unwrap(),
                None => term,
            });
        }
        outer.pop();
        let total = total.unwrap();
        let seed = ops::ones_like(&total).unwrap();
        let metas: Vec<_> = xs.iter().map(Tensor::meta).collect();
        grad::gradient(
            outer.take_nodes(),
            &[(total.meta(), seed)],
            &metas,
            Unconnected::Zero,
            &[],
        )
        .unwrap()
        .iter()
        .map(|g| values(g.as_ref().unwrap()))
        .collect()
    }
}

/// Compare `f`'s tape gradient with central differences, element by element.
fn check(name: &str, order: usize, f: &dyn Scalar, shapes: &[&[usize]], xs: &[Vec<f64>]) {
    let tensors: Vec<Tensor> = shapes.iter().zip(xs).map(|(s, v)| tensor(s, v)).collect();
    let analytic = f.grads(&tensors);
    let h = 1e-6;
    for (i, x) in xs.iter().enumerate() {
        assert_eq!(
            analytic[i].len(),
            x.len(),
            "{name}: gradient {i} has the wrong size"
        );
        for k in 0..x.len() {
            let at = |delta: f64| {
                let moved: Vec<Tensor> = shapes
                    .iter()
                    .zip(xs)
                    .enumerate()
                    .map(|(j, (s, v))| {
                        let mut v = v.clone();
                        if j == i {
                            v[k] += delta;
                        }
                        tensor(s, &v)
                    })
                    .collect();
                f.value(&moved)
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            let got = analytic[i][k];
            let tol = 1e-6 * (1.0 + numeric.abs());
            assert!(
                (got - numeric).abs() <= tol,
                "{name}: order {order}, input {i}, element {k} at {xs:?}: tape {got}, central difference {numeric}"
            );
        }
    }
}

#[test]
fn every_differentiable_registry_row_matches_central_differences() {
    let unary: [&[usize]; 3] = [&[], &[5], &[2, 3]];
    let binary: [[&[usize]; 2]; 4] = [
        [&[4], &[4]],
        [&[2, 3], &[2, 3]],
        [&[3, 1], &[1, 4]],
        [&[], &[2, 3]],
    ];
    let mut checked = 0;
    for op in ops::registry().iter().filter(|op| op.differentiable) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15
            ^ op.name.len() as u64
            ^ (op.name.as_bytes()[0] as u64) << 32);
        let cases: Vec<Vec<&[usize]>> = match op.arity {
            1 => unary.iter().map(|s| vec![*s]).collect(),
            _ => binary.iter().map(|s| s.to_vec()).collect(),
        };
        for shapes in &cases {
            let xs = inputs(op, shapes, &mut rng);
            let out_len = apply(
                op,
                &shapes
                    .iter()
                    .zip(&xs)
                    .map(|(s, v)| tensor(s, v))
                    .collect::<Vec<_>>(),
            )
            .numel();
            let first = Projected {
                op,
                u: (0..out_len).map(|_| rng.uniform(-1.0, 1.0)).collect(),
            };
            check(op.name, 1, &first, shapes, &xs);
            let v = xs
                .iter()
                .map(|x| x.iter().map(|_| rng.uniform(-1.0, 1.0)).collect())
                .collect();
            let second = ProjectedGradient { first, v };
            check(op.name, 2, &second, shapes, &xs);
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} differentiable rows");
}
