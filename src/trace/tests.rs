use std::sync::Arc;

use super::capture::free_after;
use super::*;
use crate::ops;
use crate::tape::Tape;
use crate::tensor::TensorMeta;
use crate::variable::Variable;

fn vec1(v: &[f32]) -> Tensor {
    Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.array::<f32>().unwrap().iter().copied().collect()
}

/// `f` run eagerly on `x` while capturing, as the hooks would record it.
fn traced_op(name: &'static str, xs: &[Tensor], f: fn(&[Tensor]) -> Result<Tensor>) -> Tensor {
    let out = f(xs).unwrap();
    record_op(
        name,
        xs,
        std::slice::from_ref(&out),
        kernel(move |xs| Ok(vec![f(xs)?])),
    );
    out
}

fn done(o: Outcome) -> Vec<Tensor> {
    match o {
        Outcome::Done(v) => v,
        Outcome::GuardFailed(why) => panic!("guard failed: {why}"),
    }
}

#[test]
fn a_chain_replays_on_new_inputs_and_frees_each_slot_after_its_last_reader() {
    let x = vec1(&[1.0, 2.0]);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    // (atan and sinh are not fused, so each op stays a step)
    let a = traced_op("atan", std::slice::from_ref(&x), |xs| ops::atan(&xs[0]));
    let b = traced_op("mul", &[a.clone(), x.clone()], |xs| {
        ops::multiply(&xs[0], &xs[1])
    });
    let c = traced_op("sinh", &[b], |xs| ops::sinh(&xs[0]));
    let plan = finish(&[c.clone(), x.clone()]).unwrap();
    assert_eq!(plan.len(), 3);
    // x (slot 0) and c (slot 3) are outputs; a dies after step 1, b after 2
    assert_eq!(free_after(&plan), &[vec![], vec![1], vec![2]]);

    let y = vec1(&[0.5, -3.0]);
    let out = done(plan.run(&[Arg::Tensor(y.clone())]).unwrap());
    let eager = ops::sinh(&ops::multiply(&ops::atan(&y).unwrap(), &y).unwrap()).unwrap();
    assert_eq!(values(&out[0]), values(&eager));
    assert_eq!(out[1].id(), y.id());
    // another shape is another trace
    let z = vec1(&[1.0]);
    assert!(matches!(
        plan.run(&[Arg::Tensor(z)]).unwrap(),
        Outcome::GuardFailed(_)
    ));
}

#[test]
fn tensors_from_before_the_trace_and_constants_are_captured_by_value() {
    let before = vec1(&[10.0, 20.0]);
    let x = vec1(&[1.0, 2.0]);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let host = vec1(&[100.0, 200.0]);
    constant(&host);
    let a = traced_op("add", &[x.clone(), before], |xs| ops::add(&xs[0], &xs[1]));
    let b = traced_op("add", &[a, host], |xs| ops::add(&xs[0], &xs[1]));
    let plan = finish(&[b]).unwrap();
    let out = done(plan.run(&[Arg::Tensor(vec1(&[0.0, 1.0]))]).unwrap());
    assert_eq!(values(&out[0]), vec![110.0, 221.0]);
}

#[test]
fn a_tensor_made_during_the_trace_without_a_step_makes_finish_fail() {
    let x = vec1(&[1.0]);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let unrecorded = ops::sin(&x).unwrap(); // an op no hook saw
    traced_op("exp", &[unrecorded], |xs| ops::exp(&xs[0]));
    let err = finish(&[]).err().unwrap();
    assert!(matches!(&err, TraceError::Unsupported(m) if m.contains("input 0 of exp")));
    assert!(!is_tracing());
}

#[test]
fn a_guard_stops_the_replay_when_the_value_python_read_changes() {
    let x = vec1(&[1.0]);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let positive = traced_op("greater", std::slice::from_ref(&x), |xs| {
        ops::greater(&xs[0], &Tensor::from_vec(&[1], vec![0.0f32])?)
    });
    guard_truth(&positive, true);
    let y = traced_op("exp", std::slice::from_ref(&x), |xs| ops::exp(&xs[0]));
    let plan = finish(&[y]).unwrap();
    assert!(matches!(
        plan.run(&[Arg::Tensor(vec1(&[2.0]))]).unwrap(),
        Outcome::Done(_)
    ));
    assert!(matches!(
        plan.run(&[Arg::Tensor(vec1(&[-2.0]))]).unwrap(),
        Outcome::GuardFailed(_)
    ));
}

