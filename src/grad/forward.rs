//! Forward mode (`ForwardAccumulator`): tangents pushed through each op as
//! it runs. There are no separate JVP rules: an op's VJP `u ↦ Jᵀu` is linear
//! in `u`, so `J·t` is the gradient of `⟨Jᵀu, t⟩` with respect to `u`, taken
//! on a private tape. Every VJP is differentiable, so every op gets a JVP.

use super::backward::{Unconnected, gradient};
use crate::error::{Error, Result};
use crate::ops;
use crate::tape::{Accumulator, Node, Tape};
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
    Ok(out
        .into_iter()
        .zip(&node.outputs)
        .map(|(t, m)| if m.dtype.is_float() { t } else { None })
        .collect())
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
}
