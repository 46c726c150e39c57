//! The Rust halves of `GradientTape` and `ForwardAccumulator`, and the hook
//! custom gradients record through. The Python classes (`tapegrad/_tape.py`,
//! `tapegrad/autodiff.py`) own nested structures, warnings and TF's texts.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use super::convert::{arg_of, args_of, to_tensor};
use super::run;
use super::tensor::PyTensor;
use super::variable::PyVariable;
use crate::dtype::DType;
use crate::error::Error;
use crate::grad::{self, Unconnected};
use crate::tape::{self, Accumulator, Suspended, Tape};
use crate::tensor::{Tensor, TensorMeta};
use crate::trace::{self, Arg, TapeStep};

#[pyclass(frozen, name = "Tape", module = "tapegrad._core")]
pub struct PyTape {
    tape: Tape,
}

/// Where a recorded op was called from: the calling Python frame's code
/// object and its instruction offset (`frame.f_lasti`), taken only for nodes
/// where `explain` may find a path broken (`tape::record_node`); the line
/// table is read only by `GradientTape.explain` (`tapegrad/_explain.py`).
struct PyCallSite {
    code: Py<PyAny>,
    lasti: i32,
}

/// The probe `tape::record_node` asks for each node a tape records (the
/// calling frame), and `tape::record_escape` for each escape (the first
/// frame outside numpy and tapegrad's own Python code, so that
/// `np.mean(x)` points at the user's line, not numpy's).
fn python_call_site(outside_libraries: bool) -> Option<tape::CallSite> {
    // SAFETY: the thread state is read only while this thread holds the GIL
    // (ops whose kernels released it record nothing here); `PyFrame_GetCode`
    // and `PyFrame_GetBack` return new references, which `Bound` takes over,
    // and `frame` is always borrowed from the thread state or from `back`.
    unsafe {
        if pyo3::ffi::PyGILState_Check() == 0 {
            return None;
        }
        let py = Python::assume_attached();
        let mut frame = pyo3::ffi::PyEval_GetFrame();
        let mut back: Option<Bound<'_, PyAny>> = None;
        while !frame.is_null() {
            let code = Bound::from_owned_ptr(py, pyo3::ffi::PyFrame_GetCode(frame).cast());
            let lasti = pyo3::ffi::PyFrame_GetLasti(frame);
            // The caller's frame object is made on demand (a cost on every
            // recorded op): ask for it only to step out of a library frame.
            if outside_libraries && in_library(&code) {
                let caller = pyo3::ffi::PyFrame_GetBack(frame);
                if !caller.is_null() {
                    let caller = Bound::from_owned_ptr(py, caller.cast());
                    frame = caller.as_ptr().cast();
                    back = Some(caller);
                    continue;
                }
            }
            drop(back);
            let code = code.unbind();
            return Some(Arc::new(PyCallSite { code, lasti }));
        }
        None
    }
}

/// Is this code object numpy's or tapegrad's own Python code?
fn in_library(code: &Bound<'_, PyAny>) -> bool {
    let py = code.py();
    let Ok(file) = code.getattr("co_filename").map(|f| f.to_string()) else {
        return false;
    };
    ["numpy", "tapegrad"].iter().any(|name| {
        py.import(*name)
            .and_then(|m| m.getattr("__file__"))
            .map(|init| {
                let init = init.to_string();
                let dir = init
                    .rsplit_once(std::path::MAIN_SEPARATOR)
                    .map_or("", |d| d.0);
                !dir.is_empty() && file.starts_with(dir)
            })
            .unwrap_or(false)
    })
}

/// A call site as Python sees it: `(code object, f_lasti)`, if known.
type Site = Option<(Py<PyAny>, i32)>;

fn site_tuple(py: Python<'_>, site: Option<tape::CallSite>) -> Site {
    let site = site?;
    let site = site.downcast_ref::<PyCallSite>()?;
    Some((site.code.clone_ref(py), site.lasti))
}

