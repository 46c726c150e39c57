//! A plan as data (what `tf.saved_model.save` writes): a kernel closure
//! cannot be saved, so each step is described by what it is — an op's name
//! and its slots, a variable read or update, a guard — as JSON text, with the
//! tensors it holds (constants, guarded values) listed apart and referred to
//! by index. The op's non-tensor arguments are not in the plan: while
//! [`describing`], the bindings hand a call's arguments to the host as it is
//! made (the saver pairs them with the op steps by [`slots_of`]'s step count).

use std::cell::Cell;
use std::fmt::Write;

use super::Update;
use super::plan::{Expect, Guard, InputSpec, Plan, Step, VarRef};
use crate::tensor::Tensor;

thread_local! {
    static DESCRIBING: Cell<bool> = const { Cell::new(false) };
}

/// Is the trace on this thread being described for saving (the bindings
/// report each call's arguments)?
pub fn describing() -> bool {
    DESCRIBING.with(Cell::get)
}

/// Turn the description of calls on or off for this thread.
pub fn set_describing(on: bool) {
    DESCRIBING.with(|d| d.set(on));
}

/// A plan as data: `program` is JSON; `{"tensor": k}` in it is `tensors[k]`.
pub struct Description {
    pub program: String,
    pub tensors: Vec<Tensor>,
}

/// A JSON string literal.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list<T>(items: impl IntoIterator<Item = T>, each: impl FnMut(T) -> String) -> String {
    let items: Vec<String> = items.into_iter().map(each).collect();
    format!("[{}]", items.join(","))
}

fn expect(e: &Expect) -> String {
    format!(
        "{{\"dtype\":{},\"shape\":{}}}",
        quoted(e.dtype.name()),
        list(&e.shape, |d| d.to_string())
    )
}

fn var(v: &VarRef) -> String {
    match v {
        VarRef::Input(i) => format!("{{\"input\":{i}}}"),
        VarRef::Captured(v) => format!("{{\"handle\":{}}}", v.handle()),
    }
}

fn unsupported(what: &str) -> String {
    format!("{{\"kind\":\"unsupported\",\"what\":{}}}", quoted(what))
}

