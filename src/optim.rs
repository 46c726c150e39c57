//! Optimizer updates with Keras 3's rules, fused: one pass over a variable's
//! buffer updates the variable and its slot buffers (momentum, m, v, …) in
//! place, on rayon above `PAR_MIN_LEN` elements. No op runs, so nothing is
//! recorded on any tape.
//!
//! The math per element, with `g` the (clipped) gradient, `lr` the learning
//! rate and `t = iterations + 1` (Keras' `local_step`):
//!
//! - weight decay, for every rule, before its update: `w ← w − w·wd·lr`
//! - SGD: `w ← w − g·lr`; with momentum μ: `m ← m·μ − g·lr`, then `w ← w + m`
//!   or, Nesterov, `w ← w + (m·μ − g·lr)`
//! - Adam: `m ← m + (g − m)(1 − β₁)`, `v ← v + (g² − v)(1 − β₂)`;
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

use ndarray::{ArcArray, IxDyn};
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

/// An update rule and its hyperparameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Sgd {
        momentum: f64,
        nesterov: bool,
    },
    Adam {
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        amsgrad: bool,
    },
    RmsProp {
        rho: f64,
        momentum: f64,
        epsilon: f64,
        centered: bool,
    },
    Adagrad {
        initial_accumulator_value: f64,
        epsilon: f64,
    },
}

/// Gradient clipping; at most one kind at a time (Keras refuses two).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    None,
    /// Each gradient to this L2 norm at most.
    Norm(f64),
    /// All gradients together to this L2 norm at most.
    GlobalNorm(f64),
    /// Each element to `[-v, v]`.
    Value(f64),
}

/// Up to three slot buffers per variable; unused positions stay empty.
const SLOTS: usize = 3;

impl Rule {
    /// The slot each of the three positions holds (Keras' slot names).
    pub fn slot_layout(&self) -> [Option<&'static str>; SLOTS] {
        match *self {
            Rule::Sgd { momentum, .. } => [(momentum != 0.0).then_some("momentum"), None, None],
            Rule::Adam { amsgrad, .. } => [
                Some("momentum"),
                Some("velocity"),
                amsgrad.then_some("velocity_hat"),
            ],
            Rule::RmsProp {
                momentum, centered, ..
            } => [
                Some("velocity"),
                (momentum > 0.0).then_some("momentum"),
                centered.then_some("average_gradient"),
            ],
            Rule::Adagrad { .. } => [Some("accumulator"), None, None],
        }
    }

    /// Names of the slots this rule keeps, in Keras' order.
    pub fn slot_names(&self) -> Vec<&'static str> {
        self.slot_layout().into_iter().flatten().collect()
    }

    fn slot_initial_value(&self) -> f64 {
        match *self {
            Rule::Adagrad {
                initial_accumulator_value,
                ..
            } => initial_accumulator_value,
            _ => 0.0,
        }
    }

    fn validate(&self, op: &'static str) -> Result<()> {
        let unit = |name: &str, v: f64, closed: bool| -> Result<()> {
            let ok = v >= 0.0 && (v < 1.0 || (closed && v == 1.0));
            if ok {
                Ok(())
            } else {
                let range = if closed { "[0, 1]" } else { "[0, 1)" };
                Err(Error::invalid(
                    op,
                    format!("`{name}` must be in {range}, got {v}"),
                ))
            }
        };
        let non_negative = |name: &str, v: f64| -> Result<()> {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(
                    op,
                    format!("`{name}` must be a finite number >= 0, got {v}"),
                ))
            }
        };
        match *self {
            Rule::Sgd { momentum, .. } => unit("momentum", momentum, true),
            Rule::Adam {
                beta_1,
                beta_2,
                epsilon,
                ..
            } => {
                unit("beta_1", beta_1, false)?;
                unit("beta_2", beta_2, false)?;
                non_negative("epsilon", epsilon)
            }
            Rule::RmsProp {
                rho,
                momentum,
                epsilon,
                ..
            } => {
                unit("rho", rho, false)?;
                unit("momentum", momentum, true)?;
                non_negative("epsilon", epsilon)
            }
            Rule::Adagrad {
                initial_accumulator_value,
                epsilon,
            } => {
                non_negative("initial_accumulator_value", initial_accumulator_value)?;
                non_negative("epsilon", epsilon)
            }
        }
    }
}

