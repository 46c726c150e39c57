//! One `FromPyObject` type per kind of op argument, so a binding is its
//! signature plus one core call: the conversion rules (TF's) live here once.

use std::ops::Deref;

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyString, PyTuple};

use super::convert::{dtype_from_py, operands, to_numpy, to_tensor};
use super::tensor::PyTensor;
use crate::dtype::DType;
use crate::ops;
use crate::tensor::Tensor;
use crate::trace::Captured;

/// Declares an argument kind: a newtype over what `extract` makes of the
/// Python object (`?` raises the conversion's error).
macro_rules! arg_kind {
    ($(#[$meta:meta])* $kind:ident($inner:ty), |$obj:ident| $extract:expr) => {
        $(#[$meta])*
        pub struct $kind(pub $inner);

        impl<'py> FromPyObject<'_, 'py> for $kind {
            type Error = PyErr;
            fn extract($obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
                Ok($kind($extract))
            }
        }
    };
}

/// An argument as a Python value again: `tf.saved_model` describes a traced
/// call by its arguments (tensors stand for the slots they are read from).
pub trait Describe {
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

// (`@T`: an impl generic over `T: Describe`)
macro_rules! describe_as {
    ($($(@$g:ident)? $t:ty => |$s:ident, $py:ident| $value:expr;)*) => {$(
        impl$(<$g: Describe>)? Describe for $t {
            fn describe<'py>(&self, $py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let $s = self;
                $value.into_bound_py_any($py)
            }
        }
    )*};
}

describe_as! {
    bool => |s, py| *s; i64 => |s, py| *s; f64 => |s, py| *s; usize => |s, py| *s;
    String => |s, py| s; &str => |s, py| *s; DType => |s, py| s.name();
    u64 => |s, py| *s as i64; // (a seed: TF's int64, wrapped back)
    Tensor => |s, py| PyTensor::new(s.clone());
    Name => |_s, py| Option::<bool>::None;
    Direction => |s, py| if s.descending() { "DESCENDING" } else { "ASCENDING" };
    Bound<'_, PyAny> => |s, py| s.clone().unbind();
    @T Option<T> => |s, py| s.as_ref().map(|x| x.describe(py)).transpose()?;
    @T Vec<T> => |s, py| s.iter().map(|x| x.describe(py)).collect::<PyResult<Vec<_>>>()?;
    Operand => |s, py| s.0.describe(py)?; OperandList => |s, py| s.0.describe(py)?;
    Axis => |s, py| s.0; Axes => |s, py| s.0.describe(py)?; Shape => |s, py| s.0.describe(py)?;
    DTypeArg => |s, py| s.0.name(); IntDType => |s, py| s.0.name(); Seed => |s, py| s.0 as i64;
    NormOrd => |s, py| match s.0 { // (None: the default, euclidean)
        ops::NormOrd::P(p) => Some(p), ops::NormOrd::Inf => Some(f64::INFINITY), _ => None,
    };
    // (a 0-d array of its dtype: an int64 bound must not come back int32)
    Scalar => |s, py| to_numpy(py, &ops::scalar_as(ops::HubValue::Float(s.0.0), s.0.1))?;
}

arg_kind!(
    /// A tensor-like operand (tensor, variable, number, nested list, array),
    /// converted with no dtype hint.
    Operand(Tensor),
    |obj| to_tensor(&obj, None)?
);

// A trace rebuilds these arguments from a replay's tensors.
impl Captured for Operand {
    type Layout = ();
    fn split(&self, out: &mut Vec<Tensor>) {
        self.0.split(out)
    }
    fn join(_: &(), tensors: &mut std::slice::Iter<'_, Tensor>) -> Self {
        Operand(Tensor::join(&(), tensors))
    }
}

impl Captured for OperandList {
    type Layout = Vec<()>;
    fn split(&self, out: &mut Vec<Tensor>) -> Vec<()> {
        self.0.split(out)
    }
    fn join(layout: &Vec<()>, tensors: &mut std::slice::Iter<'_, Tensor>) -> Self {
        OperandList(Vec::join(layout, tensors))
    }
}

impl Deref for Operand {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        &self.0
    }
}

