//! The Rust halves of `GradientTape` and `ForwardAccumulator`, and the hook
//! custom gradients record through. The Python classes (`tapegrad/_tape.py`,
//! `tapegrad/autodiff.py`) own nested structures, warnings and TF's texts.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::convert::to_tensor;
use super::tensor::PyTensor;
use super::variable::PyVariable;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops;
use crate::tape::{self, Accumulator, Suspended, Tape, Unconnected};
use crate::tensor::{Tensor, TensorMeta};

#[pyclass(frozen, name = "Tape", module = "tapegrad._core")]
pub struct PyTape {
    tape: Tape,
}

/// A source or target: a tensor, or a variable (by its handle).
fn meta_of(obj: &Bound<'_, PyAny>) -> PyResult<TensorMeta> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(t.get().tensor().meta());
    }
    if let Ok(v) = obj.cast::<PyVariable>() {
        return Ok(v.get().handle_meta());
    }
    Err(PyTypeError::new_err(format!(
        "expected a Tensor or a Variable, got {}",
        obj.get_type().name()?
    )))
}

fn unconnected(zero: bool) -> Unconnected {
    if zero {
        Unconnected::Zero
    } else {
        Unconnected::None
    }
}

/// Rows `start..start + count` of the n×n identity, shaped `[count] ++ shape`.
fn identity_rows(dtype: DType, shape: &[usize], start: usize, count: usize) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut seed_shape = vec![count];
    seed_shape.extend_from_slice(shape);
    let mut v = vec![0.0f64; count * n];
    for i in 0..count {
        v[i * n + start + i] = 1.0;
    }
    ops::cast(&Tensor::from_vec(&seed_shape, v)?, dtype)
}