#[test]
fn variables_are_read_at_replay_and_updates_before_a_failed_guard_are_undone() {
    let v = Arc::new(Variable::new(vec1(&[1.0]), true));
    let x = vec1(&[1.0]);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let r = read_variable(&v);
    update_variable(&v, Update::Add, &x).unwrap();
    guard_truth(&x, true);
    let plan = finish(&[r]).unwrap();
    assert_eq!(values(&v.peek()), vec![2.0]);
    // replay: reads 2, adds 3
    let out = done(plan.run(&[Arg::Tensor(vec1(&[3.0]))]).unwrap());
    assert_eq!((values(&out[0]), values(&v.peek())), (vec![2.0], vec![5.0]));
    // x = 0 fails the guard after the update: the update is undone
    let failed = plan.run(&[Arg::Tensor(vec1(&[0.0]))]).unwrap();
    assert!(matches!(failed, Outcome::GuardFailed(_)));
    assert_eq!(values(&v.peek()), vec![5.0]);
}

#[test]
fn a_tape_made_inside_the_trace_differentiates_each_replay() {
    let x = vec1(&[0.5, 1.5]);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let tape = Tape::new(false, true);
    tape_new(&tape, false, true);
    tape.push().unwrap();
    tape_step(&tape, TapeStep::Push);
    tape.watch(x.id());
    tape_watch(&tape, &Arg::Tensor(x.clone()));
    let y = traced_op("sin", std::slice::from_ref(&x), |xs| ops::sin(&xs[0]));
    tape.pop();
    tape_step(&tape, TapeStep::Pop);
    let grads = gradient_on(&tape, &y, &x);
    tape_gradient(
        &tape,
        crate::grad::Kind::Gradient,
        &[Arg::Tensor(y.clone())],
        &[None],
        &[Arg::Tensor(x.clone())],
        false,
        &grads,
    );
    let plan = finish(&[grads[0].clone().unwrap()]).unwrap();
    let z = vec1(&[0.0, 2.0]);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    assert_eq!(values(&out[0]), values(&ops::cos(&z).unwrap()));
    assert!(!crate::tape::is_recording());
}

#[test]
fn nesting_a_trace_is_refused_and_abort_forgets_the_record() {
    begin(&[]).unwrap();
    assert!(matches!(begin(&[]), Err(TraceError::State(_))));
    abort();
    assert!(!is_tracing());
    assert!(matches!(finish(&[]), Err(TraceError::State(_))));
}

// ---- fusion of elementwise runs (optimize.rs), one test per rule ----

fn bits(t: &Tensor) -> Vec<u32> {
    values(t).iter().map(|v| v.to_bits()).collect()
}

fn steps_named(plan: &Plan, name: &str) -> usize {
    plan.steps
        .iter()
        .filter(|s| matches!(s, super::plan::Step::Op { name: n, .. } if *n == name))
        .count()
}

fn un(name: &'static str, y: &Tensor, f: fn(&[Tensor]) -> Result<Tensor>) -> Tensor {
    traced_op(name, std::slice::from_ref(y), f)
}

fn bin(name: &'static str, a: &Tensor, b: &Tensor, f: fn(&[Tensor]) -> Result<Tensor>) -> Tensor {
    traced_op(name, &[a.clone(), b.clone()], f)
}

/// `y * c` for a host number `c`, as the `*` operator records it.
fn times_host(y: &Tensor, c: f64) -> Tensor {
    let c = Tensor::scalar_of(y.dtype(), c);
    constant(&c);
    bin("operator", y, &c, |xs| ops::multiply(&xs[0], &xs[1]))
}

fn sum_all(y: &Tensor) -> Tensor {
    un("reduce_sum", y, |xs| ops::reduce_sum(&xs[0], None, false))
}

/// The benchmark's tape-overhead chain (sin, ·½, +x, tanh, exp, ·½, y·y,
/// cos, ·x, …) of `n` ops, summed.
fn chain(x: &Tensor, n: usize) -> Tensor {
    let mut y = x.clone();
    for i in 0..n {
        y = match i % 9 {
            0 => un("sin", &y, |xs| ops::sin(&xs[0])),
            1 | 5 => times_host(&y, 0.5),
            2 => bin("operator", &y, x, |xs| ops::add(&xs[0], &xs[1])),
            3 => un("tanh", &y, |xs| ops::tanh(&xs[0])),
            4 => un("exp", &y, |xs| ops::exp(&xs[0])),
            6 => bin("operator", &y, &y, |xs| ops::multiply(&xs[0], &xs[1])),
            7 => un("cos", &y, |xs| ops::cos(&xs[0])),
            _ => bin("operator", &y, x, |xs| ops::multiply(&xs[0], &xs[1])),
        };
    }
    sum_all(&y)
}

