//! `_core._OptimizerRule` (a typed update rule with its hyperparameters) and
//! `_core._FusedOptimizer` (the slots and fused update of one optimizer).
//! `tapegrad.optimizers` (Python) owns the Keras interface around them:
//! signatures, learning-rate schedules, the step counter, `None` gradients,
//! weight-decay exclusions. Every hyperparameter is checked in `crate::optim`.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

use super::convert::to_tensor;
use super::run;
use super::tensor::PyTensor;
use super::variable::PyVariable;
use crate::optim::{
    Clip, Hyperparameter, Optimizer, Options, Rule, StepScalar, check_learning_rate, step_kernel,
};
use crate::tape;
use crate::tensor::Tensor;
use crate::trace;

/// One optimizer's update rule; a constructor per rule, whose omitted
/// arguments take the defaults of `crate::optim` (Keras 3's). Checked when an
/// optimizer is made from it.
#[pyclass(frozen, name = "_OptimizerRule", module = "tapegrad._core")]
pub struct PyOptimizerRule(Rule);

#[pymethods]
impl PyOptimizerRule {
    /// `_OptimizerRule("adam", beta_1=0.8)`: Keras 3's defaults for what is
    /// not given (`Rule::from_config`).
    #[new]
    #[pyo3(signature = (kind, **hyperparameters))]
    fn new(kind: &str, hyperparameters: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut given = Vec::new();
        for (name, value) in hyperparameters.into_iter().flatten() {
            let value = match value.cast::<PyBool>() {
                Ok(flag) => Hyperparameter::Flag(flag.is_true()),
                Err(_) => Hyperparameter::Number(value.extract()?),
            };
            given.push((name.extract()?, value));
        }
        Ok(Self(Rule::from_config(kind, &given)?))
    }

    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let config = PyDict::new(py);
        for (name, value) in self.0.config() {
            match value {
                Hyperparameter::Number(x) => config.set_item(name, x)?,
                Hyperparameter::Flag(b) => config.set_item(name, b)?,
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

#[pyclass(frozen, name = "_FusedOptimizer", module = "tapegrad._core")]
pub struct PyFusedOptimizer {
    optimizer: Arc<Mutex<Optimizer>>,
}

impl PyFusedOptimizer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Optimizer> {
        self.optimizer.lock().unwrap_or_else(|e| e.into_inner())
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
        let optimizer = Optimizer::new(rule, Options { weight_decay, clip })?;
        Ok(PyFusedOptimizer {
            optimizer: Arc::new(Mutex::new(optimizer)),
        })
    }

    /// The decoupled weight decay (None: none); settable, checked.
    #[getter]
    fn weight_decay(&self) -> Option<f64> {
        self.lock().weight_decay()
    }

    #[setter]
    fn set_weight_decay(&self, weight_decay: Option<f64>) -> PyResult<()> {
        Ok(self.lock().set_weight_decay(weight_decay)?)
    }

    /// Raises the error a step at `learning_rate` would raise, if any.
    fn check_learning_rate(&self, learning_rate: f64) -> PyResult<()> {
        Ok(check_learning_rate(self.lock().name(), learning_rate)?)
    }

    /// One step: each `(gradient, variable, decay)` updates `variable`,
    /// with the weight decay if `decay`. `iterations` is the step counter
    /// before this step and `learning_rate` the rate: numbers, or variables
    /// read when the step runs (so a traced step reads them at each replay).
    fn apply(
        &self,
        py: Python<'_>,
        updates: Vec<(Bound<'_, PyAny>, Bound<'_, PyVariable>, bool)>,
        learning_rate: &Bound<'_, PyAny>,
        iterations: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (mut vars, mut gradients, mut names, mut decays) = (vec![], vec![], vec![], vec![]);
        for (gradient, variable, decay) in &updates {
            let v = variable.get();
            // gradients given as Variables are read off the tape
            gradients.push(tape::without_recording(|| {
                to_tensor(gradient, Some(v.dtype()))
            })?);
            vars.push(v.variable().clone());
            names.push(v.var_name().to_string());
            decays.push(*decay);
        }
        let [rate, step] = [learning_rate, iterations].map(|s| match s.cast::<PyVariable>() {
            Ok(v) => {
                vars.push(v.get().variable().clone());
                Ok(StepScalar::Variable(vars.len() - 1))
            }
            Err(_) => s.extract::<f64>().map(StepScalar::Number),
        });
        let live = |handle| PyVariable::lookup(handle).is_some();
        let kernel = step_kernel(self.optimizer.clone(), names, decays, rate?, step?, live);
        let work = gradients.iter().map(Tensor::numel).sum();
        run(py, work, || kernel(&vars, &gradients))?;
        let name = "an optimizer step";
        trace::record_var_op(name, &vars, &gradients, &[], Arc::new(kernel));
        Ok(())
    }

    /// Create the slots of `variables` now (Keras' `build`).
    fn build(&self, variables: Vec<Bound<'_, PyVariable>>) -> PyResult<()> {
        let mut optimizer = self.lock();
        for v in &variables {
            let var = v.get();
            optimizer.build(var.variable(), var.var_name())?;
        }
        Ok(())
    }

    /// A copy of slot `name` of `variable` (TF's `get_slot`).
    fn get_slot(&self, variable: &Bound<'_, PyVariable>, name: &str) -> PyResult<PyTensor> {
        let optimizer = self.lock();
        let var = variable.get();
        match optimizer.slot(var.variable(), name) {
            Some(t) => Ok(PyTensor::new(t?)),
            None => Err(PyKeyError::new_err(format!(
                "{}: no slot {name:?} for variable '{}' (slots: {:?}; a variable has slots after its first update)",
                optimizer.name(),
                var.var_name(),
                optimizer.rule().slot_names()
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
        let mut optimizer = self.lock();
        Ok(optimizer.set_slot(var.variable(), var.var_name(), name, &value)?)
    }

    /// How many variables have slots.
    fn __len__(&self) -> usize {
        self.lock().len()
    }
}
