//! Neural-network ops, composed from the primitives (so their gradients,
//! of any order, come from the primitives' VJPs): softmax and its losses,
//! activations with parameters, dropout, bias_add, moments.

use crate::error::{Error, Result};
use crate::ops::{
    cast, exp, gather, greater, greater_equal, log, log1p, random, reduce_max, reduce_mean,
    reduce_sum, reshape_to, square, squared_difference, stop_gradient, tanh, where_, zeros,
};
use crate::tensor::{Data, Tensor};

fn float_only(op: &'static str, x: &Tensor) -> Result<()> {
    if !x.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype: x.dtype(),
            allowed: "float32, float64",
        });
    }
    Ok(())
}

/// `x − max(x)` along `axis`; the shift is a constant to the tape (it
/// cancels out of softmax), which keeps exp from overflowing.
fn shifted(op: &'static str, x: &Tensor, axis: i64) -> Result<Tensor> {
    float_only(op, x)?;
    if x.rank() == 0 {
        return Err(Error::invalid(op, "logits must have rank >= 1"));
    }
    x.sub(&stop_gradient(&reduce_max(x, Some(&[axis]), true)?))
}

/// eˣ / Σ eˣ along `axis`.
pub fn softmax(logits: &Tensor, axis: i64) -> Result<Tensor> {
    let e = exp(&shifted("Softmax", logits, axis)?)?;
    e.div(&reduce_sum(&e, Some(&[axis]), true)?)
}

/// x − log Σ eˣ along `axis`, computed around the maximum (no overflow).
pub fn log_softmax(logits: &Tensor, axis: i64) -> Result<Tensor> {
    let s = shifted("LogSoftmax", logits, axis)?;
    s.sub(&log(&reduce_sum(&exp(&s)?, Some(&[axis]), true)?)?)
}

/// −log softmax(logits)[label] for int labels of shape `logits.shape[:-1]`.
pub fn sparse_softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
) -> Result<Tensor> {
    let op = "SparseSoftmaxCrossEntropyWithLogits";
    let r = labels.rank();
    if logits.rank() != r + 1 || logits.shape()[..r] != *labels.shape() {
        return Err(Error::invalid(
            op,
            format!(
                "labels shape {:?} must equal logits shape {:?} without its last dimension",
                labels.shape(),
                logits.shape()
            ),
        ));
    }
    let classes = logits.shape()[r];
    let values: Vec<i64> = match labels.data() {
        Data::I32(a) => a.iter().map(|&v| v as i64).collect(),
        Data::I64(a) => a.iter().copied().collect(),
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: labels.dtype(),
                allowed: "int32, int64 (labels)",
            });
        }
    };
    if let Some(&bad) = values.iter().find(|&&v| v < 0 || v as usize >= classes) {
        return Err(Error::invalid(
            op,
            format!(
                "Received a label value of {bad} which is outside the valid range of [0, {classes}).  Label values: {}",
                values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ));
    }
    let lsm = log_softmax(logits, -1)?;
    gather(&lsm, labels, r as i64, r as i64)?.neg()
}

/// −Σ labels · log softmax(logits) along `axis` (labels are a distribution).
pub fn softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
    axis: i64,
) -> Result<Tensor> {
    let op = "SoftmaxCrossEntropyWithLogits";
    same_shape(op, labels, logits)?;
    reduce_sum(
        &labels.mul(&log_softmax(logits, axis)?)?,
        Some(&[axis]),
        false,
    )?
    .neg()
}

fn same_shape(op: &'static str, labels: &Tensor, logits: &Tensor) -> Result<()> {
    crate::ops::same_dtype(op, labels, logits)?;
    if labels.shape() != logits.shape() {
        return Err(Error::invalid(
            op,
            format!(
                "logits and labels must have the same shape ({:?} vs {:?})",
                logits.shape(),
                labels.shape()
            ),
        ));
    }
    Ok(())
}

/// max(x, 0) − x·z + log(1 + e^(−|x|)), composed as TF composes it (so the
/// gradient at x = 0 is ½ − z).
pub fn sigmoid_cross_entropy_with_logits(labels: &Tensor, logits: &Tensor) -> Result<Tensor> {
    let op = "sigmoid_cross_entropy_with_logits";
    same_shape(op, labels, logits)?;
    float_only(op, logits)?;
    let zero = zeros(logits.dtype(), &[])?;
    let cond = greater_equal(logits, &zero)?;
    let relu_logits = where_(&cond, logits, &zero)?;
    let neg_abs = where_(&cond, &logits.neg()?, logits)?;
    relu_logits
        .sub(&logits.mul(labels)?)?
        .add(&log1p(&exp(&neg_abs)?)?)
}