/// `reduce_sum(tanh(x)·σ(x) + x·x)` (the benchmark's big elementwise loss).
fn tanh_sigmoid(x: &Tensor) -> Tensor {
    let t = un("tanh", x, |xs| ops::tanh(&xs[0]));
    let s = un("sigmoid", x, |xs| ops::sigmoid(&xs[0]));
    let ts = bin("operator", &t, &s, |xs| ops::multiply(&xs[0], &xs[1]));
    let xx = bin("operator", x, x, |xs| ops::multiply(&xs[0], &xs[1]));
    sum_all(&bin("operator", &ts, &xx, |xs| ops::add(&xs[0], &xs[1])))
}

fn gradient_on(tape: &Tape, y: &Tensor, x: &Tensor) -> Vec<Option<Tensor>> {
    gradient_wrt(tape, y, x.meta())
}

/// d y / d `source` (a tensor's or a variable handle's meta) through what
/// `tape` recorded, seeded with ones.
fn gradient_wrt(tape: &Tape, y: &Tensor, source: TensorMeta) -> Vec<Option<Tensor>> {
    let pairs = [(
        y.meta(),
        crate::grad::output_gradient(0, &y.meta(), None).unwrap(),
    )];
    crate::grad::gradient(
        tape.take_nodes(),
        &pairs,
        &[source],
        crate::grad::Unconnected::None,
        &[],
    )
    .unwrap()
}

/// `f(x)` and its gradient under a tape, eagerly.
fn eager_gradient(x: &Tensor, f: &dyn Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
    let tape = Tape::new(false, true);
    tape.push().unwrap();
    tape.watch(x.id());
    let y = f(x);
    tape.pop();
    let g = gradient_on(&tape, &y, x).remove(0).unwrap();
    (y, g)
}

/// The plan of `with tape: tape.watch(x); y = f(x)` then `tape.gradient(y,
/// x)`, returning `[y, dy/dx]`, recorded as `tf.function` records it.
fn trace_gradient(x: &Tensor, f: &dyn Fn(&Tensor) -> Tensor) -> Plan {
    trace_gradient_returning(x, f, true)
}

/// `trace_gradient`, returning `[y, dy/dx]` or, without `with_value`, only
/// `[dy/dx]`.
fn trace_gradient_returning(x: &Tensor, f: &dyn Fn(&Tensor) -> Tensor, with_value: bool) -> Plan {
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let tape = Tape::new(false, true);
    tape_new(&tape, false, true);
    tape.push().unwrap();
    tape_step(&tape, TapeStep::Push);
    tape.watch(x.id());
    tape_watch(&tape, &Arg::Tensor(x.clone()));
    let y = f(x);
    tape.pop();
    tape_step(&tape, TapeStep::Pop);
    let grads = gradient_on(&tape, &y, x);
    tape_gradient(
        &tape,
        crate::grad::Kind::Gradient,
        &[Arg::Tensor(y.clone())],
        &[None],
        &[Arg::Tensor(x.clone())],
        false,
        &grads,
    );
    let g = grads[0].clone().unwrap();
    finish(&if with_value { vec![y, g] } else { vec![g] }).unwrap()
}

fn ramp(n: usize, lo: f32, hi: f32) -> Tensor {
    let step = (hi - lo) / n.max(2) as f32;
    vec1(&(0..n).map(|i| lo + step * i as f32).collect::<Vec<_>>())
}

#[test]
fn a_run_of_elementwise_steps_ending_in_a_full_sum_is_one_step_bitwise_eager() {
    let x = ramp(5000, -0.9, 0.9);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let y = chain(&x, 40);
    let plan = finish(&[y]).unwrap();
    assert_eq!(plan.len(), 1);
    assert_eq!(steps_named(&plan, super::optimize::FUSED), 1);
    // the host scalars became program constants
    assert!(plan.constants.is_empty());
    let z = ramp(5000, -0.7, 1.1);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    assert_eq!(bits(&out[0]), bits(&chain(&z, 40)));
}