/// Describe `plan`. Steps the saver cannot rebuild (an optimizer's fused
/// update, a tape inside the function) are `{"kind": "unsupported"}` steps
/// naming themselves, so the saver's error can name them.
pub fn describe(plan: &Plan) -> Description {
    let mut tensors = Vec::new();
    let mut hold = |t: &Tensor| {
        tensors.push(t.clone());
        tensors.len() - 1
    };
    let inputs = list(
        plan.inputs.iter().zip(&plan.input_slots),
        |(spec, slot)| match (spec, slot) {
            (InputSpec::Tensor(e), Some(s)) => format!("{{\"slot\":{s},\"spec\":{}}}", expect(e)),
            _ => "{\"variable\":true}".to_string(),
        },
    );
    let constants = list(&plan.constants, |(s, t)| format!("[{s},{}]", hold(t)));
    let outs = |outputs: &[(usize, Expect)]| {
        list(outputs, |(s, e)| {
            format!("{{\"slot\":{s},\"spec\":{}}}", expect(e))
        })
    };
    let steps = list(&plan.steps, |step| match step {
        Step::Op {
            name,
            inputs,
            outputs,
            ..
        } => format!(
            "{{\"kind\":\"op\",\"name\":{},\"inputs\":{},\"outputs\":{}}}",
            quoted(name),
            list(inputs, |s| s.to_string()),
            outs(outputs)
        ),
        Step::Read { var: v, output } => format!(
            "{{\"kind\":\"read\",\"var\":{},\"outputs\":{}}}",
            var(v),
            outs(std::slice::from_ref(output))
        ),
        Step::Update { var: v, how, input } => {
            let how = match how {
                Update::Assign => "assign",
                Update::Add => "assign_add",
                Update::Sub => "assign_sub",
            };
            format!(
                "{{\"kind\":\"update\",\"var\":{},\"how\":\"{how}\",\"input\":{input}}}",
                var(v)
            )
        }
        Step::Guard { slot, guard } => match guard {
            Guard::Value(t) => format!(
                "{{\"kind\":\"guard\",\"slot\":{slot},\"value\":{{\"tensor\":{}}}}}",
                hold(t)
            ),
            Guard::Truth(b) => format!("{{\"kind\":\"guard\",\"slot\":{slot},\"truth\":{b}}}"),
        },
        Step::VarOp { name, .. } => unsupported(&format!("the fused optimizer update {name}")),
        Step::TapeNew { .. } | Step::Tape { .. } | Step::Watch { .. } | Step::Derive { .. } => {
            unsupported("a GradientTape used inside the function")
        }
    });
    let program = format!(
        "{{\"inputs\":{inputs},\"constants\":{constants},\"steps\":{steps},\"outputs\":{}}}",
        list(&plan.outputs, |s| s.to_string())
    );
    Description { program, tensors }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::*;
    use crate::ops;
    use crate::variable::Variable;

    #[test]
    fn a_plan_is_described_step_by_step_with_its_tensors_apart() {
        let x = Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap();
        let w = Arc::new(Variable::new(
            Tensor::from_vec(&[2], vec![3.0f32, 4.0]).unwrap(),
            true,
        ));
        let before = Tensor::from_vec(&[2], vec![0.5f32, 0.5]).unwrap();
        // as `tf.saved_model.save` traces: described, so kept step by step
        set_describing(true);
        begin(&[Arg::Tensor(x.clone())]).unwrap();
        let v = read_variable(&w);
        let y = ops::multiply(&x, &v).unwrap();
        record_op(
            "__mul__",
            &[x.clone(), v.clone()],
            std::slice::from_ref(&y),
            kernel(|xs| Ok(vec![ops::multiply(&xs[0], &xs[1])?])),
        );
        // the description's view of the slots: y is known, `before` becomes a
        // constant, a stray tensor made by no step has none
        let stray = ops::exp(&x).unwrap();
        let (count, slots) = slots_of(&[y.clone(), before.clone(), stray]).unwrap();
        assert_eq!(count, 2);
        assert_eq!(slots[0], Some(2));
        assert!(slots[1].is_some() && slots[2].is_none());
        guard_truth(&y, true);
        update_variable(&w, Update::Add, &y).unwrap();
        let plan = finish(std::slice::from_ref(&y)).unwrap();
        set_describing(false);
        let d = describe(&plan);
        assert_eq!(
            d.program,
            format!(
                "{{\"inputs\":[{{\"slot\":0,\"spec\":{{\"dtype\":\"float32\",\"shape\":[2]}}}}],\
                 \"constants\":[[{},0]],\"steps\":[\
                 {{\"kind\":\"read\",\"var\":{{\"handle\":{}}},\"outputs\":[{{\"slot\":1,\"spec\":{{\"dtype\":\"float32\",\"shape\":[2]}}}}]}},\
                 {{\"kind\":\"op\",\"name\":\"__mul__\",\"inputs\":[0,1],\"outputs\":[{{\"slot\":2,\"spec\":{{\"dtype\":\"float32\",\"shape\":[2]}}}}]}},\
                 {{\"kind\":\"guard\",\"slot\":2,\"truth\":true}},\
                 {{\"kind\":\"update\",\"var\":{{\"handle\":{}}},\"how\":\"assign_add\",\"input\":2}}],\
                 \"outputs\":[2]}}",
                slots[1].unwrap(),
                w.handle(),
                w.handle()
            )
        );
        assert_eq!(d.tensors.len(), 1);
        assert_eq!(d.tensors[0].id(), before.id());
    }

    #[test]
    fn describing_is_a_per_thread_switch_and_texts_are_escaped() {
        assert!(!describing());
        set_describing(true);
        assert!(describing());
        assert!(!std::thread::spawn(describing).join().unwrap());
        set_describing(false);
        assert_eq!(super::quoted("a \"b\"\\\n"), "\"a \\\"b\\\"\\\\\\u000a\"");
    }
}
