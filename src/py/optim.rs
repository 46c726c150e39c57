//! `_core._OptimizerRule` (a typed update rule with its hyperparameters) and
//! `_core._FusedOptimizer` (the slots and fused update of one optimizer).
//! `tapegrad.optimizers` (Python) owns the Keras interface around them:
//! signatures, learning-rate schedules, the step counter, `None` gradients,
//! weight-decay exclusions. Every hyperparameter is checked in `crate::optim`.

use std::sync::Mutex;

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::to_tensor;
use super::run;
use super::tensor::PyTensor;
use super::variable::PyVariable;
use crate::optim::{
    AdagradParams, AdamParams, Clip, Optimizer, Options, RmsPropParams, Rule, SgdParams, Update,
    check_learning_rate,
};
use crate::tape;

/// Slots of dead variables are dropped once the table has grown past this
/// many entries since the last sweep (amortised: the next sweep waits for
/// twice the survivors).
const FIRST_SWEEP: usize = 64;

/// One optimizer's update rule; a constructor per rule, whose omitted
/// arguments take the defaults of `crate::optim` (Keras 3's). Checked when an
/// optimizer is made from it.
#[pyclass(frozen, name = "_OptimizerRule", module = "tapegrad._core")]
pub struct PyOptimizerRule(Rule);

#[pymethods]
impl PyOptimizerRule {
    #[staticmethod]
    #[pyo3(signature = (
        *,
        momentum = SgdParams::default().momentum,
        nesterov = SgdParams::default().nesterov,
    ))]
    fn sgd(momentum: f64, nesterov: bool) -> Self {
        Self(Rule::Sgd(SgdParams { momentum, nesterov }))
    }

    #[staticmethod]
    #[pyo3(signature = (
        *,
        beta_1 = AdamParams::default().beta_1,
        beta_2 = AdamParams::default().beta_2,
        epsilon = AdamParams::default().epsilon,
        amsgrad = AdamParams::default().amsgrad,
    ))]
    fn adam(beta_1: f64, beta_2: f64, epsilon: f64, amsgrad: bool) -> Self {
        Self(Rule::Adam(AdamParams {
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
        }))
    }

    /// Adam's rule under AdamW's name; the optimizer needs a weight decay.
    #[staticmethod]
    #[pyo3(signature = (
        *,
        beta_1 = AdamParams::default().beta_1,
        beta_2 = AdamParams::default().beta_2,
        epsilon = AdamParams::default().epsilon,
        amsgrad = AdamParams::default().amsgrad,
    ))]
    fn adamw(beta_1: f64, beta_2: f64, epsilon: f64, amsgrad: bool) -> Self {
        Self(Rule::AdamW(AdamParams {
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
        }))
    }

    #[staticmethod]
    #[pyo3(signature = (
        *,
        rho = RmsPropParams::default().rho,
        momentum = RmsPropParams::default().momentum,
        epsilon = RmsPropParams::default().epsilon,
        centered = RmsPropParams::default().centered,
    ))]
    fn rmsprop(rho: f64, momentum: f64, epsilon: f64, centered: bool) -> Self {
        Self(Rule::RmsProp(RmsPropParams {
            rho,
            momentum,
            epsilon,
            centered,
        }))
    }

    #[staticmethod]
    #[pyo3(signature = (
        *,
        initial_accumulator_value = AdagradParams::default().initial_accumulator_value,
        epsilon = AdagradParams::default().epsilon,
    ))]
    fn adagrad(initial_accumulator_value: f64, epsilon: f64) -> Self {
        Self(Rule::Adagrad(AdagradParams {
            initial_accumulator_value,
            epsilon,
        }))
    }

    /// The hyperparameters by name, in the constructor's order (Keras'
    /// `get_config` entries and public attributes).
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let config = PyDict::new(py);
        match self.0 {
            Rule::Sgd(SgdParams { momentum, nesterov }) => {
                config.set_item("momentum", momentum)?;
                config.set_item("nesterov", nesterov)?;
            }
            Rule::Adam(p) | Rule::AdamW(p) => {
                config.set_item("beta_1", p.beta_1)?;
                config.set_item("beta_2", p.beta_2)?;
                config.set_item("epsilon", p.epsilon)?;
                config.set_item("amsgrad", p.amsgrad)?;
            }
            Rule::RmsProp(p) => {
                config.set_item("rho", p.rho)?;
                config.set_item("momentum", p.momentum)?;
                config.set_item("epsilon", p.epsilon)?;
                config.set_item("centered", p.centered)?;
            }
            Rule::Adagrad(p) => {
                config.set_item("initial_accumulator_value", p.initial_accumulator_value)?;
                config.set_item("epsilon", p.epsilon)?;
            }
        }
        Ok(config)
    }

    /// The names of the slots kept per variable, in Keras' order.
    fn slot_names(&self) -> Vec<&'static str> {
        self.0.slot_names()
    }

    fn __repr__(&self) -> String {
        format!("<_OptimizerRule {:?}>", self.0)
    }
}