#[test]
fn gradients_through_a_fused_run_are_the_eager_gradients_bitwise() {
    let fs: [&dyn Fn(&Tensor) -> Tensor; 2] = [&|x| chain(x, 200), &tanh_sigmoid];
    for f in fs {
        // sizes within one block and across blocks (and the parallel split)
        for n in [4, 9000, 70_000] {
            let plan = trace_gradient(&ramp(n, 0.1, 0.9), f);
            assert_eq!(steps_named(&plan, super::optimize::FUSED), 1);
            let z = ramp(n, -0.8, 0.7);
            let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
            let (y, g) = eager_gradient(&z, f);
            assert_eq!(bits(&out[0]), bits(&y));
            assert_eq!(bits(&out[1]), bits(&g));
        }
    }
}

#[test]
fn a_two_op_run_on_a_small_tensor_is_left_unfused_and_a_three_op_one_is_fused() {
    // below a block, the fused evaluation's fixed cost needs a few ops to
    // pay for itself; from a block on, two ops are enough
    for (n, ops, fused) in [(7, 1, 0), (7, 2, 1), (5000, 1, 1)] {
        let x = ramp(n, 0.1, 0.9);
        begin(&[Arg::Tensor(x.clone())]).unwrap();
        let y = chain(&x, ops); // `ops` elementwise steps and a full sum
        let plan = finish(&[y]).unwrap();
        assert_eq!(
            steps_named(&plan, super::optimize::FUSED),
            fused,
            "{n} elements, {ops} ops"
        );
        let z = ramp(n, -0.7, 1.1);
        let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
        assert_eq!(bits(&out[0]), bits(&chain(&z, ops)));
    }
}

#[test]
fn a_loss_read_only_by_its_gradient_call_is_recorded_without_being_evaluated() {
    for n in [4, 9000] {
        let plan = trace_gradient_returning(&ramp(n, 0.1, 0.9), &|x| chain(x, 40), false);
        assert_eq!(steps_named(&plan, super::optimize::FUSED_FOR_GRADIENT), 1);
        assert_eq!(steps_named(&plan, super::optimize::FUSED), 0);
        let z = ramp(n, -0.8, 0.7);
        let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
        let (_, g) = eager_gradient(&z, &|x| chain(x, 40));
        assert_eq!(bits(&out[0]), bits(&g));
    }
    // returned, the loss is evaluated
    let plan = trace_gradient_returning(&ramp(9000, 0.1, 0.9), &|x| chain(x, 40), true);
    assert_eq!(steps_named(&plan, super::optimize::FUSED), 1);
}

#[test]
fn a_value_read_after_the_run_is_an_output_of_the_fused_step() {
    let x = ramp(7, -1.0, 1.0);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let a = un("sin", &x, |xs| ops::sin(&xs[0]));
    let b = un("exp", &a, |xs| ops::exp(&xs[0]));
    let c = bin("operator", &b, &a, |xs| ops::multiply(&xs[0], &xs[1]));
    // read after the run: `a` leaves the fused step too
    let d = un("atan", &a, |xs| ops::atan(&xs[0]));
    let plan = finish(&[c, d, b]).unwrap();
    assert_eq!(plan.len(), 2);
    let z = ramp(7, -0.5, 2.0);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    let a = ops::sin(&z).unwrap();
    let b = ops::exp(&a).unwrap();
    assert_eq!(bits(&out[0]), bits(&ops::multiply(&b, &a).unwrap()));
    assert_eq!(bits(&out[1]), bits(&ops::atan(&a).unwrap()));
    assert_eq!(bits(&out[2]), bits(&b));
}

#[test]
fn a_step_that_reads_a_run_in_its_middle_ends_the_run() {
    let x = ramp(7, -1.0, 1.0);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let a = un("sin", &x, |xs| ops::sin(&xs[0]));
    let d = un("atan", &a, |xs| ops::atan(&xs[0]));
    let b = un("exp", &a, |xs| ops::exp(&xs[0]));
    let plan = finish(&[b, d]).unwrap();
    // {sin} and {exp} are runs of one: nothing to fuse
    assert_eq!(
        (plan.len(), steps_named(&plan, super::optimize::FUSED)),
        (3, 0)
    );
}