impl Clip {
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

/// The slot buffers of one variable, in standard (row-major) order.
pub struct Slots {
    shape: Vec<usize>,
    bufs: SlotBufs,
}

enum SlotBufs {
    F32([Vec<f32>; SLOTS]),
    F64([Vec<f64>; SLOTS]),
}

impl Slots {
    fn new(op: &'static str, rule: &Rule, dtype: DType, shape: &[usize]) -> Result<Slots> {
        let layout = rule.slot_layout();
        for _ in layout.iter().flatten() {
            check_alloc(op, dtype, shape)?;
        }
        let n: usize = shape.iter().product();
        let init = rule.slot_initial_value();
        fn fill<T: Copy>(layout: &[Option<&str>; SLOTS], n: usize, v: T) -> [Vec<T>; SLOTS] {
            layout.map(|s| if s.is_some() { vec![v; n] } else { Vec::new() })
        }
        let bufs = match dtype {
            DType::F32 => SlotBufs::F32(fill(&layout, n, init as f32)),
            DType::F64 => SlotBufs::F64(fill(&layout, n, init)),
            other => {
                return Err(Error::UnsupportedDType {
                    op,
                    dtype: other,
                    allowed: "float32, float64",
                });
            }
        };
        Ok(Slots {
            shape: shape.to_vec(),
            bufs,
        })
    }

    fn tensor(&self, position: usize) -> Result<Tensor> {
        match &self.bufs {
            SlotBufs::F32(b) => Tensor::from_vec(&self.shape, b[position].clone()),
            SlotBufs::F64(b) => Tensor::from_vec(&self.shape, b[position].clone()),
        }
    }
}

/// One variable to update: the variable, its name (for error messages), its
/// gradient, and the weight decay to apply to it (`None`: excluded or off).
pub struct Update<'a> {
    pub variable: &'a Variable,
    pub name: &'a str,
    pub gradient: Tensor,
    pub weight_decay: Option<f64>,
}

/// An optimizer's configuration and the slots of every variable it has
/// updated, keyed by variable handle (slots are created on a variable's
/// first update, or by `build`).
pub struct Optimizer {
    op: &'static str,
    rule: Rule,
    clip: Clip,
    slots: HashMap<TensorId, Slots>,
}

impl Optimizer {
    /// `op` names the optimizer in error messages ("Adam", "SGD", …).
    pub fn new(op: &'static str, rule: Rule, clip: Clip) -> Result<Optimizer> {
        rule.validate(op)?;
        clip.validate(op)?;
        Ok(Optimizer {
            op,
            rule,
            clip,
            slots: HashMap::new(),
        })
    }