type MetaTuple = (u64, &'static str, Vec<usize>);
type NodeTuple = (&'static str, Vec<MetaTuple>, Vec<MetaTuple>, Option<usize>);
type InspectTuple = (Vec<NodeTuple>, Vec<u64>, Vec<u64>, usize, usize);

#[pymethods]
impl PyTape {
    #[new]
    fn new(persistent: bool, watch_accessed_variables: bool) -> PyTape {
        PyTape {
            tape: Tape::new(persistent, watch_accessed_variables),
        }
    }

    /// Start recording on this thread.
    fn push(&self) -> PyResult<()> {
        Ok(self.tape.push()?)
    }

    /// Stop recording on this thread.
    fn pop(&self) {
        self.tape.pop()
    }

    fn is_active(&self) -> bool {
        self.tape.is_active()
    }

    fn reset(&self) {
        self.tape.reset()
    }

    #[getter]
    fn persistent(&self) -> bool {
        self.tape.persistent()
    }

    fn num_nodes(&self) -> usize {
        self.tape.num_nodes()
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
                .map(|m| (m.id, m.dtype.name(), m.shape))
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
        if let Ok(t) = obj.cast::<PyTensor>() {
            let t = t.get().tensor();
            self.tape.watch(t.id());
            return Ok(t.dtype().name());
        }
        if let Ok(v) = obj.cast::<PyVariable>() {
            let v = v.get();
            self.tape.watch_variable(v.handle_meta().id);
            return Ok(v.dtype().name());
        }
        Err(PyValueError::new_err(format!(
            "Passed in object {} of type '{}', not tf.Tensor or tf.Variable or ExtensionType.",
            obj.repr()?,
            obj.get_type().name()?
        )))
    }

    /// The variables this tape watched, in creation order.
    fn watched_variables(&self) -> Vec<PyVariable> {
        self.tape
            .watched_variables()
            .into_iter()
            .filter_map(PyVariable::lookup)
            .collect()
    }

    /// Gradients of the sum of `targets` (seeded by `seeds`, `None` meaning
    /// ones) with respect to each source. Flat lists in, a flat list out.
    /// A variable target stands for itself: d v / d v is ones.
    #[pyo3(signature = (targets, seeds, sources, zero_unconnected=false))]
    fn gradient(
        &self,
        py: Python<'_>,
        targets: Vec<Bound<'_, PyAny>>,
        seeds: Vec<Option<Bound<'_, PyAny>>>,
        sources: Vec<Bound<'_, PyAny>>,
        zero_unconnected: bool,
    ) -> PyResult<Vec<Option<PyTensor>>> {
        let mut pairs: Vec<(TensorMeta, Tensor)> = Vec::with_capacity(targets.len());
        for (i, target) in targets.iter().enumerate() {
            let t = match target.cast::<PyVariable>() {
                Ok(v) => v.get().handle_meta(),
                Err(_) => to_tensor(target, None)?.meta(),
            };
            let seed = match seeds.get(i) {
                Some(Some(s)) => {
                    let s = to_tensor(s, Some(t.dtype))?;
                    // TF silently mis-shapes gradients here; we refuse.
                    if s.shape() != t.shape.as_slice() {
                        return Err(PyValueError::new_err(format!(
                            "output_gradients[{i}] has shape {:?} but its target has shape {:?}",
                            s.shape(),
                            t.shape
                        )));
                    }
                    s
                }
                _ => ops::ones(t.dtype, &t.shape)?,
            };
            pairs.push((t, seed));
        }
        let sources = sources.iter().map(meta_of).collect::<PyResult<Vec<_>>>()?;
        let nodes = self.tape.take_nodes();
        let unconnected = unconnected(zero_unconnected);
        let grads = py.detach(|| tape::gradient(nodes, &pairs, &sources, unconnected, &[]))?;
        Ok(grads.into_iter().map(|g| g.map(PyTensor::new)).collect())
    }

    /// d target / d source for every source, shaped `target.shape ++
    /// source.shape`: the rows of the identity are pushed through the
    /// backward pass as one batch of cotangents, `chunk` rows at a time.
    #[pyo3(signature = (target, sources, zero_unconnected=false, chunk=None))]
    fn jacobian(
        &self,
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
        sources: Vec<Bound<'_, PyAny>>,
        zero_unconnected: bool,
        chunk: Option<usize>,
    ) -> PyResult<Vec<Option<PyTensor>>> {
        let t = match target.cast::<PyVariable>() {
            Ok(v) => v.get().handle_meta(),
            Err(_) => to_tensor(target, None)?.meta(),
        };
        let sources = sources.iter().map(meta_of).collect::<PyResult<Vec<_>>>()?;
        let nodes = self.tape.take_nodes();
        let unconnected = unconnected(zero_unconnected);
        let out = py.detach(|| jacobian(nodes, &t, &sources, unconnected, chunk))?;
        Ok(out.into_iter().map(|g| g.map(PyTensor::new)).collect())
    }

    /// Per-example jacobian: `target` is `[b, y...]`, `source` `[b, x...]`,
    /// and example `i` of the target depends only on example `i` of the
    /// source; the result is `[b, y..., x...]`.
    #[pyo3(signature = (target, source, zero_unconnected=false))]
    fn batch_jacobian(
        &self,
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
        source: &Bound<'_, PyAny>,
        zero_unconnected: bool,
    ) -> PyResult<Option<PyTensor>> {
        let t = to_tensor(target, None)?.meta();
        let s = meta_of(source)?;
        let nodes = self.tape.take_nodes();
        let unconnected = unconnected(zero_unconnected);
        let out = py.detach(|| batch_jacobian(nodes, &t, &s, unconnected))?;
        Ok(out.map(PyTensor::new))
    }
}

/// Cap on the elements of one batch of identity rows (and of the gradients
/// it produces): bigger jacobians are computed in chunks of rows.
const JACOBIAN_CHUNK_ELEMENTS: usize = 1 << 24;

fn jacobian(
    nodes: Vec<Arc<tape::Node>>,
    t: &TensorMeta,
    sources: &[TensorMeta],
    unconnected: Unconnected,
    chunk: Option<usize>,
) -> Result<Vec<Option<Tensor>>> {
    let n: usize = t.shape.iter().product();
    let widest = sources
        .iter()
        .map(|s| s.shape.iter().product::<usize>())
        .max()
        .unwrap_or(0)
        .max(n)
        .max(1);
    let chunk = chunk
        .unwrap_or(JACOBIAN_CHUNK_ELEMENTS / widest)
        .clamp(1, n.max(1));
    let mut parts: Vec<Vec<Option<Tensor>>> = Vec::new();
    if t.dtype.is_float() {
        let mut start = 0;
        while start < n {
            let count = chunk.min(n - start);
            let seed = identity_rows(t.dtype, &t.shape, start, count)?;
            parts.push(tape::gradient(
                nodes.clone(),
                &[(t.clone(), seed)],
                sources,
                Unconnected::None,
                &[count],
            )?);
            start += count;
        }
    }
    sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut shape = t.shape.clone();
            shape.extend_from_slice(&s.shape);
            let rows: Vec<Tensor> = parts.iter().filter_map(|p| p[i].clone()).collect();
            if rows.is_empty() || rows.len() != parts.len() || !s.dtype.is_float() {
                return match unconnected {
                    Unconnected::Zero => ops::zeros(s.dtype, &shape).map(Some),
                    Unconnected::None => Ok(None),
                };
            }
            let stacked = if rows.len() == 1 {
                rows[0].clone()
            } else {
                ops::concat(&rows, 0)?
            };
            ops::reshape_to(&stacked, &shape).map(Some)
        })
        .collect()
}