#[test]
fn a_tape_step_ends_a_run() {
    let x = ramp(3, 0.0, 1.0);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let a = un("sin", &x, |xs| ops::sin(&xs[0]));
    let tape = Tape::new(false, true);
    tape_new(&tape, false, true);
    tape.push().unwrap();
    tape_step(&tape, TapeStep::Push);
    let b = un("exp", &a, |xs| ops::exp(&xs[0]));
    tape.pop();
    tape_step(&tape, TapeStep::Pop);
    let plan = finish(&[b]).unwrap();
    assert_eq!(steps_named(&plan, super::optimize::FUSED), 0);
}

#[test]
fn a_slot_a_tape_differentiates_by_keeps_its_own_step() {
    // d Σ exp(a)² / da with a = sin(x) watched: `a` must stay a tensor of its own
    let f = |x: &Tensor, record: bool| {
        let a = un("sin", x, |xs| ops::sin(&xs[0]));
        let tape = Tape::new(false, true);
        if record {
            tape_new(&tape, false, true);
        }
        tape.push().unwrap();
        tape.watch(a.id());
        if record {
            tape_step(&tape, TapeStep::Push);
            tape_watch(&tape, &Arg::Tensor(a.clone()));
        }
        let b = un("exp", &a, |xs| ops::exp(&xs[0]));
        let y = sum_all(&bin("operator", &b, &b, |xs| ops::multiply(&xs[0], &xs[1])));
        tape.pop();
        let grads = gradient_on(&tape, &y, &a);
        if record {
            tape_step(&tape, TapeStep::Pop);
            tape_gradient(
                &tape,
                crate::grad::Kind::Gradient,
                &[Arg::Tensor(y.clone())],
                &[None],
                &[Arg::Tensor(a.clone())],
                false,
                &grads,
            );
        }
        grads[0].clone().unwrap()
    };
    let x = ramp(5, -1.0, 1.0);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let g = f(&x, true);
    let plan = finish(&[g]).unwrap();
    // (the loss is only differentiated: its step is not evaluated)
    assert_eq!(steps_named(&plan, super::optimize::FUSED_FOR_GRADIENT), 1);
    assert_eq!(steps_named(&plan, "sin"), 1);
    let z = ramp(5, 0.0, 2.0);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    assert_eq!(bits(&out[0]), bits(&f(&z, false)));
}

#[test]
fn a_step_whose_kernel_runs_more_than_one_op_is_not_fused() {
    let x = ramp(3, 0.0, 1.0);
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let a = un("composite", &x, |xs| ops::exp(&ops::sin(&xs[0])?));
    let b = un("tanh", &a, |xs| ops::tanh(&xs[0]));
    let c = un("cast", &b, |xs| ops::cast(&xs[0], crate::dtype::DType::F64));
    let d = un("exp", &c, |xs| ops::exp(&xs[0]));
    let plan = finish(&[d]).unwrap();
    assert_eq!(
        (plan.len(), steps_named(&plan, super::optimize::FUSED)),
        (4, 0)
    );
}

#[test]
fn runs_of_other_shapes_or_dtypes_are_separate() {
    // (a block or more each: two-op runs on smaller tensors stay unfused)
    let n = crate::fuse::BLOCK;
    let x = ramp(n, 0.0, 1.0);
    let wide = Tensor::from_vec(&[3, n], vec![0.25f32; 3 * n]).unwrap();
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let a = un("sin", &x, |xs| ops::sin(&xs[0]));
    let b = un("exp", &a, |xs| ops::exp(&xs[0]));
    // broadcast to [3, n]: another shape, another run
    let c = bin("operator", &b, &wide, |xs| ops::add(&xs[0], &xs[1]));
    let d = un("tanh", &c, |xs| ops::tanh(&xs[0]));
    let plan = finish(&[d]).unwrap();
    assert_eq!(
        (plan.len(), steps_named(&plan, super::optimize::FUSED)),
        (2, 2)
    );
    let z = ramp(n, -1.0, 0.5);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    let eager =
        ops::tanh(&ops::add(&ops::exp(&ops::sin(&z).unwrap()).unwrap(), &wide).unwrap()).unwrap();
    assert_eq!(bits(&out[0]), bits(&eager));
}

fn matrix(rows: usize, cols: usize, lo: f32, hi: f32) -> Tensor {
    let flat = ramp(rows * cols, lo, hi);
    ops::reshape_to(&flat, &[rows, cols]).unwrap()
}

fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    bin("matmul", a, b, |xs| {
        ops::matmul(&xs[0], &xs[1], false, false)
    })
}

