//! `_core._FusedOptimizer`: the slots and fused update of one optimizer.
//! `tapegrad.optimizers` (Python) owns the Keras interface around it:
//! learning-rate schedules, the step counter, `None` gradients, weight-decay
//! exclusions.

use std::sync::Mutex;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

use super::convert::to_tensor;
use super::run;
use super::tensor::PyTensor;
use super::variable::PyVariable;
use crate::optim::{Clip, Optimizer, Rule, Update};
use crate::tape;

/// Slots of dead variables are dropped once the table has grown past this
/// many entries since the last sweep (amortised: the next sweep waits for
/// twice the survivors).
const FIRST_SWEEP: usize = 64;

struct State {
    optimizer: Optimizer,
    sweep_at: usize,
}

#[pyclass(frozen, name = "_FusedOptimizer", module = "tapegrad._core")]
pub struct PyFusedOptimizer {
    state: Mutex<State>,
}

/// The optimizer's class name as a static string for error messages.
fn class_name(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "SGD" => "SGD",
        "Adam" => "Adam",
        "AdamW" => "AdamW",
        "RMSprop" => "RMSprop",
        "Adagrad" => "Adagrad",
        _ => return None,
    })
}

fn variable<'a, 'py>(op: &str, obj: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyVariable>> {
    obj.cast::<PyVariable>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        PyValueError::new_err(format!(
            "{op}: can only update tapegrad.Variable objects, got a {ty}"
        ))
    })
}

impl PyFusedOptimizer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyFusedOptimizer {
    /// `kind` is the class ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad");
    /// the keyword arguments not used by that rule are ignored.
    #[new]
    #[pyo3(signature = (
        kind, *, momentum=0.0, nesterov=false, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
        amsgrad=false, rho=0.9, centered=false, initial_accumulator_value=0.1,
        clipnorm=None, clipvalue=None, global_clipnorm=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind: &str,
        momentum: f64,
        nesterov: bool,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        amsgrad: bool,
        rho: f64,
        centered: bool,
        initial_accumulator_value: f64,
        clipnorm: Option<f64>,
        clipvalue: Option<f64>,
        global_clipnorm: Option<f64>,
    ) -> PyResult<Self> {
        let op = class_name(kind)
            .ok_or_else(|| PyValueError::new_err(format!("unknown optimizer kind {kind:?}")))?;
        let rule = match op {
            "SGD" => Rule::Sgd { momentum, nesterov },
            "Adam" | "AdamW" => Rule::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
            },
            "RMSprop" => Rule::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
            },
            _ => Rule::Adagrad {
                initial_accumulator_value,
                epsilon,
            },
        };
        let clip = match (clipnorm, clipvalue, global_clipnorm) {
            (None, None, None) => Clip::None,
            (Some(c), None, None) => Clip::Norm(c),
            (None, Some(v), None) => Clip::Value(v),
            (None, None, Some(c)) => Clip::GlobalNorm(c),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "{op}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set"
                )));
            }
        };
        Ok(PyFusedOptimizer {
            state: Mutex::new(State {
                optimizer: Optimizer::new(op, rule, clip)?,
                sweep_at: FIRST_SWEEP,
            }),
        })
    }

    /// One step: `gradients[i]` updates `variables[i]`; `weight_decays[i]`
    /// is the decoupled weight decay of that variable (None: none).
    /// `iterations` is the step counter before this step.
    fn apply(
        &self,
        py: Python<'_>,
        gradients: Vec<Bound<'_, PyAny>>,
        variables: Vec<Bound<'_, PyAny>>,
        learning_rate: f64,
        iterations: u64,
        weight_decays: Vec<Option<f64>>,
    ) -> PyResult<()> {
        let op = self.lock().optimizer_name();
        if gradients.len() != variables.len() || weight_decays.len() != variables.len() {
            return Err(PyValueError::new_err(format!(
                "{op}: {} gradients for {} variables ({} weight decays)",
                gradients.len(),
                variables.len(),
                weight_decays.len()
            )));
        }
        let mut targets = Vec::with_capacity(variables.len());
        for (g, v) in gradients.iter().zip(&variables) {
            let var = variable(op, v)?.get();
            // gradients given as Variables are read off the tape
            let grad = tape::without_recording(|| to_tensor(g, Some(var.dtype())))?;
            targets.push((var, var.var_name().to_string(), grad));
        }
        let updates: Vec<Update<'_>> = targets
            .iter()
            .zip(weight_decays)
            .map(|((var, name, grad), weight_decay)| Update {
                variable: var.variable(),
                name,
                gradient: grad.clone(),
                weight_decay,
            })
            .collect();
        let work = updates.iter().map(|u| u.gradient.numel()).sum();
        run(py, work, || {
            let mut state = self.lock();
            state.sweep();
            state.optimizer.apply(&updates, learning_rate, iterations)
        })
    }

    /// Create the slots of `variables` now (Keras' `build`).
    fn build(&self, variables: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let mut state = self.lock();
        let op = state.optimizer_name();
        for v in &variables {
            let var = variable(op, v)?.get();
            state.optimizer.build(var.variable(), var.var_name())?;
        }
        Ok(())
    }

    /// A copy of slot `name` of `variable` (TF's `get_slot`).
    fn get_slot(&self, variable: &Bound<'_, PyAny>, name: &str) -> PyResult<PyTensor> {
        let state = self.lock();
        let op = state.optimizer_name();
        let var = self::variable(op, variable)?.get();
        match state.optimizer.slot(var.variable(), name) {
            Some(t) => Ok(PyTensor::new(t?)),
            None => Err(PyKeyError::new_err(format!(
                "{op}: no slot {name:?} for variable '{}' (slots: {:?}; a variable has slots after its first update)",
                var.var_name(),
                state.optimizer.rule().slot_names()
            ))),
        }
    }

    /// The names of the slots kept per variable, in Keras' order.
    fn get_slot_names(&self) -> Vec<&'static str> {
        self.lock().optimizer.rule().slot_names()
    }

    /// How many variables have slots.
    fn __len__(&self) -> usize {
        self.lock().optimizer.len()
    }
}

impl State {
    fn optimizer_name(&self) -> &'static str {
        self.optimizer.name()
    }

    fn sweep(&mut self) {
        if self.optimizer.len() >= self.sweep_at {
            self.optimizer
                .retain(|handle| PyVariable::lookup(handle).is_some());
            self.sweep_at = (2 * self.optimizer.len()).max(FIRST_SWEEP);
        }
    }
}
