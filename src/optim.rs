//! Optimizer updates with Keras 3's rules, fused: one pass over a variable's
//! buffer updates the variable and its slot buffers (momentum, m, v, …) in
//! place, on rayon above `PAR_MIN_LEN` elements. No op runs, so nothing is
//! recorded on any tape.
//!
//! Each rule's hyperparameters are a struct whose `Default` is Keras 3's and
//! whose `validate` is the only check of them (the Python classes keep
//! Keras's signatures and pass every value here).
//!
//! The math per element, with `g` the (clipped) gradient, `lr` the learning
//! rate and `t = iterations + 1` (Keras' `local_step`):
//!
//! - weight decay, for every rule, before its update: `w ← w − w·wd·lr`
//! - SGD: `w ← w − g·lr`; with momentum μ: `m ← m·μ − g·lr`, then `w ← w + m`
//!   or, Nesterov, `w ← w + (m·μ − g·lr)`
//! - Adam (and AdamW): `m ← m + (g − m)(1 − β₁)`, `v ← v + (g² − v)(1 − β₂)`;
//!   AMSGrad: `v̂ ← max(v̂, v)` replaces `v` below;
//!   `w ← w − m·α / (√v + ε)` with `α = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)`
//!   (ε is "epsilon hat": it is added after the bias correction folded in α)
//! - RMSprop: `v ← ρ·v + (1 − ρ)·g²`; centered: `ḡ ← ρ·ḡ + (1 − ρ)·g` and
//!   `d = v − ḡ² + ε`, else `d = v + ε`; `Δ = lr·g / √d`; with momentum μ:
//!   `m ← μ·m + Δ`, `w ← w − m`, else `w ← w − Δ`
//! - Adagrad: `a ← a + g²` (a starts at `initial_accumulator_value`),
//!   `w ← w − lr·g / √(a + ε)`
//!
//! Gradient clipping (Keras semantics) is folded into the same pass as a
//! per-variable scale and a clamp: `clipnorm` c scales each gradient by
//! `c / max(‖g‖, c)`, `global_clipnorm` c scales all of them by
//! `c·min(1/‖G‖, 1/c)` (NaN when ‖G‖ is not finite, as Keras), `clipvalue` v
//! clamps every element to `[−v, v]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ndarray::{ArcArray, IxDyn};
use num_complex::Complex;
use rayon::prelude::*;

use crate::dtype::{DType, Real};
use crate::error::{Error, Result};
use crate::kernels;
use crate::tensor::{Data, Element, Tensor, TensorId, check_alloc};
use crate::variable::Variable;

/// Elements per rayon task once a buffer is large enough to split.
const GRAIN: usize = 1 << 14;

/// Elements per partial sum of a squared norm: fixed, so the rounding does
/// not depend on the thread count.
const NORM_CHUNK: usize = 4096;

// --- hyperparameters -----------------------------------------------------------

/// `keras.optimizers.SGD`'s hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdParams {
    /// μ, in [0, 1]; 0 keeps no momentum slot.
    pub momentum: f64,
    /// Nesterov momentum: `w ← w + (m·μ − g·lr)` instead of `w ← w + m`.
    pub nesterov: bool,
}

impl Default for SgdParams {
    fn default() -> Self {
        SgdParams {
            momentum: 0.0,
            nesterov: false,
        }
    }
}

impl SgdParams {
    fn validate(&self, op: &'static str) -> Result<()> {
        check_unit_interval(op, "momentum", self.momentum, Closed)
    }
}

/// `keras.optimizers.Adam`'s (and `AdamW`'s) hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    /// β₁, the decay of the first moment `m`, in [0, 1).
    pub beta_1: f64,
    /// β₂, the decay of the second moment `v`, in [0, 1).
    pub beta_2: f64,
    /// ε ≥ 0, added to `√v` after the bias correction.
    pub epsilon: f64,
    /// AMSGrad: divide by the running maximum `v̂` of `v`.
    pub amsgrad: bool,
}

impl Default for AdamParams {
    fn default() -> Self {
        AdamParams {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }
}

impl AdamParams {
    fn validate(&self, op: &'static str) -> Result<()> {
        check_unit_interval(op, "beta_1", self.beta_1, Open)?;
        check_unit_interval(op, "beta_2", self.beta_2, Open)?;
        check_non_negative(op, "epsilon", self.epsilon)
    }
}

/// `keras.optimizers.RMSprop`'s hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropParams {
    /// ρ, the decay of the mean square `v`, in [0, 1).
    pub rho: f64,
    /// μ, in [0, 1]; 0 keeps no momentum slot.
    pub momentum: f64,
    /// ε ≥ 0, added under the square root.
    pub epsilon: f64,
    /// Divide by the variance estimate `v − ḡ²` instead of `v`.
    pub centered: bool,
}

impl Default for RmsPropParams {
    fn default() -> Self {
        RmsPropParams {
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }
}

impl RmsPropParams {
    fn validate(&self, op: &'static str) -> Result<()> {
        check_unit_interval(op, "rho", self.rho, Open)?;
        check_unit_interval(op, "momentum", self.momentum, Closed)?;
        check_non_negative(op, "epsilon", self.epsilon)
    }
}

/// `keras.optimizers.Adagrad`'s hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradParams {
    /// The accumulator's starting value, ≥ 0.
    pub initial_accumulator_value: f64,
    /// ε ≥ 0, added under the square root.
    pub epsilon: f64,
}

impl Default for AdagradParams {
    fn default() -> Self {
        AdagradParams {
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }
}

impl AdagradParams {
    fn validate(&self, op: &'static str) -> Result<()> {
        check_non_negative(
            op,
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        check_non_negative(op, "epsilon", self.epsilon)
    }
}

/// Whether a unit interval includes 1 (momentum may be 1; a decay rate may not).
#[derive(Clone, Copy, PartialEq)]
enum UpperBound {
    Open,
    Closed,
}
use UpperBound::{Closed, Open};

fn check_unit_interval(op: &'static str, name: &str, v: f64, upper: UpperBound) -> Result<()> {
    let below_one = v < 1.0 || (upper == Closed && v == 1.0);
    if v >= 0.0 && below_one {
        return Ok(());
    }
    let range = if upper == Closed { "[0, 1]" } else { "[0, 1)" };
    Err(Error::invalid(
        op,
        format!("`{name}` must be in {range}, got {v}"),
    ))
}

fn check_non_negative(op: &'static str, name: &str, v: f64) -> Result<()> {
    if v >= 0.0 && v.is_finite() {
        return Ok(());
    }
    Err(Error::invalid(
        op,
        format!("`{name}` must be a finite number >= 0, got {v}"),
    ))
}

/// One entry of `Rule::config`: a number or a switch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Hyperparameter {
    Number(f64),
    Flag(bool),
}

/// An update rule: one of Keras 3's optimizers with its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    Sgd(SgdParams),
    Adam(AdamParams),
    /// Adam's update with decoupled weight decay, which must be set
    /// (`Options::weight_decay`; Keras' AdamW defaults it to 0.004).
    AdamW(AdamParams),
    RmsProp(RmsPropParams),
    Adagrad(AdagradParams),
}