#[test]
fn a_product_only_summed_into_a_loss_only_differentiated_is_never_computed() {
    // loss = Σ x·w, the function returning only d loss / dx: neither the
    // product nor the sum is evaluated (their VJPs read x, w and a shape)
    let w = matrix(6, 5, -1.0, 2.0);
    let f = |x: &Tensor| sum_all(&matmul(x, &w));
    let plan = trace_gradient_returning(&matrix(4, 6, 0.1, 0.9), &f, false);
    assert_eq!(steps_named(&plan, super::optimize::MATMUL_FOR_GRADIENT), 1);
    assert_eq!(steps_named(&plan, super::optimize::SUM_FOR_GRADIENT), 1);
    let z = matrix(4, 6, -0.8, 0.7);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    let (_, g) = eager_gradient(&z, &f);
    assert_eq!(bits(&out[0]), bits(&g));
    // returned, the loss and so the product are evaluated
    let plan = trace_gradient_returning(&matrix(4, 6, 0.1, 0.9), &f, true);
    assert_eq!(steps_named(&plan, super::optimize::MATMUL_FOR_GRADIENT), 0);
    assert_eq!(steps_named(&plan, super::optimize::SUM_FOR_GRADIENT), 0);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    let (y, g) = eager_gradient(&z, &f);
    assert_eq!((bits(&out[0]), bits(&out[1])), (bits(&y), bits(&g)));
}

#[test]
fn a_value_an_unevaluated_step_differentiates_through_is_computed() {
    // Σ (x·w)·v: the outer product's VJP reads x·w, so the inner product is
    // evaluated; the outer one and the sum are not
    let (w, v) = (matrix(6, 5, -1.0, 2.0), matrix(5, 3, 0.5, -0.5));
    let f = |x: &Tensor| sum_all(&matmul(&matmul(x, &w), &v));
    let plan = trace_gradient_returning(&matrix(4, 6, 0.1, 0.9), &f, false);
    assert_eq!(steps_named(&plan, super::optimize::MATMUL_FOR_GRADIENT), 1);
    assert_eq!(steps_named(&plan, "matmul"), 1);
    let z = matrix(4, 6, -0.8, 0.7);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    assert_eq!(bits(&out[0]), bits(&eager_gradient(&z, &f).1));
}

#[test]
fn a_product_a_guard_reads_is_computed() {
    // `if x·w:` read the product: it is evaluated (and checked at each
    // replay); the sum of it, only differentiated, is not
    let w = matrix(3, 1, 0.5, 1.0);
    let f = |x: &Tensor| {
        let p = matmul(x, &w);
        guard_truth(&p, true);
        sum_all(&p)
    };
    let plan = trace_gradient_returning(&matrix(1, 3, 0.1, 0.9), &f, false);
    assert_eq!(steps_named(&plan, super::optimize::MATMUL_FOR_GRADIENT), 0);
    assert_eq!(steps_named(&plan, super::optimize::SUM_FOR_GRADIENT), 1);
    let z = matrix(1, 3, 0.2, 0.4);
    let out = done(plan.run(&[Arg::Tensor(z.clone())]).unwrap());
    assert_eq!(bits(&out[0]), bits(&eager_gradient(&z, &f).1));
    // a product of zero fails the guard
    let zero = matrix(1, 3, 0.0, 0.0);
    assert!(matches!(
        plan.run(&[Arg::Tensor(zero)]).unwrap(),
        Outcome::GuardFailed(_)
    ));
}

/// A loss of a variable, given a function that reads it.
type LossOfReads = dyn Fn(&dyn Fn() -> Tensor) -> Tensor;

fn count_reads(plan: &Plan) -> usize {
    plan.steps
        .iter()
        .filter(|s| matches!(s, super::plan::Step::Read { .. }))
        .count()
}

/// `[f(read), d f / d v]` under a tape that watches the variable it reads
/// (each call of `read` a read of `v`), eagerly or recorded in a trace.
fn variable_gradient(v: &Arc<Variable>, f: &LossOfReads, record: bool) -> Vec<Tensor> {
    let tape = Tape::new(false, true);
    if record {
        tape_new(&tape, false, true);
    }
    tape.push().unwrap();
    if record {
        tape_step(&tape, TapeStep::Push);
    }
    let y = f(&|| read_variable(v));
    tape.pop();
    if record {
        tape_step(&tape, TapeStep::Pop);
    }
    // (a read whose value nothing uses, as `tape.gradient` makes)
    read_variable(v);
    let grads = gradient_wrt(&tape, &y, v.handle_meta());
    if record {
        tape_gradient(
            &tape,
            crate::grad::Kind::Gradient,
            &[Arg::Tensor(y.clone())],
            &[None],
            &[Arg::Variable(v.clone())],
            false,
            &grads,
        );
    }
    vec![y, grads[0].clone().unwrap()]
}