    /// The name errors carry ("Adam", "SGD", …).
    pub fn name(&self) -> &'static str {
        self.op
    }

    pub fn rule(&self) -> &Rule {
        &self.rule
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

    /// Create the slots of `variable` now (Keras' `build`); a no-op for a
    /// variable that has them.
    pub fn build(&mut self, variable: &Variable, name: &str) -> Result<()> {
        check_variable(self.op, variable, name)?;
        if !self.slots.contains_key(&variable.handle()) {
            let slots = Slots::new(self.op, &self.rule, variable.dtype(), &variable.shape())?;
            self.slots.insert(variable.handle(), slots);
        }
        Ok(())
    }

    /// A copy of the slot `slot` of `variable`, if it has one by that name.
    pub fn slot(&self, variable: &Variable, slot: &str) -> Option<Result<Tensor>> {
        let position = self
            .rule
            .slot_layout()
            .iter()
            .position(|s| *s == Some(slot))?;
        let slots = self.slots.get(&variable.handle())?;
        Some(slots.tensor(position))
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
        let op = self.op;
        if !(learning_rate >= 0.0 && learning_rate.is_finite()) {
            return Err(Error::invalid(
                op,
                format!("the learning rate must be a finite number >= 0, got {learning_rate}"),
            ));
        }
        for u in updates {
            check_variable(op, u.variable, u.name)?;
            check_gradient(op, u)?;
        }
        let scales = self.gradient_scales(updates);
        for (u, scale) in updates.iter().zip(scales) {
            let handle = u.variable.handle();
            if !self.slots.contains_key(&handle) {
                let slots = Slots::new(op, &self.rule, u.variable.dtype(), &u.variable.shape())?;
                self.slots.insert(handle, slots);
            }
            // Invariant: inserted just above.
            let Some(slots) = self.slots.get_mut(&handle) else {
                continue;
            };
            let step = StepScalars {
                learning_rate,
                iterations,
                weight_decay: u.weight_decay,
                scale,
                clip_value: match self.clip {
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
        match self.clip {
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

fn check_variable(op: &'static str, variable: &Variable, name: &str) -> Result<()> {
    let dtype = variable.dtype();
    if !dtype.is_float() {
        return Err(Error::invalid(
            op,
            format!(
                "cannot update variable '{name}' of dtype {} (shape {:?}): only float32 and float64 variables can be optimized",
                dtype.name(),
                variable.shape()
            ),
        ));
    }
    Ok(())
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
        let a = kernels::standard(a);
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

/// The scalars of one variable's step, before conversion to its dtype.
struct StepScalars {
    learning_rate: f64,
    iterations: u64,
    weight_decay: Option<f64>,
    scale: Option<f64>,
    clip_value: Option<f64>,
}

/// The scalars of one step in the variable's dtype; `k1..k3` are the rule's
/// own coefficients (see `Coeffs::new`).
#[derive(Clone, Copy)]
struct Coeffs<T> {
    lr: T,
    weight_decay: Option<T>,
    scale: Option<T>,
    clip: Option<T>,
    k1: T,
    k2: T,
    k3: T,
    epsilon: T,
}

impl<T: Real> Coeffs<T> {
    fn new(rule: &Rule, s: &StepScalars) -> Coeffs<T> {
        let c = T::from_f64;
        let (k1, k2, k3, epsilon) = match *rule {
            Rule::Sgd { momentum, .. } => (c(momentum), T::ZERO, T::ZERO, T::ZERO),
            Rule::Adam {
                beta_1,
                beta_2,
                epsilon,
                ..
            } => {
                let t = (s.iterations + 1) as f64;
                let alpha =
                    s.learning_rate * (1.0 - beta_2.powf(t)).sqrt() / (1.0 - beta_1.powf(t));
                (c(1.0 - beta_1), c(1.0 - beta_2), c(alpha), c(epsilon))
            }
            Rule::RmsProp {
                rho,
                momentum,
                epsilon,
                ..
            } => (c(rho), c(1.0 - rho), c(momentum), c(epsilon)),
            Rule::Adagrad { epsilon, .. } => (T::ZERO, T::ZERO, T::ZERO, c(epsilon)),
        };
        Coeffs {
            lr: c(s.learning_rate),
            weight_decay: s.weight_decay.map(c),
            scale: s.scale.map(c),
            clip: s.clip_value.map(c),
            k1,
            k2,
            k3,
            epsilon,
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
            // NaN passes through, as with Keras' `clip`
            Some(v) if g > v => v,
            Some(v) if g < -v => -v,
            _ => g,
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
fn update_array<T: Element + Real>(
    rule: &Rule,
    step: &StepScalars,
    w: &mut ArcArray<T, IxDyn>,
    g: &ArcArray<T, IxDyn>,
    slots: &mut [Vec<T>; SLOTS],
) {
    if !w.is_standard_layout() {
        *w = kernels::standard(w);
    }
    let g = kernels::standard(g);
    let (Some(ws), Some(gs)) = (w.as_slice_mut(), g.as_slice()) else {
        // Unreachable: both were just put in standard layout.
        return;
    };
    let k = Coeffs::<T>::new(rule, step);
    let [s0, s1, s2] = slots;
    let lanes = Lanes {
        w: ws,
        g: gs,
        s: [s0.as_mut_slice(), s1.as_mut_slice(), s2.as_mut_slice()],
    };
    update_lanes(rule, &k, lanes);
}

/// Equal-length pieces of a variable, its gradient and its slots (an unused
/// slot is an empty slice in every piece).
struct Lanes<'a, T> {
    w: &'a mut [T],
    g: &'a [T],
    s: [&'a mut [T]; SLOTS],
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
        let [a, b, c] = self.s;
        let ((a0, a1), (b0, b1), (c0, c1)) = (cut(a, mid), cut(b, mid), cut(c, mid));
        (
            Lanes {
                w: w0,
                g: g0,
                s: [a0, b0, c0],
            },
            Lanes {
                w: w1,
                g: g1,
                s: [a1, b1, c1],
            },
        )
    }
}

/// Serial below `PAR_MIN_LEN` elements; above, halves recursively down to
/// `GRAIN`-sized pieces run on rayon. Each element is independent, so the
/// result is the same for any split.
fn update_lanes<T: Real>(rule: &Rule, k: &Coeffs<T>, lanes: Lanes<'_, T>) {
    if kernels::parallel(lanes.len()) {
        split_join(rule, k, lanes);
    } else {
        update_chunk(rule, k, lanes);
    }
}

fn split_join<T: Real>(rule: &Rule, k: &Coeffs<T>, lanes: Lanes<'_, T>) {
    if lanes.len() <= GRAIN {
        update_chunk(rule, k, lanes);
        return;
    }
    let mid = lanes.len() / 2;
    let (a, b) = lanes.split(mid);
    rayon::join(|| split_join(rule, k, a), || split_join(rule, k, b));
}

/// The rules, element by element, in Keras' order of operations.
fn update_chunk<T: Real>(rule: &Rule, k: &Coeffs<T>, lanes: Lanes<'_, T>) {
    let Lanes { w, g, s } = lanes;
    let n = w.len();
    let g = &g[..n];
    let [s0, s1, s2] = s;
    let lr = k.lr;
    match *rule {
        Rule::Sgd { momentum, nesterov } if momentum != 0.0 => {
            let (m, mu) = (&mut s0[..n], k.k1);
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                m[i] = m[i] * mu - gi * lr;
                w[i] = if nesterov {
                    wi + (m[i] * mu - gi * lr)
                } else {
                    wi + m[i]
                };
            }
        }
        Rule::Sgd { .. } => {
            for i in 0..n {
                let gi = k.grad(g[i]);
                w[i] = k.decay(w[i]) - gi * lr;
            }
        }
        Rule::Adam { amsgrad, .. } => {
            let (m, v) = (&mut s0[..n], &mut s1[..n]);
            let (one_minus_b1, one_minus_b2, alpha) = (k.k1, k.k2, k.k3);
            let mut v_hat = if amsgrad { Some(&mut s2[..n]) } else { None };
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                m[i] = m[i] + (gi - m[i]) * one_minus_b1;
                v[i] = v[i] + (gi * gi - v[i]) * one_minus_b2;
                let vi = match v_hat.as_deref_mut() {
                    Some(vh) => {
                        if v[i] > vh[i] {
                            vh[i] = v[i];
                        }
                        vh[i]
                    }
                    None => v[i],
                };
                w[i] = wi - m[i] * alpha / (vi.sqrt() + k.epsilon);
            }
        }
        Rule::RmsProp {
            momentum, centered, ..
        } => {
            let v = &mut s0[..n];
            let mut mom = if momentum > 0.0 {
                Some(&mut s1[..n])
            } else {
                None
            };
            let mut avg = if centered { Some(&mut s2[..n]) } else { None };
            let (rho, one_minus_rho, mu) = (k.k1, k.k2, k.k3);
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                v[i] = rho * v[i] + one_minus_rho * (gi * gi);
                let denominator = match avg.as_deref_mut() {
                    Some(a) => {
                        a[i] = rho * a[i] + one_minus_rho * gi;
                        v[i] - a[i] * a[i] + k.epsilon
                    }
                    None => v[i] + k.epsilon,
                };
                let increment = lr * gi / denominator.sqrt();
                w[i] = match mom.as_deref_mut() {
                    Some(m) => {
                        m[i] = mu * m[i] + increment;
                        wi - m[i]
                    }
                    None => wi - increment,
                };
            }
        }
        Rule::Adagrad { .. } => {
            let acc = &mut s0[..n];
            for i in 0..n {
                let gi = k.grad(g[i]);
                let wi = k.decay(w[i]);
                acc[i] = acc[i] + gi * gi;
                w[i] = wi - lr * gi / (acc[i] + k.epsilon).sqrt();
            }
        }
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
            Rule::Sgd { momentum, nesterov } => {
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
            Rule::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
            } => {
                let t = (t + 1) as f64;
                e.m = beta_1 * e.m + (1.0 - beta_1) * g;
                e.v = beta_2 * e.v + (1.0 - beta_2) * g * g;
                e.vh = e.vh.max(e.v);
                let v = if amsgrad { e.vh } else { e.v };
                let alpha = lr * (1.0 - beta_2.powf(t)).sqrt() / (1.0 - beta_1.powf(t));
                e.w -= alpha * e.m / (v.sqrt() + epsilon);
            }
            Rule::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
            } => {
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
            Rule::Adagrad { epsilon, .. } => {
                e.a += g * g;
                e.w -= lr * g / (e.a + epsilon).sqrt();
            }
        }
    }

    fn rules() -> Vec<Rule> {
        let mut out = vec![
            Rule::Adagrad {
                initial_accumulator_value: 0.1,
                epsilon: 1e-7,
            },
            Rule::Adagrad {
                initial_accumulator_value: 0.0,
                epsilon: 1e-3,
            },
        ];
        for (momentum, nesterov) in [(0.0, false), (0.9, false), (0.9, true)] {
            out.push(Rule::Sgd { momentum, nesterov });
        }
        for amsgrad in [false, true] {
            out.push(Rule::Adam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                amsgrad,
            });
        }
        for (momentum, centered) in [(0.0, false), (0.5, false), (0.0, true), (0.5, true)] {
            out.push(Rule::RmsProp {
                rho: 0.9,
                momentum,
                epsilon: 1e-7,
                centered,
            });
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
        let mut opt = Optimizer::new("Test", rule.clone(), clip).unwrap();
        let init = rule.slot_initial_value();
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
                weight_decay: wd,
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
        let rule = Rule::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        };
        let w: Vec<f64> = wave(100, 3);
        let g: Vec<f64> = wave(100, 4);
        let v32 = Variable::new(
            Tensor::from_vec(&[100], w.iter().map(|&x| x as f32).collect()).unwrap(),
            true,
        );
        let v64 = Variable::new(Tensor::from_vec(&[100], w.clone()).unwrap(), true);
        let mut o32 = Optimizer::new("Adam", rule.clone(), Clip::None).unwrap();
        let mut o64 = Optimizer::new("Adam", rule, Clip::None).unwrap();
        for step in 0..3 {
            let g32 = Tensor::from_vec(&[100], g.iter().map(|&x| x as f32).collect()).unwrap();
            let g64 = Tensor::from_vec(&[100], g.clone()).unwrap();
            o32.apply(
                &[Update {
                    variable: &v32,
                    name: "a",
                    gradient: g32,
                    weight_decay: None,
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
                    weight_decay: None,
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
        let rule = Rule::Sgd {
            momentum: 0.0,
            nesterov: false,
        };
        // ‖a‖ = 5, ‖b‖ = 12, global 13
        let a = Variable::new(Tensor::from_vec(&[2], vec![0.0f64, 0.0]).unwrap(), true);
        let b = Variable::new(Tensor::from_vec(&[1], vec![0.0f64]).unwrap(), true);
        let grads = || {
            [
                Tensor::from_vec(&[2], vec![3.0f64, 4.0]).unwrap(),
                Tensor::from_vec(&[1], vec![12.0f64]).unwrap(),
            ]
        };
        let mut norm = Optimizer::new("SGD", rule.clone(), Clip::Norm(6.0)).unwrap();
        let [ga, gb] = grads();
        norm.apply(
            &[
                Update {
                    variable: &a,
                    name: "a",
                    gradient: ga,
                    weight_decay: None,
                },
                Update {
                    variable: &b,
                    name: "b",
                    gradient: gb,
                    weight_decay: None,
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
        let mut global = Optimizer::new("SGD", rule, Clip::GlobalNorm(6.5)).unwrap();
        let [ga, gb] = grads();
        global
            .apply(
                &[
                    Update {
                        variable: &c,
                        name: "c",
                        gradient: ga,
                        weight_decay: None,
                    },
                    Update {
                        variable: &d,
                        name: "d",
                        gradient: gb,
                        weight_decay: None,
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
        let mut opt = Optimizer::new(
            "SGD",
            Rule::Sgd {
                momentum: 0.0,
                nesterov: false,
            },
            Clip::None,
        )
        .unwrap();
        let g = Tensor::from_vec(&[3], vec![1.0f32, 1.0, 1.0]).unwrap();
        let u = Update {
            variable: &var,
            name: "v",
            gradient: g,
            weight_decay: None,
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
        let mut opt = Optimizer::new(
            "Adam",
            Rule::Adam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                amsgrad: true,
            },
            Clip::None,
        )
        .unwrap();
        for step in 0..3 {
            let g = Tensor::from_vec(&[4], vec![0.5f64; 4]).unwrap();
            let u = Update {
                variable: &var,
                name: "v",
                gradient: g,
                weight_decay: Some(0.01),
            };
            opt.apply(&[u], 0.1, step).unwrap();
        }
        assert_eq!(address(&var), before);
    }

    #[test]
    fn bad_arguments_are_errors_and_leave_variables_unchanged() {
        let rule = Rule::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        };
        assert!(
            Optimizer::new(
                "Adam",
                Rule::Adam {
                    beta_1: 1.0,
                    beta_2: 0.9,
                    epsilon: 0.0,
                    amsgrad: false
                },
                Clip::None
            )
            .is_err()
        );
        assert!(
            Optimizer::new(
                "SGD",
                Rule::Sgd {
                    momentum: -0.1,
                    nesterov: false
                },
                Clip::None
            )
            .is_err()
        );
        assert!(
            Optimizer::new(
                "SGD",
                Rule::Sgd {
                    momentum: 0.0,
                    nesterov: false
                },
                Clip::Norm(0.0)
            )
            .is_err()
        );
        let mut opt = Optimizer::new("Adam", rule, Clip::None).unwrap();
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
                            weight_decay: None,
                        },
                        Update {
                            variable: var,
                            name: "bad",
                            gradient: grad,
                            weight_decay: None,
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
                    weight_decay: None
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
        let rule = Rule::RmsProp {
            rho: 0.9,
            momentum: 0.5,
            epsilon: 1e-7,
            centered: true,
        };
        assert_eq!(
            rule.slot_names(),
            ["velocity", "momentum", "average_gradient"]
        );
        let mut opt = Optimizer::new("RMSprop", rule, Clip::None).unwrap();
        let var = Variable::new(Tensor::from_vec(&[2, 1], vec![1.0f64, 2.0]).unwrap(), true);
        assert!(opt.slot(&var, "velocity").is_none());
        let g = Tensor::from_vec(&[2, 1], vec![1.0f64, -2.0]).unwrap();
        opt.apply(
            &[Update {
                variable: &var,
                name: "v",
                gradient: g,
                weight_decay: None,
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
        opt.retain(|_| false);
        assert!(opt.is_empty());
    }
}
