//! One entry for a tape's differentiation calls (`gradient`, `jacobian`,
//! `batch_jacobian`): a [`Request`] is checked and seeded before the record
//! is taken from the tape, so a bad argument leaves the tape as it was.

use std::sync::Arc;

use super::backward::{OnFinal, Unconnected, gradient_reporting};
use super::jacobian::{batch_jacobian, jacobian, output_gradient, work};
use crate::error::{Error, Result};
use crate::tape::Node;
use crate::tensor::{Tensor, TensorMeta};

/// Which derivative a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// d(Σ targets, each weighted by its seed) / d source, for every source.
    Gradient,
    /// d target / d source for every source, shaped `target.shape ++
    /// source.shape`, with the chunk of identity rows pushed at once.
    Jacobian(Option<usize>),
    /// Per example: `target` `[b, y...]`, `source` `[b, x...]`, the result
    /// `[b, y..., x...]`.
    BatchJacobian,
}

impl Kind {
    /// `"gradient"`, `"jacobian"` (with its `chunk`) or `"batch_jacobian"`.
    pub fn from_name(name: &str, chunk: Option<usize>) -> Result<Kind> {
        match name {
            "gradient" => Ok(Kind::Gradient),
            "jacobian" => Ok(Kind::Jacobian(chunk)),
            "batch_jacobian" => Ok(Kind::BatchJacobian),
            _ => Err(Error::invalid(
                "GradientTape",
                format!("unknown derivative {name:?} (gradient, jacobian or batch_jacobian)"),
            )),
        }
    }
}

/// A checked differentiation call: what to differentiate, with respect to
/// what, and how unconnected sources come out.
pub struct Request {
    kind: Kind,
    targets: Vec<TensorMeta>,
    /// (gradients only) one seed per target: the given one, or ones
    seeds: Vec<Tensor>,
    sources: Vec<TensorMeta>,
    unconnected: Unconnected,
}

impl Request {
    /// `given[k]` seeds target `k` of a gradient (`None`, or missing: ones;
    /// it must have the target's shape). A jacobian takes one target, a
    /// batch jacobian one target and one source.
    pub fn new(
        kind: Kind,
        targets: Vec<TensorMeta>,
        given: Vec<Option<Tensor>>,
        sources: Vec<TensorMeta>,
        unconnected: Unconnected,
    ) -> Result<Request> {
        let arity_ok = match kind {
            Kind::Gradient => true,
            Kind::Jacobian(_) => targets.len() == 1,
            Kind::BatchJacobian => targets.len() == 1 && sources.len() == 1,
        };
        if !arity_ok {
            let msg = format!(
                "{kind:?} takes one target (and a batch jacobian one source), got {} and {}",
                targets.len(),
                sources.len()
            );
            return Err(Error::invalid("GradientTape", msg));
        }
        let mut seeds = Vec::new();
        if kind == Kind::Gradient {
            let mut given = given.into_iter();
            for (k, target) in targets.iter().enumerate() {
                seeds.push(output_gradient(k, target, given.next().flatten())?);
            }
        }
        Ok(Request {
            kind,
            targets,
            seeds,
            sources,
            unconnected,
        })
    }

    /// Elements the backward pass over `nodes` touches (what decides whether
    /// the GIL is released): one row of cotangents for a gradient, one per
    /// target element (per example, for a batch jacobian) otherwise.
    pub fn work(&self, nodes: &[Arc<Node>]) -> usize {
        let target_shape = self.targets.first().map_or(&[][..], |t| &t.shape);
        let rows = match self.kind {
            Kind::Gradient => 1,
            Kind::Jacobian(_) => target_shape.iter().product(),
            Kind::BatchJacobian => target_shape.iter().skip(1).product(),
        };
        work(nodes, rows)
    }

