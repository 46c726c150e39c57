//! Forward mode (`ForwardAccumulator`): tangents pushed through each op as
//! it runs. There are no separate JVP rules: an op's VJP `u ↦ Jᵀu` is linear
//! in `u`, so `J·t` is the gradient of `⟨Jᵀu, t⟩` with respect to `u`, taken
//! on a private tape. Every VJP is differentiable, so every op gets a JVP.

use super::backward::{Unconnected, gradient};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops;
use crate::tape::{self, Accumulator, Node, Tape};
use crate::tensor::Tensor;

/// A forward accumulator that pushes tangents with `jvp`.
pub fn accumulator() -> Accumulator {
    Accumulator::new(jvp)
}

/// The tangent of each output of `node`, given the tangent of each input.
pub fn jvp(node: &Node, tangents: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
    let us = node
        .outputs
        .iter()
        .map(|m| ops::zeros(m.dtype, &m.shape))
        .collect::<Result<Vec<_>>>()?;
    let tape = Tape::new(false, false);
    tape.push()?;
    let pairing = (|| {
        for u in &us {
            tape.watch(u.id());
        }
        let need: Vec<bool> = tangents.iter().map(Option::is_some).collect();
        let vs = node.rule.vjp(&us, &need)?;
        let mut total: Option<Tensor> = None;
        for ((v, t), m) in vs.into_iter().zip(tangents).zip(&node.inputs) {
            let (Some(v), Some(t)) = (v, t) else { continue };
            let v = ops::sum_to_shape(&v, &m.shape)?;
            let term = ops::reduce_sum(&v.mul(t)?, None, false)?;
            total = Some(match total {
                Some(s) => s.add(&term)?,
                None => term,
            });
        }
        Ok::<_, Error>(total)
    })();
    tape.pop();
    let Some(total) = pairing? else {
        return Ok(vec![None; us.len()]);
    };
    let seed = ops::ones_like(&total)?;
    let metas: Vec<_> = us.iter().map(Tensor::meta).collect();
    let out = gradient(
        tape.take_nodes(),
        &[(total.meta(), seed)],
        &metas,
        Unconnected::Zero,
        &[],
    )?;
    let out: Vec<Option<Tensor>> = out
        .into_iter()
        .zip(&node.outputs)
        .map(|(t, m)| if m.dtype.is_differentiable() { t } else { None })
        .collect();
    if node.rule.is_foreign() {
        tape::without_recording(|| check_linear(node, tangents, &out))?;
    }
    Ok(out)
}

