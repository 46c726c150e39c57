//! Matrix products.

use ndarray::{ArrayD, ArrayView2, IxDyn, s};

use crate::error::{Error, Result};
use num_complex::Complex;

use crate::kernels::matmul::{Product, as_2d, matmul_2d, matmul_2d_naive, matmul_batched};
use crate::ops::complex::{conj, matmul_2d as complex_2d};
use crate::ops::{
    expand_dims, gather, gather_grad, reduce_sum, reshape_to, same_dtype, squeeze, transpose,
    where_, with_lead,
};
use crate::shape::{broadcast_shapes, normalize_axis};
use crate::tape;
use crate::tensor::{Data, Tensor, check_alloc};

/// `op(a) @ op(b)`, `op` transposing the last two axes when its flag is
/// set. Rank-2 operands are matrices; higher ranks are stacks of matrices
/// whose leading (batch) dimensions broadcast, as in `tf.linalg.matmul`.
pub fn matmul(a: &Tensor, b: &Tensor, transpose_a: bool, transpose_b: bool) -> Result<Tensor> {
    let op = "MatMul";
    let out_shape = matmul_shape(op, a, b, transpose_a, transpose_b)?;
    check_alloc(op, a.dtype(), &out_shape)?;
    let (ra, rb) = (a.rank(), b.rank());
    let batch = &out_shape[..out_shape.len() - 2];
    let (ta, tb) = (transpose_a, transpose_b);
    // (gemm's products block themselves for interrupts, see `matmul_2d`;
    // the others go through `interruptible_2d`)
    macro_rules! product {
        ($x:expr, $y:expr, $mm:expr, $two_d:expr) => {
            if ra == 2 && rb == 2 {
                $two_d(as_2d($x), as_2d($y))?.into_shared()
            } else {
                matmul_batched($x, $y, ta, tb, batch, $mm)?.into_shared()
            }
        };
        ($x:expr, $y:expr, $mm:expr) => {
            product!($x, $y, $mm, |x, y| interruptible_2d(x, y, ta, tb, $mm))
        };
    }
    let out = Tensor::from_data(match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => Data::F32(product!(x, y, matmul_2d::<f32>, |x, y| {
            matmul_2d::<f32>(x, y, ta, tb)
        })),
        (Data::F64(x), Data::F64(y)) => Data::F64(product!(x, y, matmul_2d::<f64>, |x, y| {
            matmul_2d::<f64>(x, y, ta, tb)
        })),
        (Data::I32(x), Data::I32(y)) => Data::I32(product!(x, y, matmul_2d_naive::<i32>)),
        (Data::I64(x), Data::I64(y)) => Data::I64(product!(x, y, matmul_2d_naive::<i64>)),
        (Data::C64(x), Data::C64(y)) => Data::C64(product!(x, y, complex_2d::<Complex<f32>>)),
        (Data::C128(x), Data::C128(y)) => Data::C128(product!(x, y, complex_2d::<Complex<f64>>)),
        // half precision multiplies in float32 and rounds each result
        // once; the narrow integers wrap back from int64
        _ if a.dtype() == b.dtype() && a.dtype().is_storage_only() => {
            crate::ops::convert::computed([a, b], false, |[a, b]| matmul(a, b, ta, tb))?
        }
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: a.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
    });
    crate::trace::note_matmul(a, b, [ta, tb], &out);
    record_matmul(a, b, &out, ta, tb);
    Ok(out)
}

/// `matmul`'s tape node with `out` standing in for the product, which is
/// not computed: for a traced product whose value nothing reads, only its
/// gradient (a replayed loss that the function does not return). `out`
/// needs the product's dtype and shape; its values are never read: the VJP
/// reads the operands, so the gradients are `matmul`'s.
pub fn matmul_unevaluated(
    a: &Tensor,
    b: &Tensor,
    transpose_a: bool,
    transpose_b: bool,
    out: &Tensor,
) -> Result<()> {
    let op = "MatMul";
    let out_shape = matmul_shape(op, a, b, transpose_a, transpose_b)?;
    if out.dtype() != a.dtype() || out.shape() != out_shape.as_slice() {
        return Err(Error::invalid(
            op,
            format!(
                "the stand-in for a {}{out_shape:?} product is a {}{:?} tensor",
                a.dtype().name(),
                out.dtype().name(),
                out.shape()
            ),
        ));
    }
    record_matmul(a, b, out, transpose_a, transpose_b);
    Ok(())
}