impl Rule {
    /// The optimizer's class name, which errors carry ("Adam", "SGD", …).
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Sgd(_) => "SGD",
            Rule::Adam(_) => "Adam",
            Rule::AdamW(_) => "AdamW",
            Rule::RmsProp(_) => "RMSprop",
            Rule::Adagrad(_) => "Adagrad",
        }
    }

    /// The rule `kind` ("sgd", "adam", "adamw", "rmsprop" or "adagrad")
    /// with Keras 3's defaults, overridden by the `(name, value)` pairs given
    /// (the binding's keyword arguments). Values are checked when the rule
    /// goes into an `Optimizer`.
    pub fn from_config(kind: &str, given: &[(String, Hyperparameter)]) -> Result<Rule> {
        let mut rule = match kind {
            "sgd" => Rule::Sgd(SgdParams::default()),
            "adam" => Rule::Adam(AdamParams::default()),
            "adamw" => Rule::AdamW(AdamParams::default()),
            "rmsprop" => Rule::RmsProp(RmsPropParams::default()),
            "adagrad" => Rule::Adagrad(AdagradParams::default()),
            _ => {
                let msg = format!(
                    "unknown update rule {kind:?}; expected sgd, adam, adamw, rmsprop or adagrad"
                );
                return Err(Error::invalid("Optimizer", msg));
            }
        };
        for (name, value) in given {
            rule.set(name, *value)?;
        }
        Ok(rule)
    }

    fn set(&mut self, name: &str, value: Hyperparameter) -> Result<()> {
        use Hyperparameter::{Flag, Number};
        match (&mut *self, name, value) {
            (Rule::Sgd(p), "momentum", Number(v)) => p.momentum = v,
            (Rule::Sgd(p), "nesterov", Flag(b)) => p.nesterov = b,
            (Rule::Adam(p) | Rule::AdamW(p), "beta_1", Number(v)) => p.beta_1 = v,
            (Rule::Adam(p) | Rule::AdamW(p), "beta_2", Number(v)) => p.beta_2 = v,
            (Rule::Adam(p) | Rule::AdamW(p), "epsilon", Number(v)) => p.epsilon = v,
            (Rule::Adam(p) | Rule::AdamW(p), "amsgrad", Flag(b)) => p.amsgrad = b,
            (Rule::RmsProp(p), "rho", Number(v)) => p.rho = v,
            (Rule::RmsProp(p), "momentum", Number(v)) => p.momentum = v,
            (Rule::RmsProp(p), "epsilon", Number(v)) => p.epsilon = v,
            (Rule::RmsProp(p), "centered", Flag(b)) => p.centered = b,
            (Rule::Adagrad(p), "initial_accumulator_value", Number(v)) => {
                p.initial_accumulator_value = v
            }
            (Rule::Adagrad(p), "epsilon", Number(v)) => p.epsilon = v,
            (rule, _, _) => {
                let names: Vec<_> = rule.config().into_iter().map(|(n, _)| n).collect();
                let msg = format!(
                    "unexpected hyperparameter {name}={value:?}; it takes {names:?} (numbers, and booleans for the switches)"
                );
                return Err(Error::invalid(rule.name(), msg));
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let op = self.name();
        match self {
            Rule::Sgd(p) => p.validate(op),
            Rule::Adam(p) | Rule::AdamW(p) => p.validate(op),
            Rule::RmsProp(p) => p.validate(op),
            Rule::Adagrad(p) => p.validate(op),
        }
    }

    /// The slots this rule keeps per variable, in Keras' order.
    pub fn slots(&self) -> Vec<Slot> {
        use Slot::*;
        let optional = |keep: bool, slot: Slot| keep.then_some(slot);
        let slots = match self {
            Rule::Sgd(p) => [optional(p.momentum != 0.0, Momentum), None, None],
            Rule::Adam(p) | Rule::AdamW(p) => [
                Some(Momentum),
                Some(Velocity),
                optional(p.amsgrad, VelocityHat),
            ],
            Rule::RmsProp(p) => [
                Some(Velocity),
                optional(p.momentum > 0.0, Momentum),
                optional(p.centered, AverageGradient),
            ],
            Rule::Adagrad(_) => [Some(Accumulator), None, None],
        };
        slots.into_iter().flatten().collect()
    }

    /// The hyperparameters by name, in the constructor's order (Keras'
    /// `get_config` entries).
    pub fn config(&self) -> Vec<(&'static str, Hyperparameter)> {
        use Hyperparameter::{Flag, Number};
        match *self {
            Rule::Sgd(SgdParams { momentum, nesterov }) => {
                vec![("momentum", Number(momentum)), ("nesterov", Flag(nesterov))]
            }
            Rule::Adam(p) | Rule::AdamW(p) => vec![
                ("beta_1", Number(p.beta_1)),
                ("beta_2", Number(p.beta_2)),
                ("epsilon", Number(p.epsilon)),
                ("amsgrad", Flag(p.amsgrad)),
            ],
            Rule::RmsProp(p) => vec![
                ("rho", Number(p.rho)),
                ("momentum", Number(p.momentum)),
                ("epsilon", Number(p.epsilon)),
                ("centered", Flag(p.centered)),
            ],
            Rule::Adagrad(p) => vec![
                (
                    "initial_accumulator_value",
                    Number(p.initial_accumulator_value),
                ),
                ("epsilon", Number(p.epsilon)),
            ],
        }
    }

    /// Names of the slots this rule keeps, in Keras' order.
    pub fn slot_names(&self) -> Vec<&'static str> {
        self.slots().into_iter().map(Slot::name).collect()
    }

    fn slot_initial_value(&self, slot: Slot) -> f64 {
        match (self, slot) {
            (Rule::Adagrad(p), Slot::Accumulator) => p.initial_accumulator_value,
            _ => 0.0,
        }
    }
}

/// A buffer kept per variable, by Keras' slot name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// SGD's and RMSprop's momentum, Adam's first moment `m`.
    Momentum,
    /// Adam's second moment `v`, RMSprop's mean square.
    Velocity,
    /// AMSGrad's running maximum `v̂` of `v`.
    VelocityHat,
    /// Centered RMSprop's mean gradient `ḡ`.
    AverageGradient,
    /// Adagrad's sum of squares.
    Accumulator,
}

impl Slot {
    const ALL: [Slot; 5] = [
        Slot::Momentum,
        Slot::Velocity,
        Slot::VelocityHat,
        Slot::AverageGradient,
        Slot::Accumulator,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Slot::Momentum => "momentum",
            Slot::Velocity => "velocity",
            Slot::VelocityHat => "velocity_hat",
            Slot::AverageGradient => "average_gradient",
            Slot::Accumulator => "accumulator",
        }
    }

    pub fn from_name(name: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Gradient clipping; at most one kind at a time (Keras refuses two).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Clip {
    #[default]
    None,
    /// Each gradient to this L2 norm at most.
    Norm(f64),
    /// All gradients together to this L2 norm at most.
    GlobalNorm(f64),
    /// Each element to `[-v, v]`.
    Value(f64),
}

impl Clip {
    /// Keras' three clipping arguments, of which at most one may be set.
    pub fn from_keras(
        op: &'static str,
        clipnorm: Option<f64>,
        clipvalue: Option<f64>,
        global_clipnorm: Option<f64>,
    ) -> Result<Clip> {
        Ok(match (clipnorm, clipvalue, global_clipnorm) {
            (None, None, None) => Clip::None,
            (Some(c), None, None) => Clip::Norm(c),
            (None, Some(v), None) => Clip::Value(v),
            (None, None, Some(c)) => Clip::GlobalNorm(c),
            _ => {
                let show = |v: Option<f64>| v.map_or("None".to_string(), |v| v.to_string());
                return Err(Error::invalid(
                    op,
                    format!(
                        "only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, got clipnorm={}, clipvalue={}, global_clipnorm={}",
                        show(clipnorm),
                        show(clipvalue),
                        show(global_clipnorm)
                    ),
                ));
            }
        })
    }

    fn validate(self, op: &'static str) -> Result<()> {
        let (name, v) = match self {
            Clip::None => return Ok(()),
            Clip::Norm(v) => ("clipnorm", v),
            Clip::GlobalNorm(v) => ("global_clipnorm", v),
            Clip::Value(v) => ("clipvalue", v),
        };
        if v > 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                op,
                format!("`{name}` must be a number > 0, got {v}"),
            ))
        }
    }
}

/// What every optimizer takes besides its rule (Keras' base `Optimizer`
/// arguments); `Default`: no weight decay, no clipping.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Options {
    /// Decoupled weight decay `wd` ≥ 0: `w ← w − w·wd·lr` before each
    /// update of a variable not excluded from it.
    pub weight_decay: Option<f64>,
    pub clip: Clip,
}

fn check_weight_decay(rule: &Rule, weight_decay: Option<f64>) -> Result<()> {
    match weight_decay {
        Some(wd) => check_non_negative(rule.name(), "weight_decay", wd),
        None if matches!(rule, Rule::AdamW(_)) => Err(Error::invalid(
            rule.name(),
            "`weight_decay` must be a float (AdamW is Adam with weight decay), got None",
        )),
        None => Ok(()),
    }
}

/// Checks the learning rate of a step: a finite number ≥ 0.
pub fn check_learning_rate(op: &'static str, learning_rate: f64) -> Result<()> {
    check_non_negative(op, "learning_rate", learning_rate)
}

// --- slots and the optimizer ---------------------------------------------------

/// One value per slot; the slots a rule does not keep hold an empty buffer.
#[derive(Default)]
struct PerSlot<B> {
    momentum: B,
    velocity: B,
    velocity_hat: B,
    average_gradient: B,
    accumulator: B,
}

impl<B> PerSlot<B> {
    fn get(&self, slot: Slot) -> &B {
        match slot {
            Slot::Momentum => &self.momentum,
            Slot::Velocity => &self.velocity,
            Slot::VelocityHat => &self.velocity_hat,
            Slot::AverageGradient => &self.average_gradient,
            Slot::Accumulator => &self.accumulator,
        }
    }

