//! String tensors (`tf.string`) in the core: building them, and the kernels
//! the dtype-generic ops call in their `str` arms. Strings are moved (reshape,
//! transpose, slices, gather, concat, broadcast, `where`) and compared
//! (`equal`, `not_equal`); every other op refuses them, and no tape ever
//! differentiates them. An element is a `Bytes` (`Arc<[u8]>`): moving one
//! copies a pointer, never the bytes. The text functions (`tf.strings.*`)
//! are Python over these tensors' numpy object arrays.

use ndarray::{ArcArray, ArrayD, IxDyn, Zip};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{Bytes, Data, Tensor};

/// A string tensor of `shape` from its elements in row-major order.
pub fn from_bytes<B: Into<Bytes>>(
    shape: &[usize],
    items: impl IntoIterator<Item = B>,
) -> Result<Tensor> {
    crate::tensor::check_alloc("constant", DType::String, shape)?;
    let items: Vec<Bytes> = items.into_iter().map(Into::into).collect();
    let n = items.len();
    ArrayD::from_shape_vec(IxDyn(shape), items)
        .map(|a| Tensor::from_data(Data::Str(a.into_shared())))
        .map_err(|_| {
            Error::invalid(
                "constant",
                format!("{n} strings do not fill shape {shape:?}"),
            )
        })
}

/// `a` in standard (row-major) layout, sharing storage when it already is.
pub(crate) fn standard(a: &ArcArray<Bytes, IxDyn>) -> ArcArray<Bytes, IxDyn> {
    if a.is_standard_layout() {
        a.clone()
    } else {
        a.as_standard_layout().into_owned().into_shared()
    }
}

/// `a` broadcast up to `shape` (the caller validated the shapes).
pub(crate) fn broadcast(
    op: &'static str,
    a: &ArcArray<Bytes, IxDyn>,
    shape: &[usize],
) -> Result<ArcArray<Bytes, IxDyn>> {
    let view = a
        .broadcast(IxDyn(shape))
        .ok_or_else(|| Error::ShapeMismatch {
            op,
            lhs: a.shape().to_vec(),
            rhs: shape.to_vec(),
        })?;
    Ok(view.to_owned().into_shared())
}

/// `cond ? a : b` elementwise, all broadcast to `shape`.
pub(crate) fn select(
    cond: &ArcArray<bool, IxDyn>,
    a: &ArcArray<Bytes, IxDyn>,
    b: &ArcArray<Bytes, IxDyn>,
    shape: &[usize],
) -> Result<ArcArray<Bytes, IxDyn>> {
    let op = "SelectV2";
    let (a, b) = (broadcast(op, a, shape)?, broadcast(op, b, shape)?);
    let c = cond
        .broadcast(IxDyn(shape))
        .ok_or_else(|| Error::ShapeMismatch {
            op,
            lhs: cond.shape().to_vec(),
            rhs: shape.to_vec(),
        })?;
    Ok(Zip::from(&c)
        .and(&a)
        .and(&b)
        .map_collect(|&c, x, y| if c { x.clone() } else { y.clone() })
        .into_shared())
}

/// The string arm of the binary ops (`None` when neither operand is a
/// string): `tf.add` of two string tensors joins each pair of elements,
/// broadcasting as the numeric ops do (TF's `AddV2` on strings, also `a + b`);
/// a string with a number, or any other binary op, is refused as TF refuses it.
pub(crate) fn binary(op: &'static str, a: &Tensor, b: &Tensor) -> Option<Result<Tensor>> {
    let strings = a.dtype() == DType::String || b.dtype() == DType::String;
    strings.then(|| {
        crate::ops::same_dtype(op, a, b)?;
        let shape = crate::shape::broadcast_output(op, DType::String, a.shape(), b.shape())?;
        match (a.data(), b.data()) {
            (Data::Str(x), Data::Str(y)) if op == "AddV2" => {
                let mismatch = || Error::ShapeMismatch {
                    op,
                    lhs: x.shape().to_vec(),
                    rhs: y.shape().to_vec(),
                };
                let p = x.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?;
                let q = y.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?;
                let joined = Zip::from(&p)
                    .and(&q)
                    .map_collect(|p, q| Bytes::from([&p[..], &q[..]].concat()));
                Ok(Tensor::from_data(Data::Str(joined.into_shared())))
            }
            _ => Err(Error::UnsupportedDType {
                op,
                dtype: DType::String,
                allowed: "numeric dtypes (strings join with tf.add only)",
            }),
        }
    })
}

