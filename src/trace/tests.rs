use std::sync::Arc;

use super::capture::free_after;
use super::*;
use crate::ops;
use crate::tape::Tape;
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
    let a = traced_op("sin", &[x.clone()], |xs| ops::sin(&xs[0]));
    let b = traced_op("mul", &[a.clone(), x.clone()], |xs| {
        ops::multiply(&xs[0], &xs[1])
    });
    let c = traced_op("exp", &[b], |xs| ops::exp(&xs[0]));
    let plan = finish(&[c.clone(), x.clone()]).unwrap();
    assert_eq!(plan.len(), 3);
    // x (slot 0) and c (slot 3) are outputs; a dies after step 1, b after 2
    assert_eq!(free_after(&plan), &[vec![], vec![1], vec![2]]);

    let y = vec1(&[0.5, -3.0]);
    let out = done(plan.run(&[Arg::Tensor(y.clone())]).unwrap());
    let eager = ops::exp(&ops::multiply(&ops::sin(&y).unwrap(), &y).unwrap()).unwrap();
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
    let positive = traced_op("greater", &[x.clone()], |xs| {
        ops::greater(&xs[0], &Tensor::from_vec(&[1], vec![0.0f32])?)
    });
    guard_truth(&positive, true);
    let y = traced_op("exp", &[x.clone()], |xs| ops::exp(&xs[0]));
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
    tape_watch(&tape, Ref::Tensor(&x));
    let y = traced_op("sin", &[x.clone()], |xs| ops::sin(&xs[0]));
    tape.pop();
    tape_step(&tape, TapeStep::Pop);
    let pairs = [(
        y.meta(),
        crate::grad::output_gradient(0, &y.meta(), None).unwrap(),
    )];
    let grads = crate::grad::gradient(
        tape.take_nodes(),
        &pairs,
        &[x.meta()],
        crate::grad::Unconnected::None,
        &[],
    )
    .unwrap();
    tape_gradient(
        &tape,
        Derivative::Gradient,
        &[Ref::Tensor(&y)],
        &[None],
        &[Ref::Tensor(&x)],
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