type MetaTuple = (u64, &'static str, Vec<usize>);
type NodeTuple = (&'static str, Vec<MetaTuple>, Vec<MetaTuple>, Option<usize>);
type InspectTuple = (Vec<NodeTuple>, Vec<u64>, Vec<u64>, usize, usize);

#[pymethods]
impl PyTape {
    /// Show the garbage collector the custom-gradient callables this tape
    /// owns. A node shared with another holder (a nested tape, a backward
    /// pass in progress) is skipped: only a sole owner may report a
    /// reference, or the collector would count it twice.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let mut result = Ok(());
        self.tape.try_for_each_node(|node| {
            if result.is_err() || Arc::strong_count(node) != 1 {
                return;
            }
            if let Some(vjp) = node
                .rule
                .captures()
                .and_then(|c| c.downcast_ref::<CustomVjp>())
            {
                result = visit.call(&vjp.0);
            }
        });
        result
    }

    /// Break a cycle through this tape: forget its record (only ever called
    /// on a tape nothing reachable refers to).
    fn __clear__(&self) {
        // dropped after the tape's lock is released: a callable's finaliser
        // may run Python code that touches the tape
        drop(self.tape.release_nodes());
    }

    /// Call `f()` and return `(result, keys)`: the keys of the random
    /// streams it drew on this thread, for `replay_random` (what
    /// `recompute_grad` replays so the backward pass sees the forward's
    /// random numbers).
    #[staticmethod]
    fn record_random(f: &Bound<'_, PyAny>) -> PyResult<(Py<PyAny>, Vec<u64>)> {
        trace::unsupported("tf.recompute_grad");
        let (out, keys) = crate::ops::random::record_keys(|| f.call0());
        Ok((out?.unbind(), keys))
    }

    /// Call `f()` with its random ops taking `keys` (from `record_random`)
    /// in order, so they give the same numbers again.
    #[staticmethod]
    fn replay_random(keys: Vec<u64>, f: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        trace::unsupported("tf.recompute_grad");
        crate::ops::random::replay_keys(&keys, || f.call0()).map(Bound::unbind)
    }

    #[new]
    fn new(persistent: bool, watch_accessed_variables: bool) -> PyTape {
        tape::set_call_site_hook(python_call_site);
        let tape = Tape::new(persistent, watch_accessed_variables);
        trace::tape_new(&tape, persistent, watch_accessed_variables);
        PyTape { tape }
    }

    /// Start recording on this thread.
    fn push(&self) -> PyResult<()> {
        self.tape.push()?;
        trace::tape_step(&self.tape, TapeStep::Push);
        Ok(())
    }

    /// Stop recording on this thread.
    fn pop(&self) {
        self.tape.pop();
        trace::tape_step(&self.tape, TapeStep::Pop);
    }

    fn is_active(&self) -> bool {
        self.tape.is_active()
    }

    fn reset(&self) {
        self.tape.reset();
        trace::tape_step(&self.tape, TapeStep::Reset);
    }

    #[getter]
    fn persistent(&self) -> bool {
        self.tape.persistent()
    }

    fn num_nodes(&self) -> usize {
        self.tape.num_nodes()
    }

    /// Where watched tensors left this tape:
    /// `[(how, tensor_id, output_id_or_None, site_or_None)]`, `site` as in
    /// `call_sites`.
    fn escapes(&self, py: Python<'_>) -> Vec<(&'static str, u64, Option<u64>, Site)> {
        self.tape
            .escapes()
            .into_iter()
            .map(|e| (e.how, e.id, e.output, site_tuple(py, e.site)))
            .collect()
    }

    /// A fresh tensor id: everything created before this call has a smaller
    /// id, everything after a larger one (what `explain` dates tensors by).
    fn mark(&self) -> u64 {
        crate::tensor::fresh_id()
    }

    /// Per recorded node, in order: `(code object, f_lasti)` of the Python
    /// frame that called the op, or `None` where it is unknown.
    fn call_sites(&self, py: Python<'_>) -> Vec<Site> {
        self.tape
            .call_sites()
            .into_iter()
            .map(|site| site_tuple(py, site))
            .collect()
    }

    /// A snapshot of the record for `GradientTape.summary` / `to_dot`:
    /// `(nodes, watched_source_ids, variable_handle_ids, saved_bytes,
    /// saved_buffers)`, each node
    /// `(op, inputs, outputs, saved_bytes_or_None)` and each tensor
    /// `(id, dtype_name, shape)`.
    fn inspect(&self) -> InspectTuple {
        let view = self.tape.inspect();
        let metas = |ms: Vec<TensorMeta>| -> Vec<MetaTuple> {
            ms.into_iter()
                .map(|m| (m.id, m.dtype.name(), m.shape.to_vec()))
                .collect()
        };
        let nodes = view
            .nodes
            .into_iter()
            .map(|n| (n.op, metas(n.inputs), metas(n.outputs), n.saved_bytes))
            .collect();
        (
            nodes,
            view.watched_sources,
            self.tape.watched_variables(),
            view.saved_bytes,
            view.saved_buffers,
        )
    }

    /// Watch one tensor or variable; returns its dtype's name.
    fn watch(&self, obj: &Bound<'_, PyAny>) -> PyResult<&'static str> {
        let Ok(arg) = arg_of(obj, false) else {
            return Err(PyValueError::new_err(format!(
                "GradientTape.watch: passed in object {} of type '{}', not a tf.Tensor or tf.Variable; convert it first with tf.constant(...) (or make it a tf.Variable) and use that same object in the computation",
                obj.repr()?,
                obj.get_type().name()?
            )));
        };
        let meta = arg.meta();
        match &arg {
            Arg::Tensor(_) => self.tape.watch(meta.id),
            Arg::Variable(_) => self.tape.watch_variable(meta.id),
        }
        trace::tape_watch(&self.tape, &arg);
        Ok(meta.dtype.name())
    }

    /// The variables this tape watched, in creation order.
    fn watched_variables(&self) -> Vec<PyVariable> {
        self.tape
            .watched_variables()
            .into_iter()
            .filter_map(PyVariable::lookup)
            .collect()
    }

    /// Differentiate the record (`grad::Request` has the rules): `kind` is
    /// "gradient" (of the sum of `targets`, each seeded by its entry of
    /// `seeds`, `None` meaning ones), "jacobian" (of the one target, `chunk`
    /// identity rows at a time) or "batch_jacobian" (of the one target by
    /// the one source, per example). Flat lists in, one result per source
    /// out. A variable target stands for itself: d v / d v is ones.
    /// `on_final(k, gradient)` is called as soon as source `k`'s gradient is final.
    #[pyo3(signature = (kind, targets, seeds, sources, zero_unconnected=false, chunk=None, on_final=None))]
    #[allow(clippy::too_many_arguments)]
    fn derive(
        &self,
        py: Python<'_>,
        kind: &str,
        targets: Vec<Bound<'_, PyAny>>,
        seeds: Vec<Option<Bound<'_, PyAny>>>,
        sources: Vec<Bound<'_, PyAny>>,
        zero_unconnected: bool,
        chunk: Option<usize>,
        on_final: Option<Py<PyAny>>,
    ) -> PyResult<Vec<Option<PyTensor>>> {
        let kind = grad::Kind::from_name(kind, chunk)?;
        let targets = targets
            .iter()
            .map(|t| match kind {
                // (a batch jacobian's target is read, even a variable's)
                grad::Kind::BatchJacobian => Ok(Arg::Tensor(to_tensor(t, None)?)),
                _ => arg_of(t, true),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let given = (targets.iter().enumerate())
            .map(|(k, target)| match seeds.get(k) {
                Some(Some(s)) => to_tensor(s, Some(target.meta().dtype)).map(Some),
                _ => Ok(None),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let sources = args_of(&sources, false)?;
        let metas = |args: &[Arg]| args.iter().map(Arg::meta).collect();
        let (target_metas, source_metas) = (metas(&targets), metas(&sources));
        let unconnected = Unconnected::zero_if(zero_unconnected);
        let request =
            grad::Request::new(kind, target_metas, given.clone(), source_metas, unconnected)?;
        let nodes = self.tape.take_nodes();
        let grads = run(py, request.work(&nodes), || {
            let mut report = |k: usize, g: Option<&Tensor>| -> crate::error::Result<()> {
                let Some(hook) = &on_final else { return Ok(()) };
                Python::attach(|py| hook.call1(py, (k, g.cloned().map(PyTensor::new))))?;
                Ok(())
            };
            let hook = on_final
                .is_some()
                .then_some(&mut report as grad::OnFinal<'_>);
            request.run(nodes, hook)
        })?;
        // (while a trace captures: a step that differentiates its replay alike)
        trace::tape_gradient(
            &self.tape,
            kind,
            &targets,
            &given,
            &sources,
            zero_unconnected,
            &grads,
        );
        Ok(grads.into_iter().map(|g| g.map(PyTensor::new)).collect())
    }
}

/// The Rust half of `tapegrad.autodiff.ForwardAccumulator`.
#[pyclass(frozen, name = "ForwardAccumulator", module = "tapegrad._core")]
pub struct PyForwardAccumulator {
    acc: Accumulator,
}

#[pymethods]
impl PyForwardAccumulator {
    #[new]
    fn new() -> Self {
        trace::unsupported("tf.autodiff.ForwardAccumulator");
        PyForwardAccumulator {
            acc: grad::accumulator(),
        }
    }

    fn push(&self) {
        self.acc.push()
    }

    fn pop(&self) {
        self.acc.pop()
    }

    fn is_active(&self) -> bool {
        self.acc.is_active()
    }

    /// Track `primal` with `tangent` (converted to the primal's dtype; the
    /// shapes must agree).
    fn watch(&self, primal: &Bound<'_, PyAny>, tangent: &Bound<'_, PyAny>) -> PyResult<()> {
        let m = arg_of(primal, false)?.meta();
        let t = to_tensor(tangent, Some(m.dtype))?;
        Ok(self.acc.watch_primal(m, t)?)
    }

    /// The tangent of `primal`, or `None` if it does not depend on the
    /// watched primals. Re-raises a failure from pushing tangents.
    fn jvp(&self, primal: &Bound<'_, PyAny>) -> PyResult<Option<PyTensor>> {
        let m = arg_of(primal, false)?.meta();
        Ok(self.acc.tangent_of(m.id)?.map(PyTensor::new))
    }
}

/// Recording suspended for a custom gradient's forward function.
#[pyclass(name = "Suspension", module = "tapegrad._core")]
pub struct PySuspension {
    saved: Mutex<Option<Suspended>>,
}

#[pymethods]
impl PySuspension {
    #[new]
    fn new() -> Self {
        PySuspension {
            saved: Mutex::new(None),
        }
    }

    fn __enter__(&self) {
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(tape::suspend());
    }

    fn __exit__(&self, _a: &Bound<'_, PyAny>, _b: &Bound<'_, PyAny>, _c: &Bound<'_, PyAny>) {
        if let Some(s) = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take() {
            tape::resume(s);
        }
    }
}

/// Record a custom-gradient node: `inputs` (tensors and variables) →
/// `outputs`; the backward pass calls `vjp(list_of_output_grads)`, which
/// returns one gradient (or `None`) per input.
#[pyfunction]
pub fn record_custom(
    inputs: Vec<Bound<'_, PyAny>>,
    outputs: Vec<PyRef<'_, PyTensor>>,
    vjp: Py<PyAny>,
) -> PyResult<()> {
    trace::unsupported("tf.custom_gradient");
    let metas: Vec<TensorMeta> = args_of(&inputs, false)?.iter().map(Arg::meta).collect();
    let outs: Vec<Tensor> = outputs.iter().map(|o| o.tensor().clone()).collect();
    let out_refs: Vec<&Tensor> = outs.iter().collect();
    let dtypes: Vec<DType> = metas.iter().map(|m| m.dtype).collect();
    let rule = move |vjp: &CustomVjp, grads: &[Tensor]| {
        Python::attach(|py| -> PyResult<Vec<Option<Tensor>>> {
            let gs: Vec<PyTensor> = grads.iter().cloned().map(PyTensor::new).collect();
            let out = vjp.0.bind(py).call1((gs,))?;
            let items: Vec<Bound<'_, PyAny>> = out.extract()?;
            // (None: no gradient for that input)
            let convert = |(g, &d): (&Bound<'_, PyAny>, _)| {
                (!g.is_none()).then(|| to_tensor(g, Some(d))).transpose()
            };
            items.iter().zip(&dtypes).map(convert).collect()
        })
        .map_err(Error::from)
    };
    tape::record_foreign("CustomGradient", &metas, &out_refs, || CustomVjp(vjp), rule);
    Ok(())
}

/// The Python callable of a custom gradient, owned by its tape node. The
/// garbage collector sees it through the tape that solely holds the node
/// (`PyTape::__traverse__`), and `PyTape::__clear__` drops the node to break
/// a cycle such as model → tape → node → closure → model.
struct CustomVjp(Py<PyAny>);