/// Σ x² / 2.
pub fn l2_loss(t: &Tensor) -> Result<Tensor> {
    float_only("L2Loss", t)?;
    reduce_sum(&square(t)?, None, false)?.scale(0.5)
}

/// x if x > 0 else αx (the gradient at 0 is α, as in TF).
pub fn leaky_relu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    float_only("LeakyRelu", x)?;
    where_(&greater(x, &zeros(x.dtype(), &[])?)?, x, &x.scale(alpha)?)
}

/// GELU's tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
pub fn gelu_approximate(x: &Tensor) -> Result<Tensor> {
    float_only("Gelu", x)?;
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let inner = x.add(&x.mul(&square(x)?)?.scale(0.044715)?)?.scale(c)?;
    let one = Tensor::scalar_of(x.dtype(), 1.0);
    x.mul(&one.add(&tanh(&inner)?)?)?.scale(0.5)
}

/// Zero each element with probability `rate` and scale the rest by
/// 1/(1 − rate), as TF does: `x · scale · [u ≥ rate]`, u uniform in [0, 1).
pub fn dropout(
    x: &Tensor,
    rate: f64,
    noise_shape: Option<&[usize]>,
    seed: Option<u64>,
) -> Result<Tensor> {
    let op = "dropout";
    float_only(op, x)?;
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::invalid(
            op,
            format!("rate must be a scalar tensor or a float in the range [0, 1), got {rate}"),
        ));
    }
    if rate == 0.0 {
        return crate::ops::identity(x);
    }
    let shape = noise_shape.unwrap_or(x.shape());
    crate::shape::broadcast_shapes(op, x.shape(), shape)?;
    let u = random::uniform(shape, 0.0, 1.0, x.dtype(), seed)?;
    let keep = cast(
        &greater_equal(&u, &Tensor::scalar_of(x.dtype(), rate))?,
        x.dtype(),
    )?;
    x.scale(1.0 / (1.0 - rate))?.mul(&keep)
}

/// `value + bias`, the bias along the channel axis (last for NHWC/`None`,
/// axis 1 for NC…).
pub fn bias_add(value: &Tensor, bias: &Tensor, channels_first: bool) -> Result<Tensor> {
    let op = "BiasAdd";
    crate::ops::same_dtype(op, value, bias)?;
    let min_rank = if channels_first { 3 } else { 2 };
    if bias.rank() != 1 || value.rank() < min_rank {
        return Err(Error::invalid(
            op,
            format!(
                "Biases must be 1D and the input at least {min_rank}D: bias shape {:?}, input shape {:?}",
                bias.shape(),
                value.shape()
            ),
        ));
    }
    let ch = if channels_first { 1 } else { value.rank() - 1 };
    if value.shape()[ch] != bias.shape()[0] {
        return Err(Error::invalid(
            op,
            format!(
                "Must provide as many biases as the channel dimension of the input tensor: {:?} vs. {:?}",
                bias.shape(),
                value.shape()
            ),
        ));
    }
    // the same rank as `value`, so the add stretches axes but adds none
    let mut shape = vec![1; value.rank()];
    shape[ch] = bias.shape()[0];
    value.add(&reshape_to(bias, &shape)?)
}

/// Mean and variance over `axes` (TF's `moments`; the variance is taken
/// around the mean as a constant, which gives the same gradient).
pub fn moments(x: &Tensor, axes: &[i64], keepdims: bool) -> Result<(Tensor, Tensor)> {
    float_only("moments", x)?;
    let mean = reduce_mean(x, Some(axes), true)?;
    let var = reduce_mean(
        &squared_difference(x, &stop_gradient(&mean))?,
        Some(axes),
        true,
    )?;
    if keepdims {
        return Ok((mean, var));
    }
    let kept = crate::shape::normalize_axes("moments", axes, x.rank())?;
    let shape: Vec<usize> = (0..x.rank())
        .filter(|i| !kept.contains(i))
        .map(|i| x.shape()[i])
        .collect();
    Ok((reshape_to(&mean, &shape)?, reshape_to(&var, &shape)?))
}