/// A tensor-like kept unconverted until [`operands`] converts a group of
/// them with TF's leading-dtype rule (the others adopt the first tensor's
/// dtype: `tf.matmul(x64, [[1.0]])` is float64).
pub type TensorLike<'py> = Bound<'py, PyAny>;

arg_kind!(
    /// A list, tuple or tensor of operands (`tf.concat`'s `values`), converted
    /// with the leading-dtype rule; a tensor stands for the list of its rows.
    OperandList(Vec<Tensor>),
    |obj| if obj.cast::<PyTensor>().is_ok() {
        ops::unstack(&to_tensor(&obj, None)?, 0)?
    } else {
        operands(&obj.try_iter()?.collect::<PyResult<Vec<_>>>()?)?
    }
);

arg_kind!(
    /// A scalar (`tf.range`'s bounds) as its value and the dtype it converts
    /// to: Python ints are int32, floats float32.
    #[derive(Clone, Copy)]
    Scalar((f64, DType)),
    |obj| {
        let t = to_tensor(&obj, None)?;
        crate::trace::guard_value(&t);
        let v = t.item_f64().filter(|_| t.rank() == 0).ok_or_else(|| {
            PyValueError::new_err(format!("expected a scalar, got shape {:?}", t.shape()))
        })?;
        (v, t.dtype())
    }
);

arg_kind!(
    /// `tf.norm`'s `ord`: 'euclidean'/'fro', or a number (inf included).
    #[derive(Clone, Copy)]
    NormOrd(ops::NormOrd),
    |obj| match obj.extract::<String>() {
        Ok(name) => ops::NormOrd::from_name(&name)?,
        Err(_) => ops::NormOrd::from_number(obj.extract()?),
    }
);

arg_kind!(
    /// One axis: an int, or a one-element list or int tensor.
    #[derive(Clone, Copy)]
    Axis(i64),
    |obj| match int_list(&obj)?.as_slice() {
        [a] => *a,
        other => {
            return Err(PyValueError::new_err(format!(
                "expected a single axis, got {other:?}"
            )));
        }
    }
);

/// The axis, or `default` when the argument was None.
pub fn axis_or(axis: Option<Axis>, default: i64) -> i64 {
    axis.map_or(default, |a| a.0)
}

arg_kind!(
    /// Axes: an int, a list or tuple of ints, or an int tensor (`Option<Axes>`:
    /// None means every axis). Also the kind of `perm`, `multiples` and the
    /// target of `reshape` (where one entry may be -1).
    Axes(Vec<i64>),
    |obj| int_list(&obj)?
);

/// `Option<Axes>` as the core takes it.
pub fn axes(a: &Option<Axes>) -> Option<&[i64]> {
    a.as_ref().map(|a| a.0.as_slice())
}

arg_kind!(
    /// A shape of non-negative extents (`tf.zeros`'s `shape`).
    Shape(Vec<usize>),
    |obj| int_list(&obj)?
        .into_iter()
        .map(|d| {
            usize::try_from(d)
                .map_err(|_| PyValueError::new_err(format!("negative dimension {d} in shape")))
        })
        .collect::<PyResult<_>>()?
);