    fn get_mut(&mut self, slot: Slot) -> &mut B {
        match slot {
            Slot::Momentum => &mut self.momentum,
            Slot::Velocity => &mut self.velocity,
            Slot::VelocityHat => &mut self.velocity_hat,
            Slot::AverageGradient => &mut self.average_gradient,
            Slot::Accumulator => &mut self.accumulator,
        }
    }

    /// Both halves of every slot, `cut` splitting each.
    fn split_each<L, R>(self, mut cut: impl FnMut(B) -> (L, R)) -> (PerSlot<L>, PerSlot<R>) {
        let (m0, m1) = cut(self.momentum);
        let (v0, v1) = cut(self.velocity);
        let (h0, h1) = cut(self.velocity_hat);
        let (a0, a1) = cut(self.average_gradient);
        let (c0, c1) = cut(self.accumulator);
        (
            PerSlot {
                momentum: m0,
                velocity: v0,
                velocity_hat: h0,
                average_gradient: a0,
                accumulator: c0,
            },
            PerSlot {
                momentum: m1,
                velocity: v1,
                velocity_hat: h1,
                average_gradient: a1,
                accumulator: c1,
            },
        )
    }
}

impl<T> PerSlot<Vec<T>> {
    fn as_mut_slices(&mut self) -> PerSlot<&mut [T]> {
        PerSlot {
            momentum: &mut self.momentum,
            velocity: &mut self.velocity,
            velocity_hat: &mut self.velocity_hat,
            average_gradient: &mut self.average_gradient,
            accumulator: &mut self.accumulator,
        }
    }
}

/// The slot buffers of one variable, in standard (row-major) order.
pub struct Slots {
    shape: Vec<usize>,
    bufs: SlotBufs,
}

enum SlotBufs {
    F32(PerSlot<Vec<f32>>),
    F64(PerSlot<Vec<f64>>),
    C64(PerSlot<Vec<Complex<f32>>>),
    C128(PerSlot<Vec<Complex<f64>>>),
}

impl Slots {
    fn new(rule: &Rule, dtype: DType, shape: &[usize]) -> Result<Slots> {
        let op = rule.name();
        let slots = rule.slots();
        for _ in &slots {
            check_alloc(op, dtype, shape)?;
        }
        let n: usize = shape.iter().product();
        fn fill<T: Scalar>(rule: &Rule, slots: &[Slot], n: usize) -> PerSlot<Vec<T>> {
            let mut bufs = PerSlot::default();
            for &slot in slots {
                *bufs.get_mut(slot) = vec![T::from_f64(rule.slot_initial_value(slot)); n];
            }
            bufs
        }
        let bufs = match dtype {
            DType::F32 => SlotBufs::F32(fill(rule, &slots, n)),
            DType::F64 => SlotBufs::F64(fill(rule, &slots, n)),
            DType::C64 => SlotBufs::C64(fill(rule, &slots, n)),
            DType::C128 => SlotBufs::C128(fill(rule, &slots, n)),
            other => {
                return Err(Error::UnsupportedDType {
                    op,
                    dtype: other,
                    allowed: "float32, float64, complex64, complex128",
                });
            }
        };
        Ok(Slots {
            shape: shape.to_vec(),
            bufs,
        })
    }

    fn tensor(&self, slot: Slot) -> Result<Tensor> {
        match &self.bufs {
            SlotBufs::F32(b) => Tensor::from_vec(&self.shape, b.get(slot).clone()),
            SlotBufs::F64(b) => Tensor::from_vec(&self.shape, b.get(slot).clone()),
            SlotBufs::C64(b) => Tensor::from_vec(&self.shape, b.get(slot).clone()),
            SlotBufs::C128(b) => Tensor::from_vec(&self.shape, b.get(slot).clone()),
        }
    }
}

/// One variable to update: the variable, its name (for error messages), its
/// gradient, and whether the optimizer's weight decay applies to it (false:
/// excluded).
pub struct Update<'a> {
    pub variable: &'a Variable,
    pub name: &'a str,
    pub gradient: Tensor,
    pub decay: bool,
}

/// An optimizer's configuration and the slots of every variable it has
/// updated, keyed by variable handle (slots are created on a variable's
/// first update, or by `build`).
pub struct Optimizer {
    rule: Rule,
    options: Options,
    slots: HashMap<TensorId, Slots>,
    /// The table size at which `sweep` next drops dead variables' slots.
    sweep_at: usize,
}

/// `Optimizer::sweep` first looks for dead variables once this many have
/// slots (amortised: the next sweep waits for twice the survivors).
const FIRST_SWEEP: usize = 64;

impl Optimizer {
    /// Checks every hyperparameter and option.
    pub fn new(rule: Rule, options: Options) -> Result<Optimizer> {
        rule.validate()?;
        options.clip.validate(rule.name())?;
        check_weight_decay(&rule, options.weight_decay)?;
        Ok(Optimizer {
            rule,
            options,
            slots: HashMap::new(),
            sweep_at: FIRST_SWEEP,
        })
    }