fn batch_jacobian(
    nodes: Vec<Arc<tape::Node>>,
    t: &TensorMeta,
    s: &TensorMeta,
    unconnected: Unconnected,
) -> Result<Option<Tensor>> {
    let per_example: usize = t.shape[1..].iter().product();
    let mut out_shape = t.shape.clone();
    out_shape.extend_from_slice(&s.shape[1..]);
    let missing = || match unconnected {
        Unconnected::Zero => ops::zeros(s.dtype, &out_shape).map(Some),
        Unconnected::None => Ok(None),
    };
    if !t.dtype.is_float() || !s.dtype.is_float() {
        return missing();
    }
    // Cotangent j selects output element j of every example at once: the
    // examples are independent, so each gets its own row of the jacobian.
    let rows = identity_rows(t.dtype, &t.shape[1..], 0, per_example)?; // [Y, y...]
    let mut rows_shape = vec![per_example, 1];
    rows_shape.extend_from_slice(&t.shape[1..]);
    let mut seed_shape = vec![per_example];
    seed_shape.extend_from_slice(&t.shape);
    let seed = ops::broadcast_to(&ops::reshape_to(&rows, &rows_shape)?, &seed_shape)?;
    let g = tape::gradient(
        nodes,
        &[(t.clone(), seed)],
        std::slice::from_ref(s),
        Unconnected::None,
        &[per_example],
    )?;
    let Some(g) = g.into_iter().next().flatten() else {
        return missing();
    };
    // [Y, b, x...] → [b, Y, x...] → [b, y..., x...]
    let mut perm: Vec<i64> = (0..g.rank() as i64).collect();
    perm.swap(0, 1);
    ops::reshape_to(&ops::transpose(&g, Some(&perm))?, &out_shape).map(Some)
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
        PyForwardAccumulator {
            acc: Accumulator::new(),
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
        let m = meta_of(primal)?;
        let t = to_tensor(tangent, Some(m.dtype))?;
        if t.shape() != m.shape.as_slice() {
            return Err(Error::ShapeMismatch {
                op: "ForwardAccumulator",
                lhs: m.shape,
                rhs: t.shape().to_vec(),
            }
            .into());
        }
        self.acc.watch(m.id, t);
        Ok(())
    }

    /// The tangent of `primal`, or `None` if it does not depend on the
    /// watched primals. Re-raises a failure from pushing tangents.
    fn jvp(&self, primal: &Bound<'_, PyAny>) -> PyResult<Option<PyTensor>> {
        if let Some(e) = self.acc.take_error() {
            return Err(e.into());
        }
        let m = meta_of(primal)?;
        Ok(self.acc.tangent(m.id).map(PyTensor::new))
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
    let metas = inputs.iter().map(meta_of).collect::<PyResult<Vec<_>>>()?;
    let outs: Vec<Tensor> = outputs.iter().map(|o| o.tensor().clone()).collect();
    let out_refs: Vec<&Tensor> = outs.iter().collect();
    let dtypes: Vec<DType> = metas.iter().map(|m| m.dtype).collect();
    tape::record_foreign("CustomGradient", &metas, &out_refs, move || {
        let vjp = Arc::new(vjp);
        Box::new(move |grads, _| {
            Python::attach(|py| -> PyResult<Vec<Option<Tensor>>> {
                let gs: Vec<PyTensor> = grads.iter().cloned().map(PyTensor::new).collect();
                let out = vjp.bind(py).call1((gs,))?;
                let items: Vec<Bound<'_, PyAny>> = out.extract()?;
                items
                    .iter()
                    .zip(&dtypes)
                    .map(|(g, &d)| {
                        if g.is_none() {
                            Ok(None)
                        } else {
                            to_tensor(g, Some(d)).map(Some)
                        }
                    })
                    .collect()
            })
            .map_err(|e| Error::Foreign(Arc::new(e)))
        })
    });
    Ok(())
}
