//! `tapegrad._core.Tape`: the Rust half of `GradientTape`. The Python class
//! (`tapegrad/_tape.py`) owns nested structures, warnings and TF's error texts.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::convert::to_tensor;
use super::tensor::PyTensor;
use super::variable::PyVariable;
use crate::ops;
use crate::tape::{self, Tape, Unconnected};
use crate::tensor::{Tensor, TensorMeta};

#[pyclass(frozen, name = "Tape", module = "tapegrad._core")]
pub struct PyTape {
    tape: Tape,
}

/// A source: a tensor, or a variable (by its handle).
fn source_meta(obj: &Bound<'_, PyAny>) -> PyResult<TensorMeta> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(t.get().tensor().meta());
    }
    if let Ok(v) = obj.cast::<PyVariable>() {
        return Ok(v.get().handle_meta());
    }
    Err(PyTypeError::new_err(format!(
        "sources must be tensors or Variables, got {}",
        obj.get_type().name()?
    )))
}

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
    #[pyo3(signature = (targets, seeds, sources, zero_unconnected=false))]
    fn gradient(
        &self,
        py: Python<'_>,
        targets: Vec<Bound<'_, PyAny>>,
        seeds: Vec<Option<Bound<'_, PyAny>>>,
        sources: Vec<Bound<'_, PyAny>>,
        zero_unconnected: bool,
    ) -> PyResult<Vec<Option<PyTensor>>> {
        let mut pairs: Vec<(Tensor, Tensor)> = Vec::with_capacity(targets.len());
        for (i, target) in targets.iter().enumerate() {
            let t = to_tensor(target, None)?;
            let seed = match seeds.get(i) {
                Some(Some(s)) => {
                    let s = to_tensor(s, Some(t.dtype()))?;
                    // TF silently mis-shapes gradients here; we refuse.
                    if s.shape() != t.shape() {
                        return Err(PyValueError::new_err(format!(
                            "output_gradients[{i}] has shape {:?} but its target has shape {:?}",
                            s.shape(),
                            t.shape()
                        )));
                    }
                    s
                }
                _ => ops::ones(t.dtype(), t.shape())?,
            };
            pairs.push((t, seed));
        }
        let sources = sources
            .iter()
            .map(source_meta)
            .collect::<PyResult<Vec<_>>>()?;
        let unconnected = if zero_unconnected {
            Unconnected::Zero
        } else {
            Unconnected::None
        };
        let nodes = self.tape.take_nodes();
        let grads = py.detach(|| tape::gradient(nodes, &pairs, &sources, unconnected))?;
        Ok(grads.into_iter().map(|g| g.map(PyTensor::new)).collect())
    }
}
