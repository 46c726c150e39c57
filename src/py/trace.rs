//! The bindings of the trace engine (`tapegrad._trace` wraps them): begin,
//! finish and abort a capture, replay a plan with the GIL released, and
//! host callbacks that run again at every replay.

use std::sync::Arc;

use pyo3::exceptions::PyRuntimeError;
use pyo3::import_exception;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::convert::{args_of, to_tensor};
use super::tensor::PyTensor;
use crate::tensor::Tensor;
use crate::trace::{self, Outcome, Plan, TraceError};

import_exception!(tapegrad._trace, TraceUnsupported);

fn trace_error(e: TraceError) -> PyErr {
    match e {
        TraceError::Unsupported(msg) => TraceUnsupported::new_err(msg),
        TraceError::State(msg) => PyRuntimeError::new_err(msg),
    }
}

/// Start capturing this thread's ops, `inputs` being the plan's inputs.
#[pyfunction]
pub fn _trace_begin(inputs: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
    trace::begin(&args_of(&inputs, false)?).map_err(trace_error)
}

/// Stop capturing and forget the record.
#[pyfunction]
pub fn _trace_abort() {
    trace::abort()
}

/// Variables created so far by the active trace (None: no trace).
#[pyfunction]
pub fn _trace_created() -> Option<usize> {
    trace::created_variables()
}

/// Stop capturing: the plan that returns `outputs`; raises
/// `TraceUnsupported` naming what cannot be replayed.
#[pyfunction]
pub fn _trace_finish(outputs: Vec<PyRef<'_, PyTensor>>) -> PyResult<PyPlan> {
    let outs: Vec<Tensor> = outputs.iter().map(|t| t.tensor().clone()).collect();
    let plan = trace::finish(&outs).map_err(trace_error)?;
    Ok(PyPlan {
        plan: Arc::new(plan),
    })
}

/// Note that the active trace did something it cannot replay (`what`):
/// `_trace_finish` will raise `TraceUnsupported` naming it.
#[pyfunction]
pub fn _trace_unsupported(what: &str) {
    trace::unsupported(what)
}

/// `tf.saved_model.save`: report each traced call's arguments (or stop).
#[pyfunction]
pub fn _trace_describe(on: bool) {
    trace::set_describing(on)
}

/// The active trace's step count and each tensor's slot (`trace::slots_of`).
#[pyfunction]
pub fn _trace_slots(tensors: Vec<PyRef<'_, PyTensor>>) -> Option<(usize, Vec<Option<usize>>)> {
    trace::slots_of(tensors.iter().map(|t| t.tensor()))
}

#[pyfunction]
pub fn _is_tracing() -> bool {
    trace::is_tracing()
}

/// The tensors of a callback's result: a tensor, or those in a list/tuple.
fn tensors_in(out: &Bound<'_, PyAny>) -> Vec<Tensor> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = out.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = out.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        vec![out.clone()]
    };
    items
        .iter()
        .filter_map(|o| o.cast::<PyTensor>().ok().map(|t| t.get().tensor().clone()))
        .collect()
}

/// Call `f(*tensors)` now; while tracing, also at every replay of the plan
/// (its ops are its own: they run at the call, not as steps), the tensors
/// it returns (one, or a list or tuple of them) being the step's outputs.
#[pyfunction]
pub fn _trace_callback(f: Py<PyAny>, tensors: Vec<Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
    let xs = tensors
        .iter()
        .map(|t| to_tensor(t, None))
        .collect::<PyResult<Vec<_>>>()?;
    let call = move |xs: &[Tensor]| {
        Python::attach(|py| -> PyResult<(Py<PyAny>, Vec<Tensor>)> {
            let args = PyTuple::new(py, xs.iter().cloned().map(PyTensor::new))?;
            let out = f.bind(py).call1(args)?;
            let ts = tensors_in(&out);
            Ok((out.unbind(), ts))
        })
    };
    if !trace::is_tracing() {
        return Ok(call(&xs)?.0);
    }
    let (out, ts) = trace::paused(|| call(&xs))?;
    let kernel = trace::kernel(move |xs| Ok(call(xs)?.1));
    trace::record_host_op("trace_callback", &xs, &ts, kernel);
    Ok(out)
}

/// A finished trace (`tapegrad._trace.Plan`).
#[pyclass(frozen, name = "_Plan", module = "tapegrad._core")]
pub struct PyPlan {
    plan: Arc<Plan>,
}

#[pymethods]
impl PyPlan {
    /// The outputs for `inputs`, replayed with the GIL released; None when
    /// a guard failed (the caller retraces; the replay's variable updates
    /// and random draws were undone).
    fn run(
        &self,
        py: Python<'_>,
        inputs: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<Option<Vec<PyTensor>>> {
        let args = args_of(&inputs, false)?;
        let plan = &self.plan;
        Ok(match py.detach(move || Plan::replay(plan, args))? {
            Outcome::Done(outs) => Some(outs.into_iter().map(PyTensor::new).collect()),
            Outcome::GuardFailed(_) => None,
        })
    }

    fn __len__(&self) -> usize {
        self.plan.len()
    }

    /// The plan as data (`trace::describe`): JSON and the tensors it indexes.
    fn _describe(&self) -> (String, Vec<PyTensor>) {
        let d = trace::describe(&self.plan);
        let tensors = d.tensors.into_iter().map(PyTensor::new).collect();
        (d.program, tensors)
    }
}