    /// Run the backward pass over `nodes` (the tape's record): one result
    /// per source (`on_final` is told a gradient's as soon as it is final).
    pub fn run(
        self,
        nodes: Vec<Arc<Node>>,
        on_final: Option<OnFinal<'_>>,
    ) -> Result<Vec<Option<Tensor>>> {
        let (sources, unconnected) = (&self.sources, self.unconnected);
        match (self.kind, self.targets.first(), sources.first()) {
            (Kind::Gradient, _, _) => {
                let pairs: Vec<_> = self.targets.into_iter().zip(self.seeds).collect();
                gradient_reporting(nodes, &pairs, sources, unconnected, &[], on_final)
            }
            (Kind::Jacobian(chunk), Some(t), _) => jacobian(nodes, t, sources, unconnected, chunk),
            (Kind::BatchJacobian, Some(t), Some(s)) => {
                Ok(vec![batch_jacobian(nodes, t, s, unconnected)?])
            }
            // (`new` checked the arity)
            _ => Err(Error::invalid("GradientTape", "no target or source")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;
    use crate::tape::Tape;

    fn recorded(f: impl FnOnce(&Tensor) -> Tensor) -> (Tape, Tensor, Tensor) {
        let tape = Tape::new(false, true);
        let x = Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap();
        tape.push().unwrap();
        tape.watch(x.id());
        let y = f(&x);
        tape.pop();
        (tape, x, y)
    }

    #[test]
    fn one_entry_for_every_kind() {
        let square = |x: &Tensor| ops::multiply(x, x).unwrap();
        // (work: the two elements of the one recorded output, times the rows)
        for (kind, expected, work) in [
            (Kind::Gradient, vec![2.0, 4.0], 2),
            (Kind::Jacobian(None), vec![2.0, 0.0, 0.0, 4.0], 4),
        ] {
            let (tape, x, y) = recorded(square);
            let request = Request::new(
                kind,
                vec![y.meta()],
                vec![],
                vec![x.meta()],
                Unconnected::None,
            )
            .unwrap();
            let nodes = tape.take_nodes();
            assert_eq!(request.work(&nodes), work);
            let out = request.run(nodes, None).unwrap();
            let g = out[0].as_ref().unwrap();
            assert_eq!(
                g.array::<f64>()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect::<Vec<_>>(),
                expected
            );
        }
    }

    #[test]
    fn a_batch_jacobian_is_per_example() {
        let x = Tensor::from_vec(&[2, 1], vec![3.0f64, 4.0]).unwrap();
        let tape = Tape::new(false, true);
        tape.push().unwrap();
        tape.watch(x.id());
        let y = ops::multiply(&x, &x).unwrap();
        tape.pop();
        let request = Request::new(
            Kind::from_name("batch_jacobian", None).unwrap(),
            vec![y.meta()],
            vec![],
            vec![x.meta()],
            Unconnected::None,
        )
        .unwrap();
        let out = request.run(tape.take_nodes(), None).unwrap();
        let g = out[0].as_ref().unwrap();
        assert_eq!(g.shape(), &[2, 1, 1]);
        assert_eq!(
            g.array::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [6.0, 8.0]
        );
    }

    #[test]
    fn bad_requests_are_refused_before_the_record_is_taken() {
        let (_, x, y) = recorded(|x| ops::multiply(x, x).unwrap());
        let wrong_seed = Some(Tensor::from_vec(&[3], vec![1.0f64; 3]).unwrap());
        let m = |t: &Tensor| t.meta();
        assert!(
            Request::new(
                Kind::Gradient,
                vec![m(&y)],
                vec![wrong_seed],
                vec![m(&x)],
                Unconnected::None
            )
            .is_err()
        );
        let two = vec![m(&y), m(&y)];
        assert!(
            Request::new(
                Kind::Jacobian(None),
                two,
                vec![],
                vec![m(&x)],
                Unconnected::None
            )
            .is_err()
        );
        assert!(
            Request::new(
                Kind::BatchJacobian,
                vec![m(&y)],
                vec![],
                vec![],
                Unconnected::None
            )
            .is_err()
        );
        assert!(Kind::from_name("hessian", None).is_err());
        // seeds: the given one, ones for a missing one
        let seed = Some(Tensor::from_vec(&[2], vec![3.0f64, 5.0]).unwrap());
        let r = Request::new(
            Kind::Gradient,
            vec![m(&y), m(&y)],
            vec![seed],
            vec![m(&x)],
            Unconnected::None,
        )
        .unwrap();
        assert_eq!(r.seeds.len(), 2);
        assert_eq!(r.seeds[1].array::<f64>().unwrap().iter().sum::<f64>(), 2.0);
    }
}