/// `cmp(a, b)` elementwise over the bytes, broadcast to `shape`: `equal`
/// and `not_equal` (TF has no string ordering ops).
pub(crate) fn compare(
    op: &'static str,
    a: &ArcArray<Bytes, IxDyn>,
    b: &ArcArray<Bytes, IxDyn>,
    shape: &[usize],
    cmp: impl Fn(&Bytes, &Bytes) -> bool,
) -> Result<ArcArray<bool, IxDyn>> {
    if !matches!(op, "Equal" | "NotEqual") {
        return Err(Error::UnsupportedDType {
            op,
            dtype: DType::String,
            allowed: "numeric dtypes (strings compare only with equal/not_equal)",
        });
    }
    let mismatch = || Error::ShapeMismatch {
        op,
        lhs: a.shape().to_vec(),
        rhs: b.shape().to_vec(),
    };
    let x = a.broadcast(IxDyn(shape)).ok_or_else(mismatch)?;
    let y = b.broadcast(IxDyn(shape)).ok_or_else(mismatch)?;
    Ok(Zip::from(&x).and(&y).map_collect(cmp).into_shared())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(shape: &[usize], items: &[&str]) -> Tensor {
        from_bytes(shape, items.iter().map(|s| s.as_bytes())).unwrap()
    }

    fn items(t: &Tensor) -> Vec<String> {
        let Data::Str(a) = t.data() else {
            panic!("not a string tensor")
        };
        a.iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn shape_ops_move_strings() {
        let t = strings(&[2, 3], &["a", "b", "c", "d", "e", "f"]);
        assert_eq!(t.dtype(), DType::String);
        let tt = crate::ops::transpose(&t, None).unwrap();
        assert_eq!(
            items(&crate::ops::reshape(&tt, &[-1]).unwrap()),
            ["a", "d", "b", "e", "c", "f"]
        );
        let idx = Tensor::from_vec(&[2], vec![2i64, 0]).unwrap();
        let g = crate::ops::gather(&t, &idx, 1, 0).unwrap();
        assert_eq!(items(&g), ["c", "a", "f", "d"]);
        let c = crate::ops::concat(&[t.clone(), g], 1).unwrap();
        assert_eq!(c.shape(), &[2, 5]);
        let b = crate::ops::broadcast_to(&strings(&[1], &["x"]), &[3]).unwrap();
        assert_eq!(items(&b), ["x", "x", "x"]);
        let tiled = crate::ops::tile(&strings(&[2], &["p", "q"]), &[2]).unwrap();
        assert_eq!(items(&tiled), ["p", "q", "p", "q"]);
        let padded = crate::ops::pad(&strings(&[1], &["a"]), &[(1, 1)], 0.0).unwrap();
        assert_eq!(items(&padded), ["", "a", ""]);
        assert!(crate::ops::ones(DType::String, &[2]).is_err());
        assert_eq!(strings(&[], &["a"]).item_truth(), Some(true));
        assert_eq!(strings(&[1], &[""]).item_truth(), Some(false));
    }

    #[test]
    fn add_joins_strings_with_broadcasting_and_nothing_else_computes_on_them() {
        let a = strings(&[2, 1], &["a", "b"]);
        let b = strings(&[2], &["x", "yz"]);
        let joined = crate::ops::add(&a, &b).unwrap();
        assert_eq!(joined.shape(), &[2, 2]);
        assert_eq!(items(&joined), ["ax", "ayz", "bx", "byz"]);
        assert!(crate::ops::subtract(&a, &b).is_err());
        assert!(crate::ops::multiply(&a, &a).is_err());
        let mixed = crate::ops::add(&a, &Tensor::scalar(1i32)).unwrap_err();
        assert!(
            mixed
                .to_string()
                .contains("expected to be a string tensor but is a int32")
        );
        let bad = crate::ops::add(
            &strings(&[2], &["a", "b"]),
            &strings(&[3], &["a", "b", "c"]),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn from_bytes_checks_the_shape() {
        let t = from_bytes(&[2], [&b"a"[..], &b"\xff"[..]]).unwrap();
        assert_eq!(t.shape(), &[2]);
        assert!(from_bytes(&[3], [&b"a"[..]]).is_err());
        assert_eq!(from_bytes(&[0], Vec::<Bytes>::new()).unwrap().shape(), &[0]);
    }

    #[test]
    fn where_and_equal_take_strings_and_arithmetic_refuses_them() {
        let a = strings(&[3], &["a", "b", "c"]);
        let b = strings(&[3], &["a", "x", "c"]);
        let eq = crate::ops::equal(&a, &b).unwrap();
        assert_eq!(
            eq.array::<bool>().unwrap().as_slice().unwrap(),
            &[true, false, true]
        );
        let picked = crate::ops::where_(&eq, &a, &strings(&[], &["-"])).unwrap();
        assert_eq!(items(&picked), ["a", "-", "c"]);
        assert!(crate::ops::less(&a, &b).is_err());
        assert!(crate::ops::cast(&a, DType::F32).is_err());
        assert!(crate::ops::reduce_sum(&a, None, false).is_err());
        assert!(crate::ops::exp(&a).is_err());
    }
}