/// An int, a sequence of ints, or an int tensor, as a list.
pub fn int_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if obj.is_instance_of::<PyInt>()
        && let Ok(v) = obj.extract::<i64>()
    {
        return Ok(vec![v]);
    }
    // A list or tuple of plain ints (the usual shape argument) without a
    // detour through a tensor: that conversion was most of a reshape's cost.
    let plain = match (obj.cast::<PyTuple>(), obj.cast::<PyList>()) {
        (Ok(seq), _) => plain_ints(seq.iter()),
        (_, Ok(seq)) => plain_ints(seq.iter()),
        _ => None,
    };
    if let Some(v) = plain {
        return Ok(v);
    }
    let t = to_tensor(obj, None)?;
    crate::trace::guard_value(&t);
    if t.numel() == 0 && t.rank() == 1 {
        return Ok(Vec::new()); // `[]` or `()`: the shape of a scalar
    }
    if !t.dtype().is_int() || t.rank() > 1 {
        return Err(PyTypeError::new_err(format!(
            "expected an int or a list of ints, got {} of dtype {}",
            obj.repr()?,
            t.dtype().name()
        )));
    }
    let t = ops::cast(&t, DType::I64)?;
    Ok(t.array::<i64>()
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default())
}

/// The values when every item is an exact Python int in i64 range.
fn plain_ints<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>) -> Option<Vec<i64>> {
    items
        .map(|item| {
            if item.is_exact_instance_of::<PyInt>() {
                item.extract::<i64>().ok()
            } else {
                None
            }
        })
        .collect()
}

arg_kind!(
    /// A dtype: a `tapegrad` dtype, a numpy dtype or scalar type, or a name.
    #[derive(Clone, Copy)]
    DTypeArg(DType),
    |obj| dtype_from_py(&obj)?
);

arg_kind!(
    /// `tf.shape`/`tf.size`'s `out_type`: int32 or int64.
    #[derive(Clone, Copy)]
    IntDType(DType),
    |obj| match dtype_from_py(&obj)? {
        d if d.is_int() => d,
        d => return Err(PyTypeError::new_err(format!("out_type must be int32 or int64, got {}", d.name()))),
    }
);

/// The dtype, or `default` when the argument was None.
pub fn dtype_or(d: Option<DTypeArg>, default: DType) -> DType {
    d.map_or(default, |d| d.0)
}

/// TF's `name=` argument: accepts anything and is never read (eager ops
/// have no graph names).
pub struct Name;

impl<'py> FromPyObject<'_, 'py> for Name {
    type Error = PyErr;
    fn extract(_: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        Ok(Name)
    }
}

arg_kind!(
    /// A seed: any int (negative ones wrap, as TF's int64 seeds).
    #[derive(Clone, Copy)]
    Seed(u64),
    |obj| obj.extract::<i64>()? as u64
);

/// `Option<Seed>` as the core takes it.
pub fn seed(s: Option<Seed>) -> Option<u64> {
    s.map(|s| s.0)
}

/// A sort `direction`: 'ASCENDING' or 'DESCENDING'.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

impl<'py> FromPyObject<'_, 'py> for Direction {
    type Error = PyErr;
    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let s = obj.cast::<PyString>()?;
        match s.to_cow()?.as_ref() {
            "ASCENDING" => Ok(Direction::Ascending),
            "DESCENDING" => Ok(Direction::Descending),
            other => Err(PyValueError::new_err(format!(
                "`direction` must be 'ASCENDING' or 'DESCENDING', got {other:?}"
            ))),
        }
    }
}

impl Direction {
    pub fn descending(self) -> bool {
        self == Direction::Descending
    }
}

/// What a core call returns, as the Python value the binding returns.
pub trait Lift {
    type Out;
    fn lift(self) -> Self::Out;
}

impl Lift for Tensor {
    type Out = PyTensor;
    fn lift(self) -> PyTensor {
        PyTensor::new(self)
    }
}

impl Lift for (Tensor, Tensor) {
    type Out = (PyTensor, PyTensor);
    fn lift(self) -> Self::Out {
        (PyTensor::new(self.0), PyTensor::new(self.1))
    }
}

impl Lift for Vec<Tensor> {
    type Out = Vec<PyTensor>;
    fn lift(self) -> Self::Out {
        self.into_iter().map(PyTensor::new).collect()
    }
}

impl Lift for () {
    type Out = ();
    fn lift(self) {}
}

/// Any other argument TF accepts and this eager implementation has no use
/// for (sparsity hints, `validate_indices`, `shift`): accepted, never read.
pub type Ignored = Name;