struct State {
    optimizer: Optimizer,
    sweep_at: usize,
}

#[pyclass(frozen, name = "_FusedOptimizer", module = "tapegrad._core")]
pub struct PyFusedOptimizer {
    state: Mutex<State>,
}

impl PyFusedOptimizer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyFusedOptimizer {
    /// An optimizer following `rule`, with Keras' base arguments (None:
    /// off); every hyperparameter and option is checked here.
    #[new]
    #[pyo3(signature = (rule, *, weight_decay, clipnorm, clipvalue, global_clipnorm))]
    fn new(
        rule: &PyOptimizerRule,
        weight_decay: Option<f64>,
        clipnorm: Option<f64>,
        clipvalue: Option<f64>,
        global_clipnorm: Option<f64>,
    ) -> PyResult<Self> {
        let rule = rule.0;
        let clip = Clip::from_keras(rule.name(), clipnorm, clipvalue, global_clipnorm)?;
        Ok(PyFusedOptimizer {
            state: Mutex::new(State {
                optimizer: Optimizer::new(rule, Options { weight_decay, clip })?,
                sweep_at: FIRST_SWEEP,
            }),
        })
    }

    /// The decoupled weight decay (None: none); settable, checked.
    #[getter]
    fn weight_decay(&self) -> Option<f64> {
        self.lock().optimizer.weight_decay()
    }

    #[setter]
    fn set_weight_decay(&self, weight_decay: Option<f64>) -> PyResult<()> {
        Ok(self.lock().optimizer.set_weight_decay(weight_decay)?)
    }

    /// Raises the error a step at `learning_rate` would raise, if any.
    fn check_learning_rate(&self, learning_rate: f64) -> PyResult<()> {
        Ok(check_learning_rate(
            self.lock().optimizer.name(),
            learning_rate,
        )?)
    }

    /// One step: each `(gradient, variable, decay)` updates `variable`,
    /// with the weight decay if `decay`. `iterations` is the step counter
    /// before this step.
    fn apply(
        &self,
        py: Python<'_>,
        updates: Vec<(Bound<'_, PyAny>, Bound<'_, PyVariable>, bool)>,
        learning_rate: f64,
        iterations: u64,
    ) -> PyResult<()> {
        let mut gradients = Vec::with_capacity(updates.len());
        for (gradient, variable, _) in &updates {
            let dtype = variable.get().dtype();
            // gradients given as Variables are read off the tape
            gradients.push(tape::without_recording(|| {
                to_tensor(gradient, Some(dtype))
            })?);
        }
        let updates: Vec<Update<'_>> = updates
            .iter()
            .zip(gradients)
            .map(|((_, variable, decay), gradient)| Update {
                variable: variable.get().variable(),
                name: variable.get().var_name(),
                gradient,
                decay: *decay,
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
    fn build(&self, variables: Vec<Bound<'_, PyVariable>>) -> PyResult<()> {
        let mut state = self.lock();
        for v in &variables {
            let var = v.get();
            state.optimizer.build(var.variable(), var.var_name())?;
        }
        Ok(())
    }

    /// A copy of slot `name` of `variable` (TF's `get_slot`).
    fn get_slot(&self, variable: &Bound<'_, PyVariable>, name: &str) -> PyResult<PyTensor> {
        let state = self.lock();
        let var = variable.get();
        match state.optimizer.slot(var.variable(), name) {
            Some(t) => Ok(PyTensor::new(t?)),
            None => Err(PyKeyError::new_err(format!(
                "{}: no slot {name:?} for variable '{}' (slots: {:?}; a variable has slots after its first update)",
                state.optimizer.name(),
                var.var_name(),
                state.optimizer.rule().slot_names()
            ))),
        }
    }

    /// Overwrite slot `name` of `variable` with `value` (converted to the
    /// variable's dtype; its shape must match), creating the variable's
    /// slots first if it has none. Taken under the lock an update holds, so
    /// a concurrent `apply` sees the old slot or the new one, never a mix.
    fn set_slot(
        &self,
        variable: &Bound<'_, PyVariable>,
        name: &str,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let var = variable.get();
        let value = tape::without_recording(|| to_tensor(value, Some(var.dtype())))?;
        let mut state = self.lock();
        Ok(state
            .optimizer
            .set_slot(var.variable(), var.var_name(), name, &value)?)
    }

    /// How many variables have slots.
    fn __len__(&self) -> usize {
        self.lock().optimizer.len()
    }
}

impl State {
    fn sweep(&mut self) {
        if self.optimizer.len() >= self.sweep_at {
            self.optimizer
                .retain(|handle| PyVariable::lookup(handle).is_some());
            self.sweep_at = (2 * self.optimizer.len()).max(FIRST_SWEEP);
        }
    }
}