    /// The name errors carry ("Adam", "SGD", …).
    pub fn name(&self) -> &'static str {
        self.rule.name()
    }

    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    pub fn weight_decay(&self) -> Option<f64> {
        self.options.weight_decay
    }

    /// Change the weight decay (Keras' `optimizer.weight_decay = …`).
    pub fn set_weight_decay(&mut self, weight_decay: Option<f64>) -> Result<()> {
        check_weight_decay(&self.rule, weight_decay)?;
        self.options.weight_decay = weight_decay;
        Ok(())
    }

    /// How many variables have slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drop the slots of variables for which `keep(handle)` is false.
    pub fn retain(&mut self, keep: impl Fn(TensorId) -> bool) {
        self.slots.retain(|&h, _| keep(h));
    }

    /// Drop the slots of dead variables (`live(handle)` false) once the
    /// table has grown past the last sweep's threshold.
    pub fn sweep(&mut self, live: impl Fn(TensorId) -> bool) {
        if self.slots.len() >= self.sweep_at {
            self.retain(live);
            self.sweep_at = (2 * self.slots.len()).max(FIRST_SWEEP);
        }
    }

    /// Create the slots of `variable` now (Keras' `build`); a no-op for a
    /// variable that has them.
    pub fn build(&mut self, variable: &Variable, name: &str) -> Result<()> {
        self.check_variable(variable, name)?;
        if !self.slots.contains_key(&variable.handle()) {
            let slots = Slots::new(&self.rule, variable.dtype(), &variable.shape())?;
            self.slots.insert(variable.handle(), slots);
        }
        Ok(())
    }

    /// A copy of the slot `slot` of `variable`, if it has one by that name.
    pub fn slot(&self, variable: &Variable, slot: &str) -> Option<Result<Tensor>> {
        let slot = Slot::from_name(slot).filter(|s| self.rule.slots().contains(s))?;
        let slots = self.slots.get(&variable.handle())?;
        Some(slots.tensor(slot))
    }

    /// Overwrite slot `slot` of `variable` with `value` (restoring a saved
    /// optimizer): the variable's slots are created first if it has none;
    /// `value` must have the variable's shape and dtype. Nothing changes on
    /// an error.
    pub fn set_slot(
        &mut self,
        variable: &Variable,
        name: &str,
        slot: &str,
        value: &Tensor,
    ) -> Result<()> {
        let op = self.name();
        self.check_variable(variable, name)?;
        let kept = self.rule.slot_names();
        let Some(slot) = Slot::from_name(slot).filter(|s| self.rule.slots().contains(s)) else {
            return Err(Error::invalid(
                op,
                format!(
                    "no slot {slot:?} to set for variable '{name}' (this optimizer keeps {kept:?})"
                ),
            ));
        };
        let shape = variable.shape();
        if value.shape() != shape.as_slice() {
            return Err(Error::invalid(
                op,
                format!(
                    "cannot set slot '{}' of variable '{name}' (shape {shape:?}) to a value of shape {:?}",
                    slot.name(),
                    value.shape()
                ),
            ));
        }
        if value.dtype() != variable.dtype() {
            return Err(Error::invalid(
                op,
                format!(
                    "cannot set slot '{}' of variable '{name}' ({}) to a {} value; cast it to {} first",
                    slot.name(),
                    variable.dtype().name(),
                    value.dtype().name(),
                    variable.dtype().name()
                ),
            ));
        }
        self.build(variable, name)?;
        // Invariant: built just above.
        let Some(slots) = self.slots.get_mut(&variable.handle()) else {
            return Ok(());
        };
        // standard (row-major) order, as the buffers keep it
        match (&mut slots.bufs, value.data()) {
            (SlotBufs::F32(b), Data::F32(a)) => *b.get_mut(slot) = a.iter().copied().collect(),
            (SlotBufs::F64(b), Data::F64(a)) => *b.get_mut(slot) = a.iter().copied().collect(),
            (SlotBufs::C64(b), Data::C64(a)) => *b.get_mut(slot) = a.iter().copied().collect(),
            (SlotBufs::C128(b), Data::C128(a)) => *b.get_mut(slot) = a.iter().copied().collect(),
            // Unreachable: the dtypes were checked to match above.
            (_, other) => {
                return Err(Error::DTypeMismatch {
                    op,
                    lhs: variable.dtype(),
                    rhs: other.dtype(),
                });
            }
        }
        Ok(())
    }

    /// One optimizer step over `updates` at `learning_rate`, `iterations`
    /// being the step counter before this step (Adam's bias correction uses
    /// `iterations + 1`). Every update is validated before any variable
    /// changes, so an error leaves all of them as they were.
    pub fn apply(
        &mut self,
        updates: &[Update<'_>],
        learning_rate: f64,
        iterations: u64,
    ) -> Result<()> {
        let op = self.name();
        check_learning_rate(op, learning_rate)?;
        for u in updates {
            self.check_variable(u.variable, u.name)?;
            check_gradient(op, u)?;
        }
        let scales = self.gradient_scales(updates);
        for (u, scale) in updates.iter().zip(scales) {
            let handle = u.variable.handle();
            if !self.slots.contains_key(&handle) {
                let slots = Slots::new(&self.rule, u.variable.dtype(), &u.variable.shape())?;
                self.slots.insert(handle, slots);
            }
            // Invariant: inserted just above.
            let Some(slots) = self.slots.get_mut(&handle) else {
                continue;
            };
            let step = StepScalars {
                learning_rate,
                iterations,
                weight_decay: self.options.weight_decay.filter(|_| u.decay),
                scale,
                clip_value: match self.options.clip {
                    Clip::Value(v) => Some(v),
                    _ => None,
                },
            };
            let rule = &self.rule;
            u.variable.rewrite_storage(|data| {
                match (data, &mut slots.bufs, u.gradient.data()) {
                    (Data::F32(w), SlotBufs::F32(s), Data::F32(g)) => {
                        update_array(rule, &step, w, g, s);
                        Ok(())
                    }
                    (Data::F64(w), SlotBufs::F64(s), Data::F64(g)) => {
                        update_array(rule, &step, w, g, s);
                        Ok(())
                    }
                    (Data::C64(w), SlotBufs::C64(s), Data::C64(g)) => {
                        update_array(rule, &step, w, g, s);
                        Ok(())
                    }
                    (Data::C128(w), SlotBufs::C128(s), Data::C128(g)) => {
                        update_array(rule, &step, w, g, s);
                        Ok(())
                    }
                    // Unreachable: dtypes were checked and a variable's dtype is fixed.
                    (w, _, g) => Err(Error::DTypeMismatch {
                        op,
                        lhs: w.dtype(),
                        rhs: g.dtype(),
                    }),
                }
            })?;
        }
        Ok(())
    }

    /// The factor each gradient is multiplied by before the update (`None`:
    /// no scaling), from `clipnorm` or `global_clipnorm`.
    fn gradient_scales(&self, updates: &[Update<'_>]) -> Vec<Option<f64>> {
        match self.options.clip {
            Clip::Norm(c) => updates
                .iter()
                .map(|u| Some(c / squared_norm(&u.gradient).sqrt().max(c)))
                .collect(),
            Clip::GlobalNorm(c) => {
                let total: f64 = updates.iter().map(|u| squared_norm(&u.gradient)).sum();
                let norm = total.sqrt();
                // an infinite or NaN norm makes every gradient NaN, as in Keras
                let scale = if norm.is_finite() {
                    c * (1.0 / norm).min(1.0 / c)
                } else {
                    f64::NAN
                };
                vec![Some(scale); updates.len()]
            }
            Clip::None | Clip::Value(_) => vec![None; updates.len()],
        }
    }
}

impl Optimizer {
    /// A float or complex variable; for a complex one, none of what TF
    /// refuses for complex values: clipping (TF's clip ops take real
    /// values only) and AMSGrad (a maximum).
    fn check_variable(&self, variable: &Variable, name: &str) -> Result<()> {
        let (op, dtype) = (self.name(), variable.dtype());
        if !dtype.is_float() && !dtype.is_complex() {
            return Err(Error::invalid(
                op,
                format!(
                    "cannot update variable '{name}' of dtype {} (shape {:?}): only float32, float64, complex64 and complex128 variables can be optimized",
                    dtype.name(),
                    variable.shape()
                ),
            ));
        }
        let refused = match (&self.rule, self.options.clip) {
            _ if !dtype.is_complex() => None,
            (_, Clip::Norm(_)) => Some("clipnorm"),
            (_, Clip::GlobalNorm(_)) => Some("global_clipnorm"),
            (_, Clip::Value(_)) => Some("clipvalue"),
            (Rule::Adam(p) | Rule::AdamW(p), _) if p.amsgrad => Some("amsgrad"),
            _ => None,
        };
        match refused {
            Some(option) => Err(Error::invalid(
                op,
                format!(
                    "cannot update variable '{name}' of dtype {} with `{option}`: TF defines it for real values only; use a float variable or leave `{option}` out",
                    dtype.name()
                ),
            )),
            None => Ok(()),
        }
    }
}

fn check_gradient(op: &'static str, u: &Update<'_>) -> Result<()> {
    let (vd, gd) = (u.variable.dtype(), u.gradient.dtype());
    let shape = u.variable.shape();
    if vd != gd {
        return Err(Error::invalid(
            op,
            format!(
                "the gradient of variable '{}' has dtype {} but the variable has dtype {} (shape {:?})",
                u.name,
                gd.name(),
                vd.name(),
                shape
            ),
        ));
    }
    if u.gradient.shape() != shape.as_slice() {
        return Err(Error::invalid(
            op,
            format!(
                "the gradient of variable '{}' has shape {:?} but the variable has shape {:?}",
                u.name,
                u.gradient.shape(),
                shape
            ),
        ));
    }
    Ok(())
}

/// Σ g² in float64, summed in fixed chunks combined in order.
pub fn squared_norm(t: &Tensor) -> f64 {
    fn of<T: Element + Real>(a: &ArcArray<T, IxDyn>) -> f64 {
        let a = a.as_standard_layout();
        let s = a.as_slice().unwrap_or(&[]);
        let part = |c: &[T]| c.iter().map(|&x| x.to_f64() * x.to_f64()).sum::<f64>();
        let parts: Vec<f64> = if kernels::parallel(s.len()) {
            s.par_chunks(NORM_CHUNK).map(part).collect()
        } else {
            s.chunks(NORM_CHUNK).map(part).collect()
        };
        parts.iter().sum()
    }
    match t.data() {
        Data::F32(a) => of(a),
        Data::F64(a) => of(a),
        _ => f64::NAN,
    }
}

// --- the fused pass ------------------------------------------------------------

/// The element arithmetic of the fused pass. Complex variables run the real
/// rules' formulas in complex arithmetic, as Keras on TF does: Adam, RMSprop
/// and Adagrad square the gradient as g·g (not |g|²) and take the principal
/// square root.
trait Scalar:
    Copy
    + Send
    + Sync
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn from_f64(v: f64) -> Self;
    fn sqrt(self) -> Self;
    /// `self` clipped to [−bound, bound]; NaN passes through, as with
    /// Keras' `clip`. Complex: never called (`check_variable` refuses it).
    fn clip(self, bound: Self) -> Self;
    /// `other` where it is larger, else `self` (AMSGrad's running maximum).
    /// Complex: never called (`check_variable` refuses it).
    fn keep_larger(self, other: Self) -> Self;
}

impl<T: Real> Scalar for T {
    fn from_f64(v: f64) -> T {
        <T as crate::dtype::Num>::from_f64(v)
    }
    fn sqrt(self) -> T {
        Real::sqrt(self)
    }
    fn clip(self, bound: T) -> T {
        if self > bound {
            bound
        } else if self < -bound {
            -bound
        } else {
            self
        }
    }
    fn keep_larger(self, other: T) -> T {
        if other > self { other } else { self }
    }
}

macro_rules! complex_scalar {
    ($($part:ty),*) => {$(
        impl Scalar for Complex<$part> {
            fn from_f64(v: f64) -> Self {
                Complex::new(v as $part, 0.0)
            }
            fn sqrt(self) -> Self {
                Complex::sqrt(self)
            }
            fn clip(self, _bound: Self) -> Self {
                self
            }
            fn keep_larger(self, _other: Self) -> Self {
                self
            }
        }
    )*};
}
complex_scalar!(f32, f64);

