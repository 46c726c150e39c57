//! Recording, seen from outside: what a tape holds and what each node saved.

use tapegrad::tape::TapeView;
use tapegrad::{Tape, Tensor, ops};

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

#[test]
fn only_the_rules_of_inputs_that_need_a_gradient_run() {
    let a = f64s(&[2, 2]);
    let b = f64s(&[2, 2]);
    let outer = Tape::new(true, true);
    outer.push().unwrap();
    let inner = Tape::new(false, true);
    inner.push().unwrap();
    inner.watch(a.id());
    outer.watch(a.id());
    let y = ops::matmul(&a, &b, false, false).unwrap();
    inner.pop();
    let seed = ops::ones_like(&y).unwrap();
    outer.watch(seed.id());
    let g = tapegrad::grad::gradient(
        inner.take_nodes(),
        &[(y.meta(), seed)],
        &[a.meta()],
        tapegrad::Unconnected::None,
        &[],
    )
    .unwrap();
    outer.pop();
    assert!(g[0].is_some());
    // the forward MatMul, then the backward pass: dA = G·Bᵀ only (b is a
    // constant, so its rule never ran)
    let ops_seen: Vec<&str> = outer.inspect().nodes.iter().map(|n| n.op).collect();
    assert_eq!(ops_seen, ["MatMul", "MatMul"]);
}

/// Large enough for the tape to remake a saved product (`REMAKE_MIN_BYTES`).
fn large(seed: f64) -> Tensor {
    let n = tapegrad::tape::REMAKE_MIN_BYTES / 8 + 3;
    Tensor::from_vec(
        &[n],
        (0..n).map(|i| (i as f64 * 1e-3 + seed).sin()).collect(),
    )
    .unwrap()
}

fn f64_values(t: &Tensor) -> Vec<f64> {
    match t.data() {
        tapegrad::tensor::Data::F64(a) => a.iter().copied().collect(),
        _ => panic!("not float64"),
    }
}

/// d(Σ target)/d source through what `tape` recorded (its nodes handed over).
fn gradient_of(tape: &Tape, target: &Tensor, source: &Tensor) -> Tensor {
    let seed = ops::ones_like(target).unwrap();
    let g = tapegrad::grad::gradient(
        tape.take_nodes(),
        &[(target.meta(), seed)],
        &[source.meta()],
        tapegrad::Unconnected::None,
        &[],
    )
    .unwrap();
    g[0].clone().unwrap()
}

/// d/dx Σ forward(), recorded by one tape watching `x` and `others` (with a
/// second tape recording too when `second_tape`): (gradient, bytes the
/// tape saved).
fn recorded_gradient(
    x: &Tensor,
    others: &[&Tensor],
    second_tape: bool,
    forward: impl FnOnce() -> Tensor,
) -> (Vec<f64>, usize) {
    let tape = Tape::new(false, true);
    let other = Tape::new(false, true);
    if second_tape {
        other.push().unwrap();
    }
    tape.push().unwrap();
    tape.watch(x.id());
    others.iter().for_each(|t| tape.watch(t.id()));
    let y = forward();
    tape.pop();
    other.pop();
    let saved = tape.inspect().saved_bytes;
    (f64_values(&gradient_of(&tape, &y, x)), saved)
}

/// d/dx Σ sin(x·w) on the given tape stack: (gradient, bytes the tape saved).
fn sin_of_product_gradient(x: &Tensor, w: &Tensor, second_tape: bool) -> (Vec<f64>, usize) {
    recorded_gradient(x, &[w], second_tape, || {
        let product = ops::multiply(x, w).unwrap();
        ops::sin(&product).unwrap()
        // (the product itself is dropped here, as a program's temporary is)
    })
}

#[test]
fn a_large_product_saved_by_the_next_op_is_remade_not_kept() {
    let (x, w) = (large(0.0), large(1.0));
    let bytes = x.numel() * 8;
    // one tape: sin's node keeps no buffer of its own (x and w are the
    // product's saves); two tapes: nothing is remade
    let (remade, saved_remade) = sin_of_product_gradient(&x, &w, false);
    let (kept, saved_kept) = sin_of_product_gradient(&x, &w, true);
    assert_eq!((saved_remade, saved_kept), (2 * bytes, 3 * bytes));
    // bitwise the gradient of the kept value: cos(x·w)·w
    assert_eq!(remade, kept);
    let (xs, ws) = (f64_values(&x), f64_values(&w));
    for ((g, x), w) in remade.iter().zip(&xs).zip(&ws) {
        assert_eq!(*g, (x * w).cos() * w);
    }
}

#[test]
fn a_remade_value_keeps_its_id_for_an_outer_tape() {
    // the outer tape starts after the forward pass and watches the product:
    // the backward pass's ops read the remade value under the product's id,
    // so d/dp of the gradient cos(p)·w is −sin(p)·w, as with the kept value
    let (x, w) = (large(0.0), large(1.0));
    let tape = Tape::new(false, true);
    tape.push().unwrap();
    tape.watch(x.id());
    tape.watch(w.id());
    let product = ops::multiply(&x, &w).unwrap();
    let y = ops::sin(&product).unwrap();
    tape.pop();
    assert_eq!(tape.inspect().saved_bytes, 2 * x.numel() * 8);
    let outer = Tape::new(false, true);
    outer.push().unwrap();
    outer.watch(product.id());
    let g = gradient_of(&tape, &y, &x);
    outer.pop();
    let gg = f64_values(&gradient_of(&outer, &g, &product));
    let (ps, ws) = (f64_values(&product), f64_values(&w));
    for ((h, p), w) in gg.iter().zip(&ps).zip(&ws) {
        assert_eq!(*h, -p.sin() * w);
    }
}

/// d/dx Σ sinⁿ(tanh(x)) (n sines) on the given tape stack: (gradient,
/// bytes the tape saved).
fn sines_of_tanh_gradient(x: &Tensor, n: usize, second_tape: bool) -> (Vec<f64>, usize) {
    recorded_gradient(x, &[], second_tape, || {
        (0..n).fold(ops::tanh(x).unwrap(), |y, _| ops::sin(&y).unwrap())
    })
}

#[test]
fn a_chain_of_unary_ops_is_remade_from_one_kept_value_a_few_ops_deep() {
    // tanh keeps its output t; each sine keeps its input, which is made
    // again from t through the sines before it, up to MAX_REMAKE_OPS of
    // them: the next one keeps its input, and the count starts again
    let x = large(0.5);
    let bytes = x.numel() * 8;
    let n = tapegrad::tape::MAX_REMAKE_OPS + 3;
    let (remade, saved_remade) = sines_of_tanh_gradient(&x, n, false);
    let (kept, saved_kept) = sines_of_tanh_gradient(&x, n, true);
    assert_eq!((saved_remade, saved_kept), (2 * bytes, n * bytes));
    assert_eq!(remade, kept);
}
