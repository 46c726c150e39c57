//! Ops: each is a forward kernel plus the VJP rule that differentiates it,
//! declared side by side. Regular elementwise ops are one row of a table
//! (`unary.rs`, `binary.rs`); irregular ones write their VJP next to their
//! forward in the family file. Both record through `tape::record_rule`
//! (explicit saves, one rule per input). VJP rules use these same ops, so a backward
//! pass run under another tape is recorded and can be differentiated again.
//!
//! Families: `unary`/`binary` (the row tables), `reduce` (axes, keepdims,
//! scans, norms), `shape` (reshape, transpose, strided slices, concat, …),
//! `index` (gather and its scatter-add transpose, gather_nd, one_hot),
//! `create` (fill, range, linspace, eye), `linalg` (matmul, einsum,
//! decompositions), `nn` (softmax and its losses, convolution, pooling;
//! composed from the others) and `random`.
//!
//! Docstrings: a regular op's Python docstring is its row's `///` comment
//! (`OpInfo::doc`); an irregular op's is an arm of its family file's
//! `py_doc!` table, keyed by the name of its binding in `src/py/ops.rs`.
//! The tables form one chain (`binary` → `complex` → … → `shape`, each
//! passing a name it lacks to the next), so `ops::py_doc!(name)` finds any
//! of them, and a binding without a docstring does not compile.

pub mod binary;
pub mod complex;
pub mod convert;
pub mod create;
pub mod index;
pub mod linalg;
pub mod nn;
pub mod random;
pub mod reduce;
pub mod scatter;
pub mod shape;
pub mod strings;
pub mod unary;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub use binary::*;
// the head of the docstring chain (module doc)
#[cfg(feature = "python")]
pub(crate) use binary::py_doc;
pub use complex::{adjoint, angle, complex, conj, imag, real};
pub use convert::{HubValue, convert_dtype, scalar_as};
pub use create::*;
pub use index::*;
pub use linalg::*;
pub use nn::*;
pub use reduce::*;
pub use scatter::tensor_scatter_nd;
pub use shape::*;
pub use unary::*;

/// An irregular op's docstring from its summary (with the gradient note)
/// and the body of its runnable example: the layout every public docstring
/// has (`tests/test_docstrings.py` runs the example).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! with_example {
    ($summary:literal, $example:literal) => {
        concat!(
            $summary,
            "\n\nExample:\n>>> import tapegrad as tf\n",
            $example
        )
    };
}
#[cfg(feature = "python")]
pub(crate) use with_example;

/// What the op registry tells tests and bindings about one op.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    /// The public (TF) function name, e.g. `"exp"`.
    pub name: &'static str,
    pub arity: usize,
    /// False for ops declared `nondiff`: their outputs carry no gradient.
    pub differentiable: bool,
    /// Where the op is smooth enough for a finite-difference check:
    /// `"real"`, `"positive"`, `"unit"` (the open interval (-1, 1)) or
    /// `"above_one"` (x > 1).
    pub domain: &'static str,
    /// The dtypes it accepts: `"float"` or `"numeric"`.
    pub dtypes: &'static str,
    pub doc: &'static str,
    pub kernel: OpFn,
}

/// The function behind a registry entry.
#[derive(Clone, Copy)]
pub enum OpFn {
    Unary(fn(&Tensor) -> Result<Tensor>),
    Binary(fn(&Tensor, &Tensor) -> Result<Tensor>),
}

impl std::fmt::Debug for OpFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpFn::Unary(_) => "Unary",
            OpFn::Binary(_) => "Binary",
        })
    }
}

/// Every regular op, for the registry-driven tests.
pub fn registry() -> Vec<OpInfo> {
    let pow = OpInfo {
        name: "pow",
        arity: 2,
        differentiable: true,
        domain: "positive",
        dtypes: "numeric",
        doc: "`x ** y` elementwise; integer tensors refuse negative exponents.\n\nExample:\n    >>> import tapegrad as tf\n    >>> print(tf.pow(tf.constant([2.0, 3.0]), 2.0))\n    tapegrad.Tensor([4. 9.], shape=(2,), dtype=float32)\n    >>> print(tf.pow(tf.constant([2, 3]), tf.constant([3, 2])))\n    tapegrad.Tensor([8 9], shape=(2,), dtype=int32)",
        kernel: OpFn::Binary(binary::pow),
    };
    let mut all: Vec<OpInfo> = unary::UNARY_OPS
        .iter()
        .chain(unary::PREDICATE_OPS)
        .chain(binary::BINARY_OPS)
        .copied()
        .collect();
    all.push(pow);
    all.extend(binary::FLOOR_OPS);
    all.extend(binary::COMPARE_OPS);
    all
}

/// The batch dimensions in front of a gradient: a VJP may receive `g` with
/// shape `batch ++ out_shape` (jacobians push a whole batch of cotangents
/// through at once) and must return `batch ++ in_shape`. Elementwise rules
/// get this for free from broadcasting; rules that reshape must keep it.
pub fn lead(g: &Tensor, out_rank: usize) -> &[usize] {
    &g.shape()[..g.rank() - out_rank]
}

/// `lead ++ shape`.
pub fn with_lead(lead: &[usize], shape: &[usize]) -> Vec<usize> {
    lead.iter().chain(shape).copied().collect()
}

/// Refuse a non-float dtype for an op defined on floats only.
pub(crate) fn float_only(op: &'static str, dtype: DType) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype,
            allowed: "float32, float64",
        });
    }
    Ok(())
}

/// The dtype both operands of a binary op share; TF never promotes.
pub(crate) fn same_dtype(op: &'static str, a: &Tensor, b: &Tensor) -> Result<DType> {
    if a.dtype() != b.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: a.dtype(),
            rhs: b.dtype(),
        });
    }
    Ok(a.dtype())
}

pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor> {
    Tensor::full("zeros", dtype, shape, 0.0)
}

pub fn ones(dtype: DType, shape: &[usize]) -> Result<Tensor> {
    Tensor::full("ones", dtype, shape, 1.0)
}

pub fn zeros_like(t: &Tensor) -> Result<Tensor> {
    zeros(t.dtype(), t.shape())
}

pub fn ones_like(t: &Tensor) -> Result<Tensor> {
    ones(t.dtype(), t.shape())
}

/// Method spellings of the ops, so VJP rules read like the math.
impl Tensor {
    pub fn add(&self, o: &Tensor) -> Result<Tensor> {
        add(self, o)
    }
    pub fn sub(&self, o: &Tensor) -> Result<Tensor> {
        subtract(self, o)
    }
    pub fn mul(&self, o: &Tensor) -> Result<Tensor> {
        multiply(self, o)
    }
    pub fn div(&self, o: &Tensor) -> Result<Tensor> {
        divide(self, o)
    }
    pub fn neg(&self) -> Result<Tensor> {
        negative(self)
    }
    /// `self * c` with `c` in this tensor's dtype.
    pub fn scale(&self, c: f64) -> Result<Tensor> {
        multiply(self, &Tensor::scalar_of(self.dtype(), c))
    }
}