/// The scalars of one variable's step, before conversion to its dtype.
struct StepScalars {
    learning_rate: f64,
    iterations: u64,
    weight_decay: Option<f64>,
    scale: Option<f64>,
    clip_value: Option<f64>,
}

/// The scalars of one step in the variable's dtype.
#[derive(Clone, Copy)]
struct Step<T> {
    lr: T,
    weight_decay: Option<T>,
    scale: Option<T>,
    clip: Option<T>,
    rule: RuleStep<T>,
}

/// A rule's coefficients for one step in the variable's dtype, each computed
/// once in f64 and rounded once (Adam's `alpha` folds its bias correction).
#[derive(Clone, Copy)]
enum RuleStep<T> {
    Sgd,
    SgdMomentum {
        momentum: T,
        nesterov: bool,
    },
    Adam {
        one_minus_beta_1: T,
        one_minus_beta_2: T,
        alpha: T,
        epsilon: T,
        amsgrad: bool,
    },
    RmsProp {
        rho: T,
        one_minus_rho: T,
        /// `None`: no momentum (μ = 0, no momentum slot).
        momentum: Option<T>,
        epsilon: T,
        centered: bool,
    },
    Adagrad {
        epsilon: T,
    },
}

impl<T: Scalar> Step<T> {
    fn new(rule: &Rule, s: &StepScalars) -> Step<T> {
        let c = T::from_f64;
        let rule = match *rule {
            Rule::Sgd(p) if p.momentum != 0.0 => RuleStep::SgdMomentum {
                momentum: c(p.momentum),
                nesterov: p.nesterov,
            },
            Rule::Sgd(_) => RuleStep::Sgd,
            Rule::Adam(p) | Rule::AdamW(p) => {
                let t = (s.iterations + 1) as f64;
                let alpha =
                    s.learning_rate * (1.0 - p.beta_2.powf(t)).sqrt() / (1.0 - p.beta_1.powf(t));
                RuleStep::Adam {
                    one_minus_beta_1: c(1.0 - p.beta_1),
                    one_minus_beta_2: c(1.0 - p.beta_2),
                    alpha: c(alpha),
                    epsilon: c(p.epsilon),
                    amsgrad: p.amsgrad,
                }
            }
            Rule::RmsProp(p) => RuleStep::RmsProp {
                rho: c(p.rho),
                one_minus_rho: c(1.0 - p.rho),
                momentum: (p.momentum > 0.0).then(|| c(p.momentum)),
                epsilon: c(p.epsilon),
                centered: p.centered,
            },
            Rule::Adagrad(p) => RuleStep::Adagrad {
                epsilon: c(p.epsilon),
            },
        };
        Step {
            lr: c(s.learning_rate),
            weight_decay: s.weight_decay.map(c),
            scale: s.scale.map(c),
            clip: s.clip_value.map(c),
            rule,
        }
    }

    /// The gradient after clipping.
    #[inline(always)]
    fn grad(&self, g: T) -> T {
        let g = match self.scale {
            Some(s) => g * s,
            None => g,
        };
        match self.clip {
            Some(bound) => g.clip(bound),
            None => g,
        }
    }

    /// The variable after decoupled weight decay.
    #[inline(always)]
    fn decay(&self, w: T) -> T {
        match self.weight_decay {
            Some(wd) => w - w * wd * self.lr,
            None => w,
        }
    }
}

/// Update one variable's storage in place. ndarray's copy-on-write makes
/// `as_slice_mut` copy a buffer that another tensor still shares (a value
/// read earlier and kept), so such a tensor never changes.
fn update_array<T: Element + Scalar>(
    rule: &Rule,
    step: &StepScalars,
    w: &mut ArcArray<T, IxDyn>,
    g: &ArcArray<T, IxDyn>,
    slots: &mut PerSlot<Vec<T>>,
) {
    // (rare: a variable or gradient in another layout is copied once)
    if !w.is_standard_layout() {
        *w = w.as_standard_layout().into_owned().into_shared();
    }
    let g = g.as_standard_layout();
    let (Some(ws), Some(gs)) = (w.as_slice_mut(), g.as_slice()) else {
        // Unreachable: both were just put in standard layout.
        return;
    };
    let lanes = Lanes {
        w: ws,
        g: gs,
        s: slots.as_mut_slices(),
    };
    update_lanes(&Step::<T>::new(rule, step), lanes);
}

/// Equal-length pieces of a variable, its gradient and its slots (a slot
/// the rule does not keep is an empty slice in every piece).
struct Lanes<'a, T> {
    w: &'a mut [T],
    g: &'a [T],
    s: PerSlot<&'a mut [T]>,
}

impl<'a, T> Lanes<'a, T> {
    fn len(&self) -> usize {
        self.w.len()
    }

    fn split(self, mid: usize) -> (Lanes<'a, T>, Lanes<'a, T>) {
        fn cut<T>(s: &mut [T], mid: usize) -> (&mut [T], &mut [T]) {
            if s.is_empty() {
                (s, &mut [])
            } else {
                s.split_at_mut(mid)
            }
        }
        let (w0, w1) = self.w.split_at_mut(mid);
        let (g0, g1) = self.g.split_at(mid);
        let (s0, s1) = self.s.split_each(|s| cut(s, mid));
        (
            Lanes {
                w: w0,
                g: g0,
                s: s0,
            },
            Lanes {
                w: w1,
                g: g1,
                s: s1,
            },
        )
    }
}

/// Serial below `PAR_MIN_LEN` elements; above, halves recursively down to
/// `GRAIN`-sized pieces run on rayon. Each element is independent, so the
/// result is the same for any split.
fn update_lanes<T: Scalar>(k: &Step<T>, lanes: Lanes<'_, T>) {
    if kernels::parallel(lanes.len()) {
        split_join(k, lanes);
    } else {
        update_chunk(k, lanes);
    }
}

fn split_join<T: Scalar>(k: &Step<T>, lanes: Lanes<'_, T>) {
    if lanes.len() <= GRAIN {
        update_chunk(k, lanes);
        return;
    }
    let mid = lanes.len() / 2;
    let (a, b) = lanes.split(mid);
    rayon::join(|| split_join(k, a), || split_join(k, b));
}

/// The rules, element by element, in Keras' order of operations.
fn update_chunk<T: Scalar>(k: &Step<T>, lanes: Lanes<'_, T>) {
    let Lanes { w, g, s } = lanes;
    let n = w.len();
    let g = &g[..n];
    let lr = k.lr;
    match k.rule {
        RuleStep::SgdMomentum { momentum, nesterov } => {
            let m = &mut s.momentum[..n];
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                m[i] = m[i] * momentum - gi * lr;
                w[i] = if nesterov {
                    wi + (m[i] * momentum - gi * lr)
                } else {
                    wi + m[i]
                };
            }
        }
        RuleStep::Sgd => {
            for i in 0..n {
                let gi = k.grad(g[i]);
                w[i] = k.decay(w[i]) - gi * lr;
            }
        }
        RuleStep::Adam {
            one_minus_beta_1,
            one_minus_beta_2,
            alpha,
            epsilon,
            amsgrad,
        } => {
            let (m, v) = (&mut s.momentum[..n], &mut s.velocity[..n]);
            let mut v_hat = amsgrad.then(|| &mut s.velocity_hat[..n]);
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                m[i] = m[i] + (gi - m[i]) * one_minus_beta_1;
                v[i] = v[i] + (gi * gi - v[i]) * one_minus_beta_2;
                let vi = match v_hat.as_deref_mut() {
                    Some(vh) => {
                        vh[i] = vh[i].keep_larger(v[i]);
                        vh[i]
                    }
                    None => v[i],
                };
                w[i] = wi - m[i] * alpha / (vi.sqrt() + epsilon);
            }
        }
        RuleStep::RmsProp {
            rho,
            one_minus_rho,
            momentum,
            epsilon,
            centered,
        } => {
            let v = &mut s.velocity[..n];
            let mut mom = momentum.map(|mu| (mu, &mut s.momentum[..n]));
            let mut avg = centered.then(|| &mut s.average_gradient[..n]);
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                v[i] = rho * v[i] + one_minus_rho * (gi * gi);
                let denominator = match avg.as_deref_mut() {
                    Some(a) => {
                        a[i] = rho * a[i] + one_minus_rho * gi;
                        v[i] - a[i] * a[i] + epsilon
                    }
                    None => v[i] + epsilon,
                };
                let increment = lr * gi / denominator.sqrt();
                w[i] = match mom.as_mut() {
                    Some((mu, m)) => {
                        m[i] = *mu * m[i] + increment;
                        wi - m[i]
                    }
                    None => wi - increment,
                };
            }
        }
        RuleStep::Adagrad { epsilon } => {
            let acc = &mut s.accumulator[..n];
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                acc[i] = acc[i] + gi * gi;
                w[i] = wi - lr * gi / (acc[i] + epsilon).sqrt();
            }
        }
    }
}