#[test]
fn reads_of_one_variable_only_a_fused_run_uses_are_one_input_bitwise_eager() {
    // the benchmark's loss, and one whose reads' gradients all differ (so
    // that the order they are summed in shows)
    let losses: [&LossOfReads; 2] = [
        &|read| {
            let t = un("tanh", &read(), |xs| ops::tanh(&xs[0]));
            let s = un("sigmoid", &read(), |xs| ops::sigmoid(&xs[0]));
            let ts = bin("operator", &t, &s, |xs| ops::multiply(&xs[0], &xs[1]));
            let xx = bin("operator", &read(), &read(), |xs| {
                ops::multiply(&xs[0], &xs[1])
            });
            sum_all(&bin("operator", &ts, &xx, |xs| ops::add(&xs[0], &xs[1])))
        },
        &|read| {
            let e = un("exp", &read(), |xs| ops::exp(&xs[0]));
            let q = bin("operator", &e, &read(), |xs| ops::divide(&xs[0], &xs[1]));
            let d = bin("operator", &read(), &q, |xs| ops::subtract(&xs[0], &xs[1]));
            let s = un("sin", &read(), |xs| ops::sin(&xs[0]));
            sum_all(&bin("operator", &d, &s, |xs| ops::maximum(&xs[0], &xs[1])))
        },
    ];
    for f in losses {
        for n in [5, 9000, 70_000] {
            let v = Arc::new(Variable::new(ramp(n, 0.5, 1.5), true));
            begin(&[]).unwrap();
            let traced = variable_gradient(&v, f, true);
            let plan = finish(&traced).unwrap();
            // (and the read nothing uses)
            assert_eq!(count_reads(&plan), 2, "{n} elements");
            assert_eq!(steps_named(&plan, super::optimize::FUSED), 1);
            for value in [ramp(n, -0.9, 2.0), ramp(n, 3.0, 0.1)] {
                v.assign(&value).unwrap();
                let out = done(plan.run(&[]).unwrap());
                let eager = variable_gradient(&v, f, false);
                assert_eq!(bits(&out[0]), bits(&eager[0]));
                assert_eq!(bits(&out[1]), bits(&eager[1]), "{n} elements");
            }
        }
    }
}

#[test]
fn a_read_something_else_uses_keeps_the_reads_apart() {
    // one read also feeds an op outside the run: its gradient reaches the
    // variable on its own, so the reads stay separate
    let f: &LossOfReads = &|read| {
        let r = read();
        let a = un("atan", &r, |xs| ops::atan(&xs[0]));
        let t = un("tanh", &read(), |xs| ops::tanh(&xs[0]));
        let y = bin("operator", &t, &r, |xs| ops::multiply(&xs[0], &xs[1]));
        let y = bin("operator", &y, &a, |xs| ops::add(&xs[0], &xs[1]));
        sum_all(&y)
    };
    let v = Arc::new(Variable::new(ramp(9000, 0.5, 1.5), true));
    begin(&[]).unwrap();
    let traced = variable_gradient(&v, f, true);
    let plan = finish(&traced).unwrap();
    assert_eq!(count_reads(&plan), 3);
    v.assign(&ramp(9000, -1.0, 1.0)).unwrap();
    let out = done(plan.run(&[]).unwrap());
    let eager = variable_gradient(&v, f, false);
    assert_eq!(bits(&out[1]), bits(&eager[1]));
}

/// A one-step plan over `n` elements whose kernel notes whether it ran on a
/// pool thread; `host` records it as a host call.
fn placement_plan(n: usize, host: bool) -> (Arc<Plan>, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let on_worker = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&on_worker);
    let x = Tensor::from_vec(&[n], vec![1.5f32; n]).unwrap();
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let y = ops::sinh(&x).unwrap();
    let step = kernel(move |xs| {
        seen.store(rayon::current_thread_index().is_some(), Ordering::Relaxed);
        Ok(vec![ops::sinh(&xs[0])?])
    });
    let record = if host { record_host_op } else { record_op };
    record(
        "sinh",
        std::slice::from_ref(&x),
        std::slice::from_ref(&y),
        step,
    );
    (Arc::new(finish(&[y]).unwrap()), on_worker)
}