/// The derivation above assumes the VJP is linear in its upstream gradient.
/// A user's custom gradient need not be (`sign(dy)`), and may compute
/// outside tapegrad's ops (through numpy), which the private tape cannot
/// see: either way the JVP would be silently wrong (often all zero). So for
/// a foreign rule check the defining pairing ⟨Jᵀu, t⟩ = ⟨u, J·t⟩ at one
/// small probe u (small, so a rule that is only locally linear, like a
/// clip, passes) and refuse a mismatch.
fn check_linear(node: &Node, tangents: &[Option<Tensor>], jvps: &[Option<Tensor>]) -> Result<()> {
    /// Probe entries are PROBE_SCALE · (0.5 … 1.5): positive, so a rule that
    /// ignores the magnitude of dy is caught whatever the tangent's signs.
    const PROBE_SCALE: f64 = 1.0 / 1024.0;
    /// Relative to the sum of the pairings' absolute terms (rounding).
    const TOLERANCE: f64 = 1e-2;
    let probes = node
        .outputs
        .iter()
        .enumerate()
        .map(|(o, m)| {
            let n: usize = m.shape.iter().product();
            let vals = (0..n)
                .map(|i| {
                    // a Weyl sequence: spread over [0, 1) without any RNG state
                    let h = ((i as u64) ^ ((o as u64) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    PROBE_SCALE * (0.5 + (h >> 11) as f64 / (1u64 << 53) as f64)
                })
                .collect();
            ops::cast(&Tensor::from_vec(&m.shape, vals)?, m.dtype)
        })
        .collect::<Result<Vec<_>>>()?;
    let need: Vec<bool> = tangents.iter().map(Option::is_some).collect();
    let vs = node.rule.vjp(&probes, &need)?;
    // (sum, sum of absolute values) of an elementwise product, in f64
    let pairing = |a: &Tensor, b: &Tensor| -> Result<(f64, f64)> {
        let prod = ops::cast(&a.mul(b)?, DType::F64)?;
        let sum = ops::reduce_sum(&prod, None, false)?.item_f64();
        let abs = ops::reduce_sum(&ops::abs(&prod)?, None, false)?.item_f64();
        // (a scalar always has an item; NaN would only skip the check)
        Ok((sum.unwrap_or(f64::NAN), abs.unwrap_or(f64::NAN)))
    };
    let (mut transposed, mut forward, mut scale) = (0.0, 0.0, 0.0);
    for ((v, t), m) in vs.iter().zip(tangents).zip(&node.inputs) {
        let (Some(v), Some(t)) = (v, t) else { continue };
        let (sum, abs) = pairing(&ops::sum_to_shape(v, &m.shape)?, t)?;
        transposed += sum;
        scale += abs;
    }
    for (u, jvp) in probes.iter().zip(jvps) {
        let Some(jvp) = jvp else { continue };
        let (sum, abs) = pairing(u, jvp)?;
        forward += sum;
        scale += abs;
    }
    // (a non-finite pairing cannot be judged: the rule may be fine there)
    let judged = transposed.is_finite() && forward.is_finite();
    if !judged || (transposed - forward).abs() <= TOLERANCE * scale + f64::MIN_POSITIVE {
        return Ok(());
    }
    Err(Error::invalid(
        node.op,
        format!(
            "forward mode cannot differentiate through this custom gradient: its gradient \
             function is not linear in the upstream gradient dy, or computes it outside \
             tapegrad's ops (e.g. through numpy), so the JVP derived from it would be wrong \
             (at a probe dy, <grad_fn(dy), tangent> = {transposed:.6e} but <dy, jvp> = \
             {forward:.6e}). Write grad_fn as a linear function of dy in tapegrad ops."
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tangents_flow_through_a_chain_and_into_nested_tapes() {
        let x = Tensor::from_vec(&[2], vec![0.5f64, -1.0]).unwrap();
        let acc = accumulator();
        acc.push();
        acc.watch(x.id(), Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap());
        // y = sin(x)·x: ẏ = (cos x · x + sin x) · ẋ
        let y = ops::sin(&x).unwrap().mul(&x).unwrap();
        acc.pop();
        assert!(acc.take_error().is_none());
        let t = acc.tangent(y.id()).unwrap();
        let got: Vec<f64> = t.array::<f64>().unwrap().iter().copied().collect();
        for ((g, xi), dx) in got.iter().zip([0.5f64, -1.0]).zip([1.0, 2.0]) {
            assert!((g - (xi.cos() * xi + xi.sin()) * dx).abs() < 1e-12);
        }
    }

    #[test]
    fn watch_primal_checks_the_shape_and_jvp_reads_the_tangent() {
        let x = Tensor::from_vec(&[2], vec![0.5f64, -1.0]).unwrap();
        let acc = accumulator();
        let wrong = Tensor::from_vec(&[3], vec![1.0f64, 2.0, 3.0]).unwrap();
        assert!(matches!(
            acc.watch_primal(x.meta(), wrong),
            Err(Error::ShapeMismatch {
                op: "ForwardAccumulator",
                ..
            })
        ));
        let tangent = Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap();
        acc.watch_primal(x.meta(), tangent).unwrap();
        let got = acc.tangent_of(x.id()).unwrap().unwrap();
        assert_eq!(got.array::<f64>().unwrap().as_slice().unwrap(), &[1.0, 2.0]);
        assert!(acc.tangent_of(crate::tensor::fresh_id()).unwrap().is_none());
    }
}