/// A step's learning rate or counter: a number, or a variable (by its
/// position among the step's variables) read each time the step runs, so a
/// traced step reads it at every replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepScalar {
    Number(f64),
    Variable(usize),
}

impl StepScalar {
    /// The value now (NaN for a missing or non-scalar variable, which the
    /// learning-rate check then refuses).
    pub fn value(self, vars: &[Arc<Variable>]) -> f64 {
        match self {
            StepScalar::Number(x) => x,
            StepScalar::Variable(i) => vars
                .get(i)
                .and_then(|v| v.peek().item_f64())
                .unwrap_or(f64::NAN),
        }
    }
}

/// The kernel of one step of a shared optimizer, run once now and again at
/// every replay of a traced step: `(variables, gradients)` updates the first
/// `names.len()` variables (named `names`, with the weight decay where
/// `decays` says) by their gradients; any variables after them are those
/// `rate` and `step` read. The slots of variables for which `live(handle)`
/// is false are swept first. Returns no tensors.
pub fn step_kernel(
    optimizer: Arc<Mutex<Optimizer>>,
    names: Vec<String>,
    decays: Vec<bool>,
    rate: StepScalar,
    step: StepScalar,
    live: fn(TensorId) -> bool,
) -> impl Fn(&[Arc<Variable>], &[Tensor]) -> Result<Vec<Tensor>> + Send + Sync + 'static {
    move |vars, gradients| {
        let updates: Vec<Update<'_>> = vars
            .iter()
            .zip(&names)
            .zip(gradients)
            .zip(&decays)
            .map(|(((variable, name), gradient), &decay)| Update {
                variable,
                name,
                gradient: gradient.clone(),
                decay,
            })
            .collect();
        let mut optimizer = optimizer.lock().unwrap_or_else(|e| e.into_inner());
        optimizer.sweep(live);
        optimizer.apply(&updates, rate.value(vars), step.value(vars) as u64)?;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules written naively in f64, one element at a time, with slots
    /// as named scalars (the test oracle for the fused kernel).
    #[derive(Default, Clone, Copy)]
    struct Naive {
        w: f64,
        m: f64,
        v: f64,
        vh: f64,
        a: f64,
    }

    #[allow(clippy::too_many_arguments)]
    fn naive_step(
        rule: &Rule,
        e: &mut Naive,
        g: f64,
        lr: f64,
        t: u64,
        wd: Option<f64>,
        clip: Option<f64>,
    ) {
        let g = match clip {
            Some(c) => g.clamp(-c, c),
            None => g,
        };
        if let Some(wd) = wd {
            e.w -= e.w * wd * lr;
        }
        match *rule {
            Rule::Sgd(SgdParams { momentum, nesterov }) => {
                if momentum == 0.0 {
                    e.w -= lr * g;
                } else {
                    e.m = momentum * e.m - lr * g;
                    e.w += if nesterov {
                        momentum * e.m - lr * g
                    } else {
                        e.m
                    };
                }
            }
            Rule::Adam(p) | Rule::AdamW(p) => {
                let AdamParams {
                    beta_1,
                    beta_2,
                    epsilon,
                    amsgrad,
                } = p;
                let t = (t + 1) as f64;
                e.m = beta_1 * e.m + (1.0 - beta_1) * g;
                e.v = beta_2 * e.v + (1.0 - beta_2) * g * g;
                e.vh = e.vh.max(e.v);
                let v = if amsgrad { e.vh } else { e.v };
                let alpha = lr * (1.0 - beta_2.powf(t)).sqrt() / (1.0 - beta_1.powf(t));
                e.w -= alpha * e.m / (v.sqrt() + epsilon);
            }
            Rule::RmsProp(RmsPropParams {
                rho,
                momentum,
                epsilon,
                centered,
            }) => {
                e.v = rho * e.v + (1.0 - rho) * g * g;
                e.a = rho * e.a + (1.0 - rho) * g;
                let d = if centered { e.v - e.a * e.a } else { e.v } + epsilon;
                let inc = lr * g / d.sqrt();
                if momentum > 0.0 {
                    e.m = momentum * e.m + inc;
                    e.w -= e.m;
                } else {
                    e.w -= inc;
                }
            }
            Rule::Adagrad(AdagradParams { epsilon, .. }) => {
                e.a += g * g;
                e.w -= lr * g / (e.a + epsilon).sqrt();
            }
        }
    }

    fn rules() -> Vec<Rule> {
        let mut out = vec![
            Rule::Adagrad(AdagradParams::default()),
            Rule::Adagrad(AdagradParams {
                initial_accumulator_value: 0.0,
                epsilon: 1e-3,
            }),
        ];
        for (momentum, nesterov) in [(0.0, false), (0.9, false), (0.9, true)] {
            out.push(Rule::Sgd(SgdParams { momentum, nesterov }));
        }
        for amsgrad in [false, true] {
            out.push(Rule::Adam(AdamParams {
                amsgrad,
                ..AdamParams::default()
            }));
        }
        out.push(Rule::AdamW(AdamParams {
            beta_1: 0.5,
            beta_2: 0.9,
            epsilon: 1e-3,
            amsgrad: true,
        }));
        for (momentum, centered) in [(0.0, false), (0.5, false), (0.0, true), (0.5, true)] {
            out.push(Rule::RmsProp(RmsPropParams {
                momentum,
                centered,
                ..RmsPropParams::default()
            }));
        }
        out
    }

    /// A deterministic pseudo-random sequence in [-1, 1).
    fn wave(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn run_case(rule: &Rule, n: usize, wd: Option<f64>, clip: Clip) {
        let w0 = wave(n, 1);
        let var = Variable::new(Tensor::from_vec(&[n], w0.clone()).unwrap(), true);
        let weight_decay = wd.or(matches!(rule, Rule::AdamW(_)).then_some(0.0));
        let options = Options { weight_decay, clip };
        let mut opt = Optimizer::new(*rule, options).unwrap();
        let init = rule.slot_initial_value(Slot::Accumulator);
        let mut naive: Vec<Naive> = w0
            .iter()
            .map(|&w| Naive {
                w,
                a: init,
                ..Naive::default()
            })
            .collect();
        for step in 0..4u64 {
            let g: Vec<f64> = wave(n, 10 + step).iter().map(|x| 3.0 * x).collect();
            let lr = 0.05 / (step + 1) as f64;
            let u = Update {
                variable: &var,
                name: "w",
                gradient: Tensor::from_vec(&[n], g.clone()).unwrap(),
                decay: true,
            };
            opt.apply(&[u], lr, step).unwrap();
            let c = match clip {
                Clip::Value(v) => Some(v),
                _ => None,
            };
            for (e, &gi) in naive.iter_mut().zip(&g) {
                naive_step(rule, e, gi, lr, step, wd, c);
            }
        }
        let got = var.peek();
        let got = got.array::<f64>().unwrap();
        for (i, (x, e)) in got.iter().zip(&naive).enumerate() {
            let tol = 1e-12 * (1.0 + e.w.abs());
            assert!(
                (x - e.w).abs() <= tol,
                "{rule:?} n={n} [{i}]: {x} vs {}",
                e.w
            );
        }
    }

    #[test]
    fn every_rule_matches_the_naive_loop_serial_and_parallel() {
        for rule in rules() {
            for n in [1usize, 7, kernels::PAR_MIN_LEN + 12_345] {
                run_case(&rule, n, None, Clip::None);
            }
            run_case(&rule, 33, Some(0.004), Clip::None);
            run_case(&rule, 33, None, Clip::Value(0.5));
        }
    }

    #[test]
    fn float32_follows_float64_closely() {
        let rule = Rule::Adam(AdamParams::default());
        let w: Vec<f64> = wave(100, 3);
        let g: Vec<f64> = wave(100, 4);
        let v32 = Variable::new(
            Tensor::from_vec(&[100], w.iter().map(|&x| x as f32).collect()).unwrap(),
            true,
        );
        let v64 = Variable::new(Tensor::from_vec(&[100], w.clone()).unwrap(), true);
        let mut o32 = Optimizer::new(rule, Options::default()).unwrap();
        let mut o64 = Optimizer::new(rule, Options::default()).unwrap();
        for step in 0..3 {
            let g32 = Tensor::from_vec(&[100], g.iter().map(|&x| x as f32).collect()).unwrap();
            let g64 = Tensor::from_vec(&[100], g.clone()).unwrap();
            o32.apply(
                &[Update {
                    variable: &v32,
                    name: "a",
                    gradient: g32,
                    decay: false,
                }],
                0.01,
                step,
            )
            .unwrap();
            o64.apply(
                &[Update {
                    variable: &v64,
                    name: "b",
                    gradient: g64,
                    decay: false,
                }],
                0.01,
                step,
            )
            .unwrap();
        }
        let (a, b) = (v32.peek(), v64.peek());
        for (x, y) in a
            .array::<f32>()
            .unwrap()
            .iter()
            .zip(b.array::<f64>().unwrap())
        {
            assert!((*x as f64 - y).abs() < 1e-6, "{x} vs {y}");
        }
    }

    #[test]
    fn clip_by_norm_and_global_norm_scale_like_keras() {
        let rule = Rule::Sgd(SgdParams::default());
        // ‖a‖ = 5, ‖b‖ = 12, global 13
        let a = Variable::new(Tensor::from_vec(&[2], vec![0.0f64, 0.0]).unwrap(), true);
        let b = Variable::new(Tensor::from_vec(&[1], vec![0.0f64]).unwrap(), true);
        let grads = || {
            [
                Tensor::from_vec(&[2], vec![3.0f64, 4.0]).unwrap(),
                Tensor::from_vec(&[1], vec![12.0f64]).unwrap(),
            ]
        };
        let clip = |clip| Options {
            clip,
            ..Options::default()
        };
        let mut norm = Optimizer::new(rule, clip(Clip::Norm(6.0))).unwrap();
        let [ga, gb] = grads();
        norm.apply(
            &[
                Update {
                    variable: &a,
                    name: "a",
                    gradient: ga,
                    decay: false,
                },
                Update {
                    variable: &b,
                    name: "b",
                    gradient: gb,
                    decay: false,
                },
            ],
            1.0,
            0,
        )
        .unwrap();
        // a is under the norm (unchanged gradient), b is scaled to norm 6
        assert_eq!(
            a.peek().array::<f64>().unwrap().as_slice().unwrap(),
            &[-3.0, -4.0]
        );
        assert_eq!(
            b.peek().array::<f64>().unwrap().as_slice().unwrap(),
            &[-6.0]
        );

        let c = Variable::new(Tensor::from_vec(&[2], vec![0.0f64, 0.0]).unwrap(), true);
        let d = Variable::new(Tensor::from_vec(&[1], vec![0.0f64]).unwrap(), true);
        let mut global = Optimizer::new(rule, clip(Clip::GlobalNorm(6.5))).unwrap();
        let [ga, gb] = grads();
        global
            .apply(
                &[
                    Update {
                        variable: &c,
                        name: "c",
                        gradient: ga,
                        decay: false,
                    },
                    Update {
                        variable: &d,
                        name: "d",
                        gradient: gb,
                        decay: false,
                    },
                ],
                1.0,
                0,
            )
            .unwrap();
        assert_eq!(
            c.peek().array::<f64>().unwrap().as_slice().unwrap(),
            &[-1.5, -2.0]
        );
        assert_eq!(
            d.peek().array::<f64>().unwrap().as_slice().unwrap(),
            &[-6.0]
        );
    }

    #[test]
    fn a_shared_buffer_is_never_written() {
        let var = Variable::new(
            Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap(),
            true,
        );
        let before = var.peek();
        let mut opt = Optimizer::new(Rule::Sgd(SgdParams::default()), Options::default()).unwrap();
        let g = Tensor::from_vec(&[3], vec![1.0f32, 1.0, 1.0]).unwrap();
        let u = Update {
            variable: &var,
            name: "v",
            gradient: g,
            decay: false,
        };
        opt.apply(&[u], 0.5, 0).unwrap();
        assert_eq!(
            before.array::<f32>().unwrap().as_slice().unwrap(),
            &[1.0, 2.0, 3.0]
        );
        let after = var.peek();
        assert_eq!(
            after.array::<f32>().unwrap().as_slice().unwrap(),
            &[0.5, 1.5, 2.5]
        );
        assert_ne!(after.id(), before.id());
    }

    #[test]
    fn an_unshared_buffer_is_updated_in_place() {
        let var = Variable::new(Tensor::from_vec(&[4], vec![1.0f64; 4]).unwrap(), true);
        let address = |v: &Variable| v.peek().array::<f64>().unwrap().as_ptr() as usize;
        let before = address(&var);
        let rule = Rule::Adam(AdamParams {
            amsgrad: true,
            ..AdamParams::default()
        });
        let options = Options {
            weight_decay: Some(0.01),
            clip: Clip::None,
        };
        let mut opt = Optimizer::new(rule, options).unwrap();
        for step in 0..3 {
            let g = Tensor::from_vec(&[4], vec![0.5f64; 4]).unwrap();
            let u = Update {
                variable: &var,
                name: "v",
                gradient: g,
                decay: true,
            };
            opt.apply(&[u], 0.1, step).unwrap();
        }
        assert_eq!(address(&var), before);
    }

    #[test]
    fn bad_arguments_are_errors_and_leave_variables_unchanged() {
        let message = |rule: Rule, options: Options| match Optimizer::new(rule, options) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        let none = Options::default();
        let adam = |beta_1, beta_2| {
            Rule::Adam(AdamParams {
                beta_1,
                beta_2,
                ..AdamParams::default()
            })
        };
        let sgd = |momentum| {
            Rule::Sgd(SgdParams {
                momentum,
                nesterov: false,
            })
        };
        let cases = [
            (
                adam(1.0, 0.9),
                none,
                "Adam: `beta_1` must be in [0, 1), got 1",
            ),
            (
                adam(0.9, f64::NAN),
                none,
                "Adam: `beta_2` must be in [0, 1), got NaN",
            ),
            (
                sgd(-0.1),
                none,
                "SGD: `momentum` must be in [0, 1], got -0.1",
            ),
            (
                Rule::RmsProp(RmsPropParams {
                    epsilon: f64::INFINITY,
                    ..RmsPropParams::default()
                }),
                none,
                "RMSprop: `epsilon` must be a finite number >= 0, got inf",
            ),
            (
                Rule::Adagrad(AdagradParams {
                    initial_accumulator_value: -1.0,
                    ..AdagradParams::default()
                }),
                none,
                "Adagrad: `initial_accumulator_value` must be a finite number >= 0, got -1",
            ),
            (
                sgd(0.0),
                Options {
                    clip: Clip::Norm(0.0),
                    ..none
                },
                "SGD: `clipnorm` must be a number > 0, got 0",
            ),
            (
                sgd(0.0),
                Options {
                    weight_decay: Some(-0.5),
                    ..none
                },
                "SGD: `weight_decay` must be a finite number >= 0, got -0.5",
            ),
            (
                Rule::AdamW(AdamParams::default()),
                none,
                "AdamW: `weight_decay` must be a float",
            ),
        ];
        for (rule, options, expect) in cases {
            let got = message(rule, options);
            assert!(got.starts_with(expect), "{got:?} vs {expect:?}");
        }
        // the limits themselves are accepted
        assert_eq!(message(sgd(1.0), none), "");
        assert_eq!(message(adam(0.0, 0.0), none), "");
        let two = Clip::from_keras("SGD", Some(1.0), None, Some(2.0)).unwrap_err();
        assert_eq!(
            two.to_string(),
            "SGD: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, got clipnorm=1, clipvalue=None, global_clipnorm=2"
        );

        let mut opt = Optimizer::new(Rule::Adam(AdamParams::default()), none).unwrap();
        assert!(opt.set_weight_decay(Some(f64::NAN)).is_err());
        assert_eq!(opt.weight_decay(), None);
        let ok = Variable::new(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap(), true);
        let bad = Variable::new(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap(), true);
        let ints = Variable::new(Tensor::from_vec(&[2], vec![1i32, 2]).unwrap(), true);
        let g = || Tensor::from_vec(&[2], vec![1.0f32, 1.0]).unwrap();
        let cases = [
            (
                &bad,
                Tensor::from_vec(&[1, 2], vec![1.0f32, 1.0]).unwrap(),
                "shape [1, 2]",
            ),
            (
                &bad,
                Tensor::from_vec(&[2], vec![1.0f64, 1.0]).unwrap(),
                "dtype float64",
            ),
            (
                &ints,
                Tensor::from_vec(&[2], vec![1i32, 1]).unwrap(),
                "dtype int32",
            ),
        ];
        for (var, grad, expect) in cases {
            let err = opt
                .apply(
                    &[
                        Update {
                            variable: &ok,
                            name: "ok",
                            gradient: g(),
                            decay: false,
                        },
                        Update {
                            variable: var,
                            name: "bad",
                            gradient: grad,
                            decay: false,
                        },
                    ],
                    0.1,
                    0,
                )
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("Adam: ") && err.contains("'bad'") && err.contains(expect),
                "{err}"
            );
        }
        assert!(
            opt.apply(
                &[Update {
                    variable: &ok,
                    name: "ok",
                    gradient: g(),
                    decay: false
                }],
                -1.0,
                0
            )
            .is_err()
        );
        assert_eq!(
            ok.peek().array::<f32>().unwrap().as_slice().unwrap(),
            &[1.0, 2.0]
        );
        assert!(opt.is_empty());
    }

    #[test]
    fn slots_are_created_lazily_and_read_back() {
        let rule = Rule::RmsProp(RmsPropParams {
            momentum: 0.5,
            centered: true,
            ..RmsPropParams::default()
        });
        assert_eq!(
            rule.slot_names(),
            ["velocity", "momentum", "average_gradient"]
        );
        let mut opt = Optimizer::new(rule, Options::default()).unwrap();
        let var = Variable::new(Tensor::from_vec(&[2, 1], vec![1.0f64, 2.0]).unwrap(), true);
        assert!(opt.slot(&var, "velocity").is_none());
        let g = Tensor::from_vec(&[2, 1], vec![1.0f64, -2.0]).unwrap();
        opt.apply(
            &[Update {
                variable: &var,
                name: "v",
                gradient: g,
                decay: false,
            }],
            0.1,
            0,
        )
        .unwrap();
        let avg = opt.slot(&var, "average_gradient").unwrap().unwrap();
        assert_eq!(avg.shape(), &[2, 1]);
        let got: Vec<f64> = avg.array::<f64>().unwrap().iter().copied().collect();
        assert!(
            (got[0] - 0.1).abs() < 1e-15 && (got[1] + 0.2).abs() < 1e-15,
            "{got:?}"
        );
        assert!(opt.slot(&var, "velocity_hat").is_none());
        assert!(opt.slot(&var, "no such slot").is_none());

        let value = Tensor::from_vec(&[2, 1], vec![0.5f64, 0.25]).unwrap();
        opt.set_slot(&var, "v", "momentum", &value).unwrap();
        let back = opt.slot(&var, "momentum").unwrap().unwrap();
        assert_eq!(
            back.array::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [0.5, 0.25]
        );
        let wrong_shape = Tensor::from_vec(&[2], vec![0.5f64, 0.25]).unwrap();
        let wrong_dtype = Tensor::from_vec(&[2, 1], vec![0.5f32, 0.25]).unwrap();
        for (slot, value, message) in [
            ("momentum", &wrong_shape, "shape [2, 1]"),
            ("momentum", &wrong_dtype, "cast it to float64"),
            ("velocity_hat", &value, "keeps [\"velocity\""),
        ] {
            let err = opt
                .set_slot(&var, "v", slot, value)
                .unwrap_err()
                .to_string();
            assert!(err.contains(message), "{err}");
        }
        let fresh = Variable::new(Tensor::from_vec(&[2, 1], vec![0.0f64, 0.0]).unwrap(), true);
        opt.set_slot(&fresh, "fresh", "velocity", &value).unwrap();
        let velocity = opt.slot(&fresh, "velocity").unwrap().unwrap();
        assert_eq!(
            velocity
                .array::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [0.5, 0.25]
        );
        let momentum = opt.slot(&fresh, "momentum").unwrap().unwrap();
        assert_eq!(
            momentum
                .array::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [0.0, 0.0]
        );
        opt.retain(|_| false);
        assert!(opt.is_empty());
    }

    #[test]
    fn config_lists_the_hyperparameters_in_constructor_order() {
        let adam = Rule::AdamW(AdamParams::default());
        let names: Vec<&str> = adam.config().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["beta_1", "beta_2", "epsilon", "amsgrad"]);
        assert_eq!(adam.config()[3].1, Hyperparameter::Flag(false));
        let sgd = Rule::Sgd(SgdParams {
            momentum: 0.5,
            nesterov: true,
        });
        assert_eq!(
            sgd.config(),
            [
                ("momentum", Hyperparameter::Number(0.5)),
                ("nesterov", Hyperparameter::Flag(true))
            ]
        );
    }

    #[test]
    fn sweep_waits_for_the_table_to_grow() {
        let mut opt = Optimizer::new(Rule::Sgd(SgdParams::default()), Options::default()).unwrap();
        let vars: Vec<Variable> = (0..FIRST_SWEEP)
            .map(|_| Variable::new(Tensor::from_vec(&[1], vec![1.0f64]).unwrap(), true))
            .collect();
        for v in &vars[1..] {
            opt.build(v, "v").unwrap();
        }
        opt.sweep(|_| false);
        assert_eq!(opt.len(), FIRST_SWEEP - 1, "below the threshold: kept");
        opt.build(&vars[0], "v").unwrap();
        let first = vars[0].handle();
        opt.sweep(|h| h == first);
        assert_eq!(opt.len(), 1);
        assert_eq!(opt.sweep_at, FIRST_SWEEP);
    }

    #[test]
    fn a_step_kernel_reads_its_scalars_when_it_runs() {
        let rule = Rule::from_config("sgd", &[]).unwrap();
        let options = Options::default();
        let optimizer = Arc::new(Mutex::new(Optimizer::new(rule, options).unwrap()));
        let w = Arc::new(Variable::new(
            Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap(),
            true,
        ));
        let rate = Arc::new(Variable::new(Tensor::scalar(0.5f64), false));
        let names = vec!["w:0".to_string()];
        let (lr, t) = (StepScalar::Variable(1), StepScalar::Number(0.0));
        let kernel = step_kernel(optimizer, names, vec![false], lr, t, |_| true);
        let vars = [w.clone(), rate.clone()];
        let g = Tensor::from_vec(&[2], vec![1.0f64, 1.0]).unwrap();
        assert!(kernel(&vars, std::slice::from_ref(&g)).unwrap().is_empty());
        let value = |v: &Variable| {
            v.peek()
                .array::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(value(&w), [0.5, 1.5]);
        // a later run reads the rate variable's new value
        rate.assign(&Tensor::scalar(1.0f64)).unwrap();
        kernel(&vars, std::slice::from_ref(&g)).unwrap();
        assert_eq!(value(&w), [-0.5, 0.5]);
        // a rate that is not a number is refused, and nothing changes
        assert!(StepScalar::Variable(7).value(&vars).is_nan());
        let bad = step_kernel(
            Arc::new(Mutex::new(Optimizer::new(rule, options).unwrap())),
            vec!["w:0".into()],
            vec![false],
            StepScalar::Variable(7),
            t,
            |_| true,
        );
        assert!(bad(&vars, &[g]).is_err());
        assert_eq!(value(&w), [-0.5, 0.5]);
    }

    /// Complex variables run the real formulas in complex arithmetic (g·g,
    /// principal √), and refuse what TF defines for real values only.
    #[test]
    fn complex_variables_follow_the_formulas_in_complex_arithmetic() {
        let g = Complex::new(0.5f64, -1.0);
        let var = Variable::new(
            Tensor::from_vec(&[1], vec![Complex::new(1.0f64, 2.0)]).unwrap(),
            true,
        );
        let mut opt =
            Optimizer::new(Rule::Adam(AdamParams::default()), Options::default()).unwrap();
        let update = Update {
            variable: &var,
            name: "z",
            gradient: Tensor::from_vec(&[1], vec![g]).unwrap(),
            decay: false,
        };
        opt.apply(std::slice::from_ref(&update), 0.1, 0).unwrap();
        // first step: m = 0.1·g, u = 0.001·g², α = 0.1·√0.001 / 0.1
        let (m, u) = (g * 0.1, g * g * 0.001);
        let want = Complex::new(1.0, 2.0) - m * (0.1 * 0.001f64.sqrt() / 0.1) / (u.sqrt() + 1e-7);
        let got = var.peek().array::<Complex<f64>>().unwrap()[[0]];
        assert!((got - want).norm() < 1e-12, "{got} vs {want}");
        let velocity = opt.slot(&var, "velocity").unwrap().unwrap();
        assert!((velocity.array::<Complex<f64>>().unwrap()[[0]] - u).norm() < 1e-15);

        let clipped = Options {
            clip: Clip::Norm(1.0),
            ..Options::default()
        };
        let mut opt = Optimizer::new(Rule::Sgd(SgdParams::default()), clipped).unwrap();
        let err = opt.apply(&[update], 0.1, 0).unwrap_err().to_string();
        assert!(err.contains("complex128 with `clipnorm`"), "{err}");
    }
}
