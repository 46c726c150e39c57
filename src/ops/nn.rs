//! Neural-network ops, composed from the primitives (so their gradients,
//! of any order, come from the primitives' VJPs): softmax and its losses,
//! activations with parameters, dropout, bias_add, moments.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{
    cast, exp, float_only, gather, greater, greater_equal, log, log1p, random, reduce_max,
    reduce_mean, reduce_sum, reshape_to, square, squared_difference, stop_gradient, tanh, where_,
    zeros,
};
use crate::tensor::{Data, Tensor};

/// `x − max(x)` along `axis`; the shift is a constant to the tape (it
/// cancels out of softmax), which keeps exp from overflowing.
fn shifted(op: &'static str, x: &Tensor, axis: i64) -> Result<Tensor> {
    float_only(op, x.dtype())?;
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
    float_only(op, logits.dtype())?;
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
    float_only("L2Loss", t.dtype())?;
    reduce_sum(&square(t)?, None, false)?.scale(0.5)
}

/// x if x > 0 else αx (the gradient at 0 is α, as in TF).
pub fn leaky_relu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    float_only("LeakyRelu", x.dtype())?;
    where_(&greater(x, &zeros(x.dtype(), &[])?)?, x, &x.scale(alpha)?)
}

/// GELU's tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
pub fn gelu_approximate(x: &Tensor) -> Result<Tensor> {
    float_only("Gelu", x.dtype())?;
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
    float_only(op, x.dtype())?;
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
    float_only("moments", x.dtype())?;
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

/// `'SAME'` or `'VALID'` padding of a convolution or pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

impl Padding {
    /// 'SAME' or 'VALID', in any case.
    pub fn from_name(op: &'static str, name: &str) -> Result<Padding> {
        match name.to_ascii_uppercase().as_str() {
            "SAME" => Ok(Padding::Same),
            "VALID" => Ok(Padding::Valid),
            _ => Err(Error::invalid(
                op,
                format!("padding must be 'SAME' or 'VALID', got {name:?}"),
            )),
        }
    }

    /// `from_name`, for an op whose `data_format` (None: the default) must
    /// be NHWC, the one layout the kernels take.
    pub fn for_nhwc(op: &'static str, name: &str, data_format: Option<&str>) -> Result<Padding> {
        if let Some(format) = data_format.filter(|&f| f != "NHWC") {
            return Err(Error::unimplemented(
                op,
                format!("data_format {format:?} is not supported (only NHWC)"),
            ));
        }
        Padding::from_name(op, name)
    }
}

/// A 2-D window argument (`what`: ksize, strides, dilations) as (h, w): an
/// int, `[h, w]`, or the NHWC form `[1, h, w, 1]`, each positive.
pub fn window_2d(op: &'static str, what: &str, v: &[i64]) -> Result<[usize; 2]> {
    let pair = match *v {
        [k] => [k, k],
        [h, w] => [h, w],
        [1, h, w, 1] => [h, w],
        _ => [-1, -1],
    };
    if pair.iter().any(|&k| k < 1) {
        return Err(Error::invalid(
            op,
            format!("{what} must be a positive int, [h, w] or [1, h, w, 1], got {v:?}"),
        ));
    }
    Ok([pair[0] as usize, pair[1] as usize])
}

/// The geometry of a 2-D window over an NHWC tensor, per spatial axis:
/// (output size, padding before, padding after).
fn window_axis(
    op: &'static str,
    size: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<(usize, usize, usize)> {
    if k == 0 || stride == 0 || dilation == 0 {
        return Err(Error::invalid(
            op,
            format!("window size {k}, stride {stride} and dilation {dilation} must be positive"),
        ));
    }
    let span = (k - 1) * dilation + 1;
    match padding {
        Padding::Valid => {
            if size < span {
                return Err(Error::invalid(
                    op,
                    format!(
                        "the window (span {span}) is larger than the input ({size}) with VALID padding"
                    ),
                ));
            }
            Ok(((size - span) / stride + 1, 0, 0))
        }
        Padding::Same => {
            let out = size.div_ceil(stride);
            let total = ((out.max(1) - 1) * stride + span).saturating_sub(size);
            Ok((out, total / 2, total - total / 2))
        }
    }
}

/// The windows of an NHWC tensor as `[n, oh, ow, kh·kw, c]`: pad with
/// `fill`, flatten the spatial axes, and gather each window's positions.
/// Built from pad, reshape and gather, so every order of gradient follows.
#[allow(clippy::too_many_arguments)]
fn windows(
    op: &'static str,
    x: &Tensor,
    k: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
    fill: f64,
) -> Result<(Tensor, [usize; 2])> {
    if x.rank() != 4 {
        return Err(Error::invalid(
            op,
            format!(
                "input must be 4-dimensional (NHWC), got shape {:?}",
                x.shape()
            ),
        ));
    }
    let (n, h, w, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (oh, top, bottom) = window_axis(op, h, k[0], stride[0], dilation[0], padding)?;
    let (ow, left, right) = window_axis(op, w, k[1], stride[1], dilation[1], padding)?;
    let padded = if top + bottom + left + right > 0 {
        crate::ops::pad(x, &[(0, 0), (top, bottom), (left, right), (0, 0)], fill)?
    } else {
        x.clone()
    };
    let (hp, wp) = (h + top + bottom, w + left + right);
    let mut idx = Vec::with_capacity(oh * ow * k[0] * k[1]);
    for i in 0..oh {
        for j in 0..ow {
            for a in 0..k[0] {
                for b in 0..k[1] {
                    let r = i * stride[0] + a * dilation[0];
                    let s = j * stride[1] + b * dilation[1];
                    idx.push((r * wp + s) as i64);
                }
            }
        }
    }
    let flat = reshape_to(&padded, &[n, hp * wp, c])?;
    let idx = Tensor::from_vec(&[idx.len()], idx)?;
    let picked = gather(&flat, &idx, 1, 0)?;
    Ok((reshape_to(&picked, &[n, oh, ow, k[0] * k[1], c])?, [oh, ow]))
}

/// 2-D convolution (cross-correlation, as TF) of an NHWC input with
/// `[kh, kw, in, out]` filters: the windows as rows, times the filters as
/// a matrix.
pub fn conv2d(
    x: &Tensor,
    filters: &Tensor,
    strides: [usize; 2],
    padding: Padding,
    dilations: [usize; 2],
) -> Result<Tensor> {
    let op = "Conv2D";
    crate::ops::same_dtype(op, x, filters)?;
    float_only(op, x.dtype())?;
    if filters.rank() != 4 || x.rank() != 4 || filters.shape()[2] != x.shape()[3] {
        return Err(Error::invalid(
            op,
            format!(
                "input (NHWC) {:?} and filter [height, width, in, out] {:?} do not match",
                x.shape(),
                filters.shape()
            ),
        ));
    }
    let f = filters.shape();
    let (kh, kw, cin, cout) = (f[0], f[1], f[2], f[3]);
    let (patches, [oh, ow]) = windows(op, x, [kh, kw], strides, dilations, padding, 0.0)?;
    let n = x.shape()[0];
    let rows = reshape_to(&patches, &[n * oh * ow, kh * kw * cin])?;
    let w = reshape_to(filters, &[kh * kw * cin, cout])?;
    reshape_to(
        &crate::ops::matmul(&rows, &w, false, false)?,
        &[n, oh, ow, cout],
    )
}

/// Max pooling over NHWC windows (padding never wins: it is −∞). The
/// gradient of each window goes to its first maximum, as TF's kernel sends
/// it: the window's elements are masked by a one-hot of their argmax.
pub fn max_pool2d(
    x: &Tensor,
    ksize: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
) -> Result<Tensor> {
    let op = "MaxPool";
    float_only(op, x.dtype())?;
    let (p, _) = windows(op, x, ksize, strides, [1, 1], padding, f64::NEG_INFINITY)?;
    let k = ksize[0] * ksize[1];
    let first = crate::ops::one_hot(
        &crate::ops::argmax(&p, 3, DType::I64)?,
        k,
        1.0,
        0.0,
        3,
        DType::Bool,
    )?;
    reduce_sum(
        &where_(&first, &p, &zeros(x.dtype(), &[])?)?,
        Some(&[3]),
        false,
    )
}

/// Average pooling over NHWC windows; with 'SAME' padding each average is
/// over the window's elements inside the input only, as in TF.
pub fn avg_pool2d(
    x: &Tensor,
    ksize: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
) -> Result<Tensor> {
    let op = "AvgPool";
    float_only(op, x.dtype())?;
    let (p, _) = windows(op, x, ksize, strides, [1, 1], padding, 0.0)?;
    let sums = reduce_sum(&p, Some(&[3]), false)?;
    let ones = crate::ops::ones(x.dtype(), &[1, x.shape()[1], x.shape()[2], 1])?;
    let (c, _) = windows(op, &ones, ksize, strides, [1, 1], padding, 0.0)?;
    sums.div(&reduce_sum(&c, Some(&[3]), false)?)
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (sparse_softmax_cross_entropy_with_logits) => { $crate::ops::with_example!(
        r#"Per-example −log softmax(logits)[label] for integer class `labels`; out-of-range labels raise InvalidArgumentError."#,
        r#">>> logits = tf.constant([[0.0, 0.0], [0.0, 0.0]])
>>> print(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([0, 1]), logits=logits))
tapegrad.Tensor([0.6931472 0.6931472], shape=(2,), dtype=float32)"#
    ) };
    (softmax_cross_entropy_with_logits) => { $crate::ops::with_example!(
        r#"Per-example −Σ labels · log softmax(logits) along `axis` (default last), for probability `labels`."#,
        r#">>> print(tf.nn.softmax_cross_entropy_with_logits(labels=tf.constant([[1.0, 0.0]]), logits=tf.constant([[0.0, 0.0]])))
tapegrad.Tensor([0.6931472], shape=(1,), dtype=float32)"#
    ) };
    (sigmoid_cross_entropy_with_logits) => { $crate::ops::with_example!(
        r#"Elementwise binary cross-entropy from logits, computed stably as max(x, 0) − x·z + log(1 + e^(−|x|))."#,
        r#">>> print(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant([1.0, 0.0]), logits=tf.constant([0.0, 0.0])))
tapegrad.Tensor([0.6931472 0.6931472], shape=(2,), dtype=float32)"#
    ) };
    (leaky_relu) => { $crate::ops::with_example!(
        r#"x if x > 0 else `alpha`·x (alpha 0.2 by default, as in TF)."#,
        r#">>> print(tf.nn.leaky_relu(tf.constant([-1.0, 2.0]), alpha=0.5))
tapegrad.Tensor([-0.5  2. ], shape=(2,), dtype=float32)"#
    ) };
    (gelu) => { $crate::ops::with_example!(
        r#"GELU: exact x·Φ(x), or the tanh approximation with `approximate=True`."#,
        r#">>> print(tf.nn.gelu(tf.constant([0.0, 1.0]), approximate=True))
tapegrad.Tensor([0.       0.841192], shape=(2,), dtype=float32)"#
    ) };
    (dropout) => { $crate::ops::with_example!(
        r#"Zeroes each element with probability `rate` and scales the survivors by 1/(1 − rate), so the expectation is unchanged; repeatable after `tf.random.set_seed`."#,
        r#">>> tf.random.set_seed(0)
>>> y = tf.nn.dropout(tf.ones([1000]), rate=0.5)
>>> print(sorted(set(y.numpy().tolist())))
[0.0, 2.0]"#
    ) };
    (bias_add) => { $crate::ops::with_example!(
        r#"Adds a 1-D `bias` along the last (channel) axis."#,
        r#">>> print(tf.nn.bias_add(tf.zeros([2, 3]), tf.constant([1.0, 2.0, 3.0])))
tapegrad.Tensor(
[[1. 2. 3.]
 [1. 2. 3.]], shape=(2, 3), dtype=float32)"#
    ) };
    (moments) => { $crate::ops::with_example!(
        r#"(mean, variance) over `axes`; the variance is the population one (divides by n)."#,
        r#">>> mean, variance = tf.nn.moments(tf.constant([1.0, 2.0, 3.0, 4.0]), axes=[0])
>>> print(mean, variance)
tapegrad.Tensor(2.5, shape=(), dtype=float32) tapegrad.Tensor(1.25, shape=(), dtype=float32)"#
    ) };
    (conv2d) => { $crate::ops::with_example!(
        r#"2-D cross-correlation of an NHWC `input` with an HWIO `filters` kernel, with `strides`, 'VALID'/'SAME' `padding` and `dilations`."#,
        r#">>> x = tf.reshape(tf.range(9.0), [1, 3, 3, 1])
>>> k = tf.ones([2, 2, 1, 1])
>>> print(tf.reshape(tf.nn.conv2d(x, k, strides=1, padding="VALID"), [2, 2]))
tapegrad.Tensor(
[[ 8. 12.]
 [20. 24.]], shape=(2, 2), dtype=float32)"#
    ) };
    (l2_loss) => { $crate::ops::with_example!(
        r#"Σ x² / 2 over all elements (no square root)."#,
        r#">>> print(tf.nn.l2_loss(tf.constant([1.0, 2.0, 3.0])))
tapegrad.Tensor(7.0, shape=(), dtype=float32)"#
    ) };
    (softmax) => { $crate::ops::with_example!(
        r#"e^x / Σ e^x along `axis` (default last), computed from x − max(x) so it never overflows."#,
        r#">>> print(tf.nn.softmax(tf.constant([0.0, 0.0, 0.0, 0.0])))
tapegrad.Tensor([0.25 0.25 0.25 0.25], shape=(4,), dtype=float32)"#
    ) };
    (log_softmax) => { $crate::ops::with_example!(
        r#"x − logsumexp(x) along `axis` (default last), stable for large logits."#,
        r#">>> print(tf.nn.log_softmax(tf.constant([0.0, 0.0]), axis=-1))
tapegrad.Tensor([-0.6931472 -0.6931472], shape=(2,), dtype=float32)"#
    ) };
    (max_pool2d) => { $crate::ops::with_example!(
        r#"Max over each `ksize` window of an NHWC tensor, moving by `strides`, with 'VALID' or 'SAME' padding; the gradient goes to the window's first maximum."#,
        r#">>> x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
>>> print(tf.reshape(tf.nn.max_pool(x, ksize=2, strides=2, padding="VALID"), [2, 2]))
tapegrad.Tensor(
[[ 5.  7.]
 [13. 15.]], shape=(2, 2), dtype=float32)"#
    ) };
    (avg_pool2d) => { $crate::ops::with_example!(
        r#"Mean over each `ksize` window of an NHWC tensor, moving by `strides`; with 'SAME' padding the mean counts only the in-bounds elements, as in TF."#,
        r#">>> x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
>>> print(tf.reshape(tf.nn.avg_pool(x, ksize=2, strides=2, padding="VALID"), [2, 2]))
tapegrad.Tensor(
[[ 2.5  4.5]
 [10.5 12.5]], shape=(2, 2), dtype=float32)"#
    ) };
    ($name:ident) => { $crate::ops::random::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_takes_only_the_nhwc_layout() {
        assert_eq!(
            Padding::for_nhwc("MaxPool", "same", None).unwrap(),
            Padding::Same
        );
        assert_eq!(
            Padding::for_nhwc("MaxPool", "VALID", Some("NHWC")).unwrap(),
            Padding::Valid
        );
        let err = Padding::for_nhwc("MaxPool", "SAME", Some("NCHW")).unwrap_err();
        assert!(
            err.to_string()
                .contains("data_format \"NCHW\" is not supported")
        );
        assert!(Padding::for_nhwc("MaxPool", "FULL", None).is_err());
    }

    #[test]
    fn window_arguments_take_tf_three_spellings() {
        assert_eq!(window_2d("MaxPool", "ksize", &[2]).unwrap(), [2, 2]);
        assert_eq!(window_2d("MaxPool", "ksize", &[2, 3]).unwrap(), [2, 3]);
        assert_eq!(
            window_2d("MaxPool", "ksize", &[1, 2, 3, 1]).unwrap(),
            [2, 3]
        );
        let bad: [&[i64]; 5] = [&[0], &[2, -1], &[2, 2, 2], &[2, 2, 2, 2], &[]];
        for bad in bad {
            assert!(window_2d("MaxPool", "ksize", bad).is_err(), "{bad:?}");
        }
        assert_eq!(Padding::from_name("Conv2D", "same").unwrap(), Padding::Same);
        assert_eq!(
            Padding::from_name("Conv2D", "VALID").unwrap(),
            Padding::Valid
        );
        assert!(Padding::from_name("Conv2D", "full").is_err());
    }
}