#[test]
fn a_plan_whose_kernels_share_their_work_and_call_no_host_replays_on_the_pool() {
    use std::sync::atomic::Ordering;
    let big = super::plan::POOL_MIN_LEN;
    let (small, _) = placement_plan(big - 1, false);
    let (hosted, _) = placement_plan(big, true);
    let (plan, on_worker) = placement_plan(big, false);
    assert!(!small.on_pool && !hosted.on_pool && plan.on_pool);

    let x = Tensor::from_vec(&[big], vec![0.25f32; big]).unwrap();
    let pooled = done(Plan::replay(&plan, vec![Arg::Tensor(x.clone())]).unwrap());
    // (a one-thread pool keeps every replay on the calling thread)
    let pool = rayon::current_num_threads() >= 2;
    assert_eq!(on_worker.load(Ordering::Relaxed), pool);
    let here = done(plan.run(&[Arg::Tensor(x.clone())]).unwrap());
    assert!(!on_worker.load(Ordering::Relaxed));
    assert_eq!(values(&pooled[0]), values(&here[0]));

    // a tape on this thread must see the replayed ops: the replay stays here
    let tape = Tape::new(false, true);
    tape.push().unwrap();
    tape.watch(x.id());
    let recorded = done(Plan::replay(&plan, vec![Arg::Tensor(x.clone())]).unwrap());
    tape.pop();
    assert!(!on_worker.load(Ordering::Relaxed));
    assert_eq!(values(&recorded[0]), values(&here[0]));

    // while another thread's job holds the replay pool, a replay runs here
    // (one job at a time: see `interrupt::on_pool`)
    if pool {
        let (started, wait_started) = std::sync::mpsc::channel();
        let (release, wait_release) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            crate::interrupt::on_pool(move || {
                started.send(()).unwrap();
                wait_release.recv().unwrap();
                Ok(())
            })
            .is_ok()
        });
        wait_started.recv().unwrap();
        assert!(crate::interrupt::on_pool(|| Ok(())).is_err());
        let beside = done(Plan::replay(&plan, vec![Arg::Tensor(x.clone())]).unwrap());
        assert!(!on_worker.load(Ordering::Relaxed));
        assert_eq!(values(&beside[0]), values(&here[0]));
        release.send(()).unwrap();
        assert!(holder.join().unwrap());
        done(Plan::replay(&plan, vec![Arg::Tensor(x.clone())]).unwrap());
        assert!(on_worker.load(Ordering::Relaxed));
    }

    // a replay that fails on the pool fails the same way here
    let wrong = Tensor::from_vec(&[2], vec![0.0f32; 2]).unwrap();
    assert!(matches!(
        Plan::replay(&plan, vec![Arg::Tensor(wrong)]).unwrap(),
        Outcome::GuardFailed(_)
    ));
}

#[test]
fn a_plan_that_ran_a_product_gemm_splits_moves_to_the_pool() {
    // m×64 outputs over a depth of 256: gemm splits from 2^22 multiply-adds
    let traced = |m: usize, transpose_a: bool| {
        let a_shape = if transpose_a { [256, m] } else { [m, 256] };
        let a = Tensor::from_vec(&a_shape, vec![0.5f32; m * 256]).unwrap();
        let b = Tensor::from_vec(&[256, 64], vec![0.25f32; 256 * 64]).unwrap();
        begin(&[Arg::Tensor(a.clone()), Arg::Tensor(b.clone())]).unwrap();
        let y = if transpose_a {
            bin("matmul", &a, &b, |xs| {
                ops::matmul(&xs[0], &xs[1], true, false)
            })
        } else {
            bin("matmul", &a, &b, |xs| {
                ops::matmul(&xs[0], &xs[1], false, false)
            })
        };
        finish(&[y]).unwrap()
    };
    assert_eq!(256 * 64 * 256, crate::kernels::matmul::PAR_MIN_FLOPS);
    for transpose_a in [false, true] {
        assert!(!traced(255, transpose_a).on_pool);
        assert!(traced(256, transpose_a).on_pool);
    }
    // the last trace's product is forgotten with it
    let x = Tensor::from_vec(&[4], vec![1.0f32; 4]).unwrap();
    begin(&[Arg::Tensor(x.clone())]).unwrap();
    let y = un("sinh", &x, |xs| ops::sinh(&xs[0]));
    assert!(!finish(&[y]).unwrap().on_pool);
}
