//! Shapes, broadcasting and axis normalisation.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::check_alloc;

pub type Shape = Vec<usize>;

/// A shape kept without a heap allocation up to [`Dims::INLINE`]
/// dimensions: every tape node remembers the shapes of its inputs and
/// outputs, and a `Vec` each was an allocation (and a free) per recorded op.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Dims {
    Inline(u8, [usize; Dims::INLINE]),
    Heap(Box<[usize]>),
}

impl Dims {
    pub const INLINE: usize = 4;
}

impl From<&[usize]> for Dims {
    fn from(shape: &[usize]) -> Dims {
        if shape.len() <= Dims::INLINE {
            let mut dims = [0; Dims::INLINE];
            dims[..shape.len()].copy_from_slice(shape);
            Dims::Inline(shape.len() as u8, dims)
        } else {
            Dims::Heap(shape.into())
        }
    }
}

impl std::ops::Deref for Dims {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        match self {
            Dims::Inline(len, dims) => &dims[..*len as usize],
            Dims::Heap(dims) => dims,
        }
    }
}

impl std::fmt::Debug for Dims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// The most dimensions a tensor may have. numpy allows 64 and TF 254, but
/// the bindings hand arrays to and from numpy through rust-numpy, which
/// supports 32: a tensor it could not convert is refused when it is made.
pub const MAX_RANK: usize = 32;

/// Refuse a rank above `MAX_RANK`.
pub fn check_rank(op: &'static str, rank: usize) -> Result<()> {
    if rank > MAX_RANK {
        return Err(Error::invalid(
            op,
            format!("tensors of more than {MAX_RANK} dimensions are not supported, got {rank}"),
        ));
    }
    Ok(())
}

/// The broadcast shape of an op's operands, checked as the shape of the
/// `dtype` output the op is about to allocate (`check_alloc`): every
/// broadcasting op goes through here, so none can abort on a huge output.
pub fn broadcast_output(op: &'static str, dtype: DType, a: &[usize], b: &[usize]) -> Result<Dims> {
    let out = broadcast_dims(op, a, b)?;
    check_alloc(op, dtype, &out)?;
    Ok(out)
}

/// numpy/TF broadcasting: align trailing dimensions; a 1 stretches.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    Ok(broadcast_dims(op, a, b)?.to_vec())
}

/// `broadcast_shapes` without a heap allocation up to rank 4 (what every
/// binary op asks, once per call).
pub fn broadcast_dims(op: &'static str, a: &[usize], b: &[usize]) -> Result<Dims> {
    if a == b {
        return Ok(Dims::from(a));
    }
    let n = a.len().max(b.len());
    let stretched = |i: usize| -> Result<usize> {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        match (da, db) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(Error::ShapeMismatch {
                op,
                lhs: a.to_vec(),
                rhs: b.to_vec(),
            }),
        }
    };
    if n <= Dims::INLINE {
        let mut dims = [0; Dims::INLINE];
        for (i, d) in dims.iter_mut().enumerate().take(n) {
            *d = stretched(i)?;
        }
        Ok(Dims::Inline(n as u8, dims))
    } else {
        Ok(Dims::Heap((0..n).map(stretched).collect::<Result<_>>()?))
    }
}

/// The axes of `out` that were created or stretched when broadcasting `input`
/// up to `out`: summing a gradient over them (keeping the stretched ones as
/// size 1) undoes the broadcast.
pub fn broadcast_reduction_axes(input: &[usize], out: &[usize]) -> Vec<usize> {
    let lead = out.len() - input.len();
    (0..out.len())
        .filter(|&i| i < lead || (input[i - lead] == 1 && out[i] != 1))
        .collect()
}

/// Resolve a possibly negative axis against `rank`.
pub fn normalize_axis(op: &'static str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(Error::invalid(
            op,
            format!("Invalid reduction dimension {axis} for input with {rank} dimensions"),
        ));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// Normalise, sort and de-duplicate a list of axes.
pub fn normalize_axes(op: &'static str, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = axes
        .iter()
        .map(|&a| normalize_axis(op, a, rank))
        .collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Element count, or `None` when the product overflows `usize`.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes("t", &[3, 1], &[1, 4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes("t", &[], &[2, 2]).unwrap(), vec![2, 2]);
        assert_eq!(
            broadcast_shapes("t", &[5, 1, 3], &[4, 1]).unwrap(),
            vec![5, 4, 3]
        );
        assert_eq!(broadcast_shapes("t", &[0], &[1]).unwrap(), vec![0]);
        assert!(broadcast_shapes("t", &[2], &[3]).is_err());
    }

    #[test]
    fn reduction_axes_undo_broadcast() {
        assert_eq!(broadcast_reduction_axes(&[3, 1], &[2, 3, 4]), vec![0, 2]);
        assert_eq!(broadcast_reduction_axes(&[], &[2, 2]), vec![0, 1]);
        assert_eq!(
            broadcast_reduction_axes(&[2, 2], &[2, 2]),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn axes_normalise() {
        assert_eq!(normalize_axis("t", -1, 3).unwrap(), 2);
        assert!(normalize_axis("t", 3, 3).is_err());
        assert!(normalize_axis("t", -4, 3).is_err());
        assert_eq!(normalize_axes("t", &[-1, 0, 2], 3).unwrap(), vec![0, 2]);
    }
}