/// The shape of `op(a) @ op(b)` (batch dimensions broadcast), or why the
/// operands do not multiply.
fn matmul_shape(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    transpose_a: bool,
    transpose_b: bool,
) -> Result<Vec<usize>> {
    same_dtype(op, a, b)?;
    let (ra, rb) = (a.rank(), b.rank());
    if ra < 2 || rb < 2 {
        return Err(Error::invalid(
            op,
            format!(
                "In[0] and In[1] must have rank >= 2, got shapes {:?} and {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let k_a = a.shape()[if transpose_a { ra - 2 } else { ra - 1 }];
    let k_b = b.shape()[if transpose_b { rb - 1 } else { rb - 2 }];
    if k_a != k_b {
        return Err(Error::invalid(
            op,
            format!(
                "Matrix size-incompatible: In[0]: {:?}, In[1]: {:?} (transpose_a={transpose_a}, transpose_b={transpose_b})",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let batch = broadcast_shapes(op, &a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
    let m = a.shape()[if transpose_a { ra - 1 } else { ra - 2 }];
    let n = b.shape()[if transpose_b { rb - 2 } else { rb - 1 }];
    Ok(with_lead(&batch, &[m, n]))
}

/// Record `out = op(a) @ op(b)` on the active tapes.
fn record_matmul(a: &Tensor, b: &Tensor, out: &Tensor, ta: bool, tb: bool) {
    // With C = op(A)·op(B) and upstream G (per matrix of a stack; the
    // traversal sums broadcast batch dimensions back down):
    //   C = A·B    : dA = G·Bᵀ    dB = Aᵀ·G
    //   C = A·Bᵀ   : dA = G·B     dB = Gᵀ·A
    //   C = Aᵀ·B   : dA = B·Gᵀ    dB = A·G
    //   C = Aᵀ·Bᵀ  : dA = Bᵀ·Gᵀ   dB = Gᵀ·Aᵀ
    tape::record_rule(
        "MatMul",
        &[a, b],
        out,
        [a, b],
        || (ta, tb),
        [
            // (complex: the operands conjugated, so dA = G·Bᴴ and dB = Aᴴ·G)
            Some(|g, [_, b], &(ta, tb)| match (ta, tb, &conj(b)?) {
                (false, false, b) => matmul(g, b, false, true),
                (false, true, b) => matmul(g, b, false, false),
                (true, false, b) => matmul(b, g, false, true),
                (true, true, b) => matmul(b, g, true, true),
            }),
            Some(|g, [a, _], &(ta, tb)| match (ta, tb, &conj(a)?) {
                (false, false, a) => matmul(a, g, true, false),
                (false, true, a) => matmul(g, a, true, false),
                (true, false, a) => matmul(a, g, false, false),
                (true, true, a) => matmul(g, a, true, true),
            }),
        ],
    );
}

/// `tf.linalg.matmul` with its `adjoint_a/b` flags: an adjoint operand is
/// conjugated, then transposed like a `transpose_*` one (for real dtypes
/// the two flags are the same).
pub fn matmul_adjoint(
    a: &Tensor,
    b: &Tensor,
    transpose: [bool; 2],
    adjoint: [bool; 2],
) -> Result<Tensor> {
    let a = if adjoint[0] { conj(a)? } else { a.clone() };
    let b = if adjoint[1] { conj(b)? } else { b.clone() };
    matmul(
        &a,
        &b,
        transpose[0] || adjoint[0],
        transpose[1] || adjoint[1],
    )
}

/// Multiply-adds per block of rows of a large 2-D product (tens of ms).
const INTERRUPT_BLOCK_FLOPS: usize = 1 << 28;

/// `mm(a, b, ta, tb)` for the kernels without blocking of their own (the
/// integer and complex ones), computed in blocks of rows with an interrupt
/// poll (Ctrl-C) before each when the product is large, so that it stops
/// within one block. A block of rows of `op(a)` is a block of rows of `a`, or of
/// its columns when `ta`; each block's product is copied into the result.
fn interruptible_2d<T: Copy>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    ta: bool,
    tb: bool,
    mm: Product<T>,
) -> Result<ArrayD<T>> {
    let m = if ta { a.ncols() } else { a.nrows() };
    let k = if ta { a.nrows() } else { a.ncols() };
    let n = if tb { b.nrows() } else { b.ncols() };
    let per_row = n.saturating_mul(k).max(1);
    if m.saturating_mul(per_row) < 2 * INTERRUPT_BLOCK_FLOPS {
        return mm(a, b, ta, tb);
    }
    let rows = (INTERRUPT_BLOCK_FLOPS / per_row).max(1);
    let mut out = crate::alloc::try_vec("MatMul", &[m, n])?;
    for first in (0..m).step_by(rows) {
        crate::interrupt::poll()?;
        let last = (first + rows).min(m);
        let block = if ta {
            a.slice(s![.., first..last])
        } else {
            a.slice(s![first..last, ..])
        };
        let c = mm(block, b, ta, tb)?;
        match c.as_slice() {
            Some(c) => out.extend_from_slice(c),
            None => out.extend(c.iter().copied()),
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[m, n]), out)
        .map_err(|_| Error::invalid("MatMul", "internal: blocks do not fill the product"))
}

/// `a @ b` for a stack of matrices `a` and vectors `b`.
pub fn matvec(a: &Tensor, b: &Tensor, transpose_a: bool) -> Result<Tensor> {
    if b.rank() < 1 {
        return Err(Error::invalid(
            "MatVec",
            format!("b must have rank >= 1, got shape {:?}", b.shape()),
        ));
    }
    let col = expand_dims(b, -1)?;
    squeeze(&matmul(a, &col, transpose_a, false)?, Some(&[-1]))
}

/// The indices `k·(n + 1)` of the main diagonal of a flattened m×n matrix.
/// The flat indices of diagonal `k` of an `m × n` matrix (`k > 0` above
/// the main one, `k < 0` below): (i, i + k) or (i − k, i).
fn diagonal_indices(m: usize, n: usize, k: i64) -> Result<Tensor> {
    let (row, col) = (k.min(0).unsigned_abs() as usize, k.max(0) as usize);
    let len = m.saturating_sub(row).min(n.saturating_sub(col));
    Tensor::from_vec(
        &[len],
        (0..len).map(|i| ((i + row) * n + i + col) as i64).collect(),
    )
}

fn matrix_dims(op: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    if x.rank() < 2 {
        return Err(Error::invalid(
            op,
            format!(
                "input must be at least 2-dimensional, got shape {:?}",
                x.shape()
            ),
        ));
    }
    Ok((x.shape()[x.rank() - 2], x.shape()[x.rank() - 1]))
}

/// Diagonal `k` of each matrix of a stack (0: the main one, `[..., min(m,
/// n)]`; k > 0 above it, k < 0 below; TF requires −m < k < n). A gather
/// from the flattened matrices, so the gradient scatters back.
pub fn diag_part(x: &Tensor, k: i64) -> Result<Tensor> {
    let op = "MatrixDiagPart";
    let (m, n) = matrix_dims(op, x)?;
    let (low, high) = (1 - m as i64, n as i64 - 1);
    // (an empty matrix has every diagonal, empty, as in TF)
    if m > 0 && n > 0 && (k < low || k > high) {
        let msg = format!("k is out of bound: {k}. It must be between {low} and {high}");
        return Err(Error::invalid(op, msg));
    }
    let batch = &x.shape()[..x.rank() - 2];
    let flat = reshape_to(x, &with_lead(batch, &[m * n]))?;
    gather(&flat, &diagonal_indices(m, n, k)?, batch.len() as i64, 0)
}

/// Each matrix of a stack with the entries outside a band zeroed: (i, j)
/// stays where `num_lower < 0 || i − j ≤ num_lower` and `num_upper < 0 ||
/// j − i ≤ num_upper` (a negative bound keeps that whole triangle). A
/// selection by a constant mask, so the gradient is `g`'s band.
pub fn band_part(x: &Tensor, num_lower: i64, num_upper: i64) -> Result<Tensor> {
    let op = "MatrixBandPart";
    let (m, n) = matrix_dims(op, x)?;
    for (what, bound, axis, len) in [
        ("num_lower", num_lower, "rows", m),
        ("num_upper", num_upper, "columns", n),
    ] {
        if bound > len as i64 {
            let msg = format!(
                "{what} must be negative or less or equal to number of {axis} ({len}) got: {bound}"
            );
            return Err(Error::invalid(op, msg));
        }
    }
    let within = |reach: i64, bound: i64| bound < 0 || reach <= bound;
    let keep = (0..m * n).map(|f| {
        let (i, j) = ((f / n) as i64, (f % n) as i64);
        within(i - j, num_lower) && within(j - i, num_upper)
    });
    let mask = Tensor::from_vec(&[m, n], keep.collect())?;
    where_(&mask, x, &Tensor::full(op, x.dtype(), &[], 0.0)?)
}

/// Square matrices with `v` on the diagonal (`tf.linalg.diag`).
pub fn diag(v: &Tensor) -> Result<Tensor> {
    if v.rank() < 1 {
        return Err(Error::invalid(
            "MatrixDiag",
            format!(
                "diagonal must be at least 1-dimensional, got shape {:?}",
                v.shape()
            ),
        ));
    }
    let n = v.shape()[v.rank() - 1];
    let batch = &v.shape()[..v.rank() - 1];
    let flat = gather_grad(
        v,
        &diagonal_indices(n, n, 0)?,
        &with_lead(batch, &[n * n]),
        batch.len() as i64,
        0,
    )?;
    reshape_to(&flat, &with_lead(batch, &[n, n]))
}

/// The sum of the main diagonal of each matrix.
pub fn trace(x: &Tensor) -> Result<Tensor> {
    reduce_sum(&diag_part(x, 0)?, Some(&[-1]), false)
}

/// `tf.tensordot`'s `axes = n`: the last n axes of `a` with the first n of `b`.
pub fn tensordot_axes(a: &Tensor, b: &Tensor, n: i64) -> Result<(Vec<i64>, Vec<i64>)> {
    let ra = a.rank() as i64;
    if n < 0 || n > ra || n > b.rank() as i64 {
        return Err(Error::invalid(
            "tensordot",
            format!(
                "axes = {n} must be in [0, min rank of {:?} and {:?}]",
                a.shape(),
                b.shape()
            ),
        ));
    }
    Ok(((ra - n..ra).collect(), (0..n).collect()))
}

/// Contract the `axes_a` of `a` with the `axes_b` of `b` (as `tf.tensordot`):
/// the free axes of `a`, then those of `b`. Transposes, reshapes and one matmul.
pub fn tensordot(a: &Tensor, b: &Tensor, axes_a: &[i64], axes_b: &[i64]) -> Result<Tensor> {
    let op = "tensordot";
    let ca: Vec<usize> = axes_a
        .iter()
        .map(|&x| normalize_axis(op, x, a.rank()))
        .collect::<Result<_>>()?;
    let cb: Vec<usize> = axes_b
        .iter()
        .map(|&x| normalize_axis(op, x, b.rank()))
        .collect::<Result<_>>()?;
    let sizes_agree = ca.len() == cb.len()
        && ca
            .iter()
            .zip(&cb)
            .all(|(&i, &j)| a.shape()[i] == b.shape()[j]);
    if !sizes_agree {
        return Err(Error::invalid(
            op,
            format!(
                "cannot contract axes {axes_a:?} of {:?} with axes {axes_b:?} of {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let fa: Vec<usize> = (0..a.rank()).filter(|i| !ca.contains(i)).collect();
    let fb: Vec<usize> = (0..b.rank()).filter(|i| !cb.contains(i)).collect();
    let dims = |t: &Tensor, ax: &[usize]| ax.iter().map(|&i| t.shape()[i]).collect::<Vec<_>>();
    let k: usize = dims(a, &ca).iter().product();
    let a2 = reshape_to(
        &transpose(a, Some(&as_i64(fa.iter().chain(&ca))))?,
        &[dims(a, &fa).iter().product(), k],
    )?;
    let b2 = reshape_to(
        &transpose(b, Some(&as_i64(cb.iter().chain(&fb))))?,
        &[k, dims(b, &fb).iter().product()],
    )?;
    let out_shape: Vec<usize> = dims(a, &fa).into_iter().chain(dims(b, &fb)).collect();
    reshape_to(&matmul(&a2, &b2, false, false)?, &out_shape)
}

fn as_i64<'a>(it: impl Iterator<Item = &'a usize>) -> Vec<i64> {
    it.map(|&v| v as i64).collect()
}

/// One einsum operand: a tensor and the letter of each of its axes.
struct Labeled {
    t: Tensor,
    labels: Vec<char>,
}

impl Labeled {
    fn dim(&self, c: char) -> usize {
        let i = self.labels.iter().position(|&l| l == c).unwrap_or(0);
        self.t.shape()[i]
    }

    /// Take the diagonal of every letter that labels two axes ("ii" → "i").
    fn diagonals(mut self) -> Result<Labeled> {
        while let Some((p, q)) = repeated(&self.labels) {
            let (r, d) = (self.t.rank(), self.t.shape()[p]);
            if self.t.shape()[q] != d {
                return Err(Error::invalid(
                    "einsum",
                    format!(
                        "repeated index {} has sizes {} and {}",
                        self.labels[p],
                        d,
                        self.t.shape()[q]
                    ),
                ));
            }
            let rest: Vec<usize> = (0..r).filter(|&i| i != p && i != q).collect();
            let perm = as_i64(rest.iter().chain(&[p, q]));
            let moved = transpose(&self.t, Some(&perm))?;
            let lead: Vec<usize> = rest.iter().map(|&i| self.t.shape()[i]).collect();
            self.t = diag_part(&reshape_to(&moved, &with_lead(&lead, &[d, d]))?, 0)?;
            let c = self.labels[p];
            self.labels = rest.iter().map(|&i| self.labels[i]).chain([c]).collect();
        }
        Ok(self)
    }

    /// Sum out the letters not in `keep`.
    fn sum_except(self, keep: &[char]) -> Result<Labeled> {
        let gone: Vec<i64> = (0..self.labels.len())
            .filter(|&i| !keep.contains(&self.labels[i]))
            .map(|i| i as i64)
            .collect();
        if gone.is_empty() {
            return Ok(self);
        }
        let labels = self
            .labels
            .iter()
            .copied()
            .filter(|c| keep.contains(c))
            .collect();
        Ok(Labeled {
            t: reduce_sum(&self.t, Some(&gone), false)?,
            labels,
        })
    }

    /// Axes in the order of `order` (a permutation of the labels), flattened
    /// into groups of the given sizes.
    fn arrange(&self, order: &[char], groups: &[usize]) -> Result<Tensor> {
        let perm: Vec<i64> = order
            .iter()
            .map(|c| self.labels.iter().position(|l| l == c).unwrap_or(0) as i64)
            .collect();
        let moved = transpose(&self.t, Some(&perm))?;
        let mut shape = Vec::with_capacity(groups.len());
        let mut at = 0;
        for &g in groups {
            shape.push(order[at..at + g].iter().map(|&c| self.dim(c)).product());
            at += g;
        }
        reshape_to(&moved, &shape)
    }
}

fn repeated(labels: &[char]) -> Option<(usize, usize)> {
    (0..labels.len()).find_map(|p| {
        (p + 1..labels.len())
            .find(|&q| labels[q] == labels[p])
            .map(|q| (p, q))
    })
}

/// `tf.einsum` for subscripts of letters (no `...`): diagonals, sums,
/// transposes, and pairwise contractions by batched matmul, left to right.
pub fn einsum(equation: &str, operands: &[Tensor]) -> Result<Tensor> {
    let op = "einsum";
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    if eq.contains('.') {
        return Err(Error::Unimplemented {
            op,
            msg: "ellipsis ('...') subscripts are not supported".into(),
        });
    }
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let inputs: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
    let bad_letter = inputs
        .iter()
        .flatten()
        .chain(
            rhs.iter()
                .flat_map(|r| r.chars().collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .iter(),
        )
        .any(|c| !c.is_ascii_alphabetic());
    if inputs.len() != operands.len() || bad_letter {
        return Err(Error::invalid(
            op,
            format!(
                "equation {equation:?} does not match {} operand(s)",
                operands.len()
            ),
        ));
    }
    // implicit output: the letters used once, in alphabetical order
    let output: Vec<char> = match rhs {
        Some(r) => r.chars().collect(),
        None => {
            let all: Vec<char> = inputs.iter().flatten().copied().collect();
            let mut once: Vec<char> = all
                .iter()
                .copied()
                .filter(|c| all.iter().filter(|&d| d == c).count() == 1)
                .collect();
            once.sort_unstable();
            once
        }
    };
    let mut terms = Vec::with_capacity(operands.len());
    for (t, labels) in operands.iter().zip(&inputs) {
        if labels.len() != t.rank() {
            return Err(Error::invalid(
                op,
                format!(
                    "subscripts {:?} do not match an operand of shape {:?}",
                    labels.iter().collect::<String>(),
                    t.shape()
                ),
            ));
        }
        terms.push(
            Labeled {
                t: t.clone(),
                labels: labels.clone(),
            }
            .diagonals()?,
        );
    }
    // every letter must have one size
    for c in inputs.iter().flatten() {
        let sizes: Vec<usize> = terms
            .iter()
            .filter(|t| t.labels.contains(c))
            .map(|t| t.dim(*c))
            .collect();
        if sizes.windows(2).any(|w| w[0] != w[1]) {
            return Err(Error::invalid(
                op,
                format!("index {c} has inconsistent sizes {sizes:?}"),
            ));
        }
    }
    if let Some(c) = output
        .iter()
        .find(|c| !inputs.iter().flatten().any(|d| d == *c))
    {
        return Err(Error::invalid(
            op,
            format!("output index {c} does not appear in the inputs"),
        ));
    }
    let mut iter = terms.into_iter().enumerate();
    let Some((_, first)) = iter.next() else {
        return Err(Error::invalid(op, "einsum needs at least one operand"));
    };
    let later = |k: usize| -> Vec<char> {
        inputs[k..]
            .iter()
            .flatten()
            .chain(&output)
            .copied()
            .collect()
    };
    let mut acc = first.sum_except(&later(1))?;
    for (k, term) in iter {
        let keep = later(k + 1);
        let b = term.sum_except(&[keep.clone(), acc.labels.clone()].concat())?;
        acc = acc.sum_except(&[keep.clone(), b.labels.clone()].concat())?;
        let batch: Vec<char> = acc
            .labels
            .iter()
            .copied()
            .filter(|c| b.labels.contains(c) && keep.contains(c))
            .collect();
        let contract: Vec<char> = acc
            .labels
            .iter()
            .copied()
            .filter(|c| b.labels.contains(c) && !keep.contains(c))
            .collect();
        let fa: Vec<char> = acc
            .labels
            .iter()
            .copied()
            .filter(|c| !b.labels.contains(c))
            .collect();
        let fb: Vec<char> = b
            .labels
            .iter()
            .copied()
            .filter(|c| !acc.labels.contains(c))
            .collect();
        let a3 = acc.arrange(
            &[batch.clone(), fa.clone(), contract.clone()].concat(),
            &[batch.len(), fa.len(), contract.len()],
        )?;
        let b3 = b.arrange(
            &[batch.clone(), contract.clone(), fb.clone()].concat(),
            &[batch.len(), contract.len(), fb.len()],
        )?;
        let prod = matmul(&a3, &b3, false, false)?;
        let labels: Vec<char> = [batch, fa, fb].concat();
        let shape: Vec<usize> = labels
            .iter()
            .map(|&c| {
                if acc.labels.contains(&c) {
                    acc.dim(c)
                } else {
                    b.dim(c)
                }
            })
            .collect();
        acc = Labeled {
            t: reshape_to(&prod, &shape)?,
            labels,
        };
    }
    let acc = acc.sum_except(&output)?;
    if repeated(&output).is_some() {
        return Err(Error::invalid(
            op,
            format!("output subscripts {output:?} repeat an index"),
        ));
    }
    let perm: Vec<i64> = output
        .iter()
        .map(|c| acc.labels.iter().position(|l| l == c).unwrap_or(0) as i64)
        .collect();
    transpose(&acc.t, Some(&perm))
}

// --- dense decompositions ----------------------------------------------------
// Computed in f64 per matrix of a stack (float32 inputs are widened and the
// result narrowed back); the VJPs are written with tapegrad ops.

/// The matrices of a `[..., n, m]` float tensor as f64 row-major buffers.
fn matrices(op: &'static str, x: &Tensor, square: bool) -> Result<(Vec<f64>, usize, usize)> {
    if !x.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype: x.dtype(),
            allowed: "float32, float64",
        });
    }
    let (n, m) = matrix_dims(op, x)?;
    if square && n != m {
        return Err(Error::invalid(
            op,
            format!("Input matrix must be square, got shape {:?}", x.shape()),
        ));
    }
    let v: Vec<f64> = crate::ops::cast(x, crate::dtype::DType::F64)?
        .array::<f64>()
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default();
    Ok((v, n, m))
}

fn from_f64(op: &'static str, shape: &[usize], v: Vec<f64>, like: &Tensor) -> Result<Tensor> {
    let t = Tensor::from_vec(shape, v).map_err(|_| Error::invalid(op, "internal shape error"))?;
    crate::ops::cast(&t, like.dtype())
}

/// In-place LU factorisation with partial pivoting of one n×n matrix:
/// returns the row permutation and its sign, or `None` when singular.
fn lu(a: &mut [f64], n: usize) -> Option<(Vec<usize>, f64)> {
    let mut perm: Vec<usize> = (0..n).collect();
    let mut sign = 1.0;
    for k in 0..n {
        let p = (k..n).max_by(|&i, &j| a[i * n + k].abs().total_cmp(&a[j * n + k].abs()))?;
        if a[p * n + k] == 0.0 || !a[p * n + k].is_finite() {
            return None;
        }
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            perm.swap(k, p);
            sign = -sign;
        }
        for i in k + 1..n {
            let f = a[i * n + k] / a[k * n + k];
            a[i * n + k] = f;
            for j in k + 1..n {
                a[i * n + j] -= f * a[k * n + j];
            }
        }
    }
    Some((perm, sign))
}

/// Solve LU·x = P·b in place for one right-hand side `b` (length n).
fn lu_solve(lu: &[f64], perm: &[usize], n: usize, b: &[f64]) -> Vec<f64> {
    let mut x: Vec<f64> = perm.iter().map(|&p| b[p]).collect();
    for i in 0..n {
        for j in 0..i {
            x[i] -= lu[i * n + j] * x[j];
        }
    }
    for i in (0..n).rev() {
        for j in i + 1..n {
            x[i] -= lu[i * n + j] * x[j];
        }
        x[i] /= lu[i * n + i];
    }
    x
}

/// Swap the last two axes (a matrix transpose that keeps any batch axes;
/// the adjoint of a real matrix stack).
pub fn matrix_t(x: &Tensor) -> Result<Tensor> {
    let r = x.rank();
    if r < 2 {
        return Err(Error::invalid(
            "adjoint",
            format!(
                "input must be at least 2-dimensional, got shape {:?}",
                x.shape()
            ),
        ));
    }
    let perm: Vec<i64> = (0..r as i64 - 2)
        .chain([r as i64 - 1, r as i64 - 2])
        .collect();
    transpose(x, Some(&perm))
}

/// The inverse of each square matrix; singular matrices are an error.
pub fn inv(a: &Tensor) -> Result<Tensor> {
    let op = "MatrixInverse";
    if a.dtype().is_complex() {
        return crate::ops::complex::inv(a);
    }
    let (v, n, _) = matrices(op, a, true)?;
    let mut out = Vec::with_capacity(v.len());
    for m in v.chunks((n * n).max(1)) {
        let mut f = m.to_vec();
        let (perm, _) =
            lu(&mut f, n).ok_or_else(|| Error::invalid(op, "Input is not invertible."))?;
        let mut inv_t = Vec::with_capacity(n * n); // columns of the inverse, as rows
        for c in 0..n {
            let e: Vec<f64> = (0..n).map(|i| if i == c { 1.0 } else { 0.0 }).collect();
            inv_t.extend(lu_solve(&f, &perm, n, &e));
        }
        out.extend((0..n * n).map(|k| inv_t[(k % n) * n + k / n]));
    }
    let y = from_f64(op, a.shape(), out, a)?;
    // d(A⁻¹) = −A⁻¹ dA A⁻¹, so dA = −Yᵀ G Yᵀ
    tape::record_rule(
        op,
        &[a],
        &y,
        [&y],
        || (),
        [Some(|g, [y], _| {
            let left = matmul(y, g, true, false)?;
            matmul(&left, y, false, true)?.neg()
        })],
    );
    Ok(y)
}

/// The determinant of each square matrix.
pub fn det(a: &Tensor) -> Result<Tensor> {
    let op = "MatrixDeterminant";
    if a.dtype().is_complex() {
        return crate::ops::complex::det(a);
    }
    let (v, n, _) = matrices(op, a, true)?;
    let dets: Vec<f64> = v
        .chunks((n * n).max(1))
        .map(|m| {
            let mut f = m.to_vec();
            match lu(&mut f, n) {
                Some((_, sign)) => sign * (0..n).map(|i| f[i * n + i]).product::<f64>(),
                None => 0.0,
            }
        })
        .collect();
    let batch = &a.shape()[..a.rank() - 2];
    let dets = if n == 0 {
        vec![1.0; batch.iter().product()]
    } else {
        dets
    };
    let d = from_f64(op, batch, dets, a)?;
    // d det A = det A · tr(A⁻¹ dA), so dA = g · det A · A⁻ᵀ
    tape::record_rule(
        op,
        &[a],
        &d,
        [a, &d],
        || (),
        [Some(|g, [a, d], _| {
            let s = g.mul(d)?;
            let lead = crate::ops::lead(g, a.rank() - 2);
            let s = reshape_to(&s, &with_lead(&with_lead(lead, d.shape()), &[1, 1]))?;
            s.mul(&matrix_t(&inv(a)?)?)
        })],
    );
    Ok(d)
}

/// X with A·X = B for each square A of a stack (B: `[..., n, k]`).
pub fn solve(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "MatrixSolve";
    if a.dtype().is_complex() {
        return crate::ops::complex::solve(a, b);
    }
    same_dtype(op, a, b)?;
    let (va, n, _) = matrices(op, a, true)?;
    let (vb, nb, k) = matrices(op, b, false)?;
    if nb != n || a.shape()[..a.rank() - 2] != b.shape()[..b.rank() - 2] {
        return Err(Error::invalid(
            op,
            format!(
                "Input matrix and right-hand side must have the same number of rows and batch shape: {:?} vs. {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let mut out = Vec::with_capacity(vb.len());
    for (m, rhs) in va.chunks((n * n).max(1)).zip(vb.chunks((n * k).max(1))) {
        let mut f = m.to_vec();
        let (perm, _) =
            lu(&mut f, n).ok_or_else(|| Error::invalid(op, "Input matrix is not invertible."))?;
        let mut cols = Vec::with_capacity(n * k);
        for c in 0..k {
            let col: Vec<f64> = (0..n).map(|i| rhs[i * k + c]).collect();
            cols.push(lu_solve(&f, &perm, n, &col));
        }
        out.extend((0..n * k).map(|idx| cols[idx % k][idx / k]));
    }
    let x = from_f64(op, b.shape(), out, b)?;
    // dB = A⁻ᵀ G, dA = −dB Xᵀ
    tape::record_rule(
        op,
        &[a, b],
        &x,
        [a, &x],
        || (),
        [
            Some(|g, [a, x], _| {
                let db = matmul(&inv(a)?, g, true, false)?;
                matmul(&db, x, false, true)?.neg()
            }),
            Some(|g, [a, _], _| matmul(&inv(a)?, g, true, false)),
        ],
    );
    Ok(x)
}

/// The lower-triangular L with L·Lᴴ = A, for symmetric (Hermitian)
/// positive-definite A (only the lower triangle of A is read, as in TF).
pub fn cholesky(a: &Tensor) -> Result<Tensor> {
    let op = "Cholesky";
    let l = if a.dtype().is_complex() {
        crate::ops::complex::cholesky(a)?
    } else {
        real_cholesky(a)?
    };
    // Murray (2016), as TF: P = Φ(Lᴴ G) (lower triangle, halved diagonal);
    // S = L⁻ᴴ P L⁻¹; dA = (S + Sᴴ) / 2 (ᴴ is ᵀ for real L)
    tape::record_rule(
        op,
        &[a],
        &l,
        [&l],
        || (),
        [Some(|g, [l], _| {
            let n = l.shape()[l.rank() - 1];
            let phi: Vec<f64> = (0..n * n)
                .map(|k| match (k / n).cmp(&(k % n)) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .collect();
            let phi = from_f64("Cholesky", &[n, n], phi, l)?;
            let p = matmul(&conj(l)?, g, true, false)?.mul(&phi)?;
            let l_inv = inv(l)?;
            let s = matmul(
                &matmul(&conj(&l_inv)?, &p, true, false)?,
                &l_inv,
                false,
                false,
            )?;
            s.add(&crate::ops::complex::adjoint(&s)?)?.scale(0.5)
        })],
    );
    Ok(l)
}

/// The real Cholesky factor of each matrix (no gradient recorded).
fn real_cholesky(a: &Tensor) -> Result<Tensor> {
    let op = "Cholesky";
    let (v, n, _) = matrices(op, a, true)?;
    let mut out = vec![0.0; v.len()];
    for (m, l) in v.chunks((n * n).max(1)).zip(out.chunks_mut((n * n).max(1))) {
        for i in 0..n {
            for j in 0..=i {
                let s: f64 = (0..j).map(|p| l[i * n + p] * l[j * n + p]).sum();
                if i == j {
                    let d = m[i * n + i] - s;
                    if d.is_nan() || d <= 0.0 {
                        return Err(Error::invalid(
                            op,
                            "Cholesky decomposition was not successful. The input might not be valid.",
                        ));
                    }
                    l[i * n + i] = d.sqrt();
                } else {
                    l[i * n + j] = (m[i * n + j] - s) / l[j * n + j];
                }
            }
        }
    }
    from_f64(op, a.shape(), out, a)
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (matmul) => { $crate::ops::with_example!(
        r#"Matrix product of the last two axes, batch axes broadcast (TF's `tf.linalg.matmul`); `transpose_a/b` transpose first. d/da = g·bᵀ, d/db = aᵀ·g."#,
        r#">>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
>>> print(tf.matmul(a, a, transpose_b=True))
tapegrad.Tensor(
[[ 5. 11.]
 [11. 25.]], shape=(2, 2), dtype=float32)"#
    ) };
    (tensordot) => { $crate::ops::with_example!(
        r#"Contracts `a` and `b` over `axes`: an int n pairs a's last n axes with b's first n; a pair of lists names them."#,
        r#">>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
>>> print(tf.tensordot(a, a, axes=1))
tapegrad.Tensor(
[[ 7. 10.]
 [15. 22.]], shape=(2, 2), dtype=float32)
>>> print(tf.tensordot(a, a, axes=2))
tapegrad.Tensor(30.0, shape=(), dtype=float32)"#
    ) };
    (matvec) => { $crate::ops::with_example!(
        r#"Matrix × vector over the last axes, batch axes broadcast: `a @ b[..., None]` squeezed."#,
        r#">>> print(tf.linalg.matvec(tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.constant([1.0, 1.0])))
tapegrad.Tensor([3. 7.], shape=(2,), dtype=float32)"#
    ) };
    (band_part) => { $crate::ops::with_example!(
        r#"The band of the last two axes: entries more than `num_lower` below or `num_upper` above the diagonal become 0 (a negative bound keeps that whole triangle; `(-1, 0)` is the lower triangle). The gradient is the band of the incoming gradient."#,
        r#">>> x = tf.reshape(tf.range(1.0, 10.0), [3, 3])
>>> print(tf.linalg.band_part(x, -1, 0))
tapegrad.Tensor(
[[1. 0. 0.]
 [4. 5. 0.]
 [7. 8. 9.]], shape=(3, 3), dtype=float32)"#
    ) };
    (diag_part) => { $crate::ops::with_example!(
        r#"Diagonal `k` of the last two axes: the main one (k = 0), above it (k > 0) or below (k < 0); -rows < k < columns. The gradient scatters back."#,
        r#">>> x = tf.constant([[1, 2, 3], [4, 5, 6]])
>>> print(tf.linalg.diag_part(x))
tapegrad.Tensor([1 5], shape=(2,), dtype=int32)
>>> print(tf.linalg.diag_part(x, k=1))
tapegrad.Tensor([2 6], shape=(2,), dtype=int32)"#
    ) };
    (inv) => { $crate::ops::with_example!(
        r#"Inverse of each square matrix (LU with partial pivoting); a singular matrix raises InvalidArgumentError. d = −A⁻ᵀ g A⁻ᵀ."#,
        r#">>> print(tf.linalg.inv(tf.constant([[2.0, 0.0], [0.0, 4.0]])))
tapegrad.Tensor(
[[0.5  0.  ]
 [0.   0.25]], shape=(2, 2), dtype=float32)"#
    ) };
    (solve) => { $crate::ops::with_example!(
        r#"X with `matrix` · X = `rhs` (LU with partial pivoting); a singular matrix raises InvalidArgumentError."#,
        r#">>> print(tf.linalg.solve(tf.constant([[2.0, 0.0], [0.0, 4.0]]), tf.constant([[2.0], [8.0]])))
tapegrad.Tensor(
[[1.]
 [2.]], shape=(2, 1), dtype=float32)"#
    ) };
    (einsum) => { $crate::ops::with_example!(
        r#"Einstein summation over the subscripts in `equation` (e.g. 'ij,jk->ik'; no ellipsis)."#,
        r#">>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
>>> print(tf.einsum("ij,ij->i", a, a))
tapegrad.Tensor([ 5. 25.], shape=(2,), dtype=float32)"#
    ) };
    (diag) => { $crate::ops::with_example!(
        r#"A (batch of) square matrices with `diagonal` on the main diagonal, zeros elsewhere."#,
        r#">>> print(tf.linalg.diag(tf.constant([1, 2])))
tapegrad.Tensor(
[[1 0]
 [0 2]], shape=(2, 2), dtype=int32)"#
    ) };
    (trace) => { $crate::ops::with_example!(
        r#"Sum of the main diagonal of the last two axes."#,
        r#">>> print(tf.linalg.trace(tf.constant([[1.0, 2.0], [3.0, 4.0]])))
tapegrad.Tensor(5.0, shape=(), dtype=float32)"#
    ) };
    (det) => { $crate::ops::with_example!(
        r#"Determinant of each square matrix (LU with partial pivoting)."#,
        r#">>> print(tf.linalg.det(tf.constant([[1.0, 2.0], [3.0, 4.0]], dtype=tf.float64)))
tapegrad.Tensor(-2.0, shape=(), dtype=float64)"#
    ) };
    (cholesky) => { $crate::ops::with_example!(
        r#"Lower-triangular L with L·Lᴴ = the (symmetric, or complex Hermitian, positive-definite) input; only its lower triangle is read; a matrix that is not positive definite raises InvalidArgumentError."#,
        r#">>> print(tf.linalg.cholesky(tf.constant([[4.0, 2.0], [2.0, 5.0]])))
tapegrad.Tensor(
[[2. 0.]
 [1. 2.]], shape=(2, 2), dtype=float32)"#
    ) };
    ($name:ident) => { $crate::ops::nn::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensordot_int_axes_pair_last_of_a_with_first_of_b() {
        let a = Tensor::from_vec(&[2, 3, 4], vec![0.0f64; 24]).unwrap();
        let b = Tensor::from_vec(&[3, 4, 5], vec![0.0f64; 60]).unwrap();
        assert_eq!(tensordot_axes(&a, &b, 2).unwrap(), (vec![1, 2], vec![0, 1]));
        assert_eq!(tensordot_axes(&a, &b, 0).unwrap(), (vec![], vec![]));
        assert!(tensordot_axes(&a, &b, 4).is_err());
        assert!(tensordot_axes(&a, &b, -1).is_err());
    }
}
