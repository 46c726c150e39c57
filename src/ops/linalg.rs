//! Matrix products.

use crate::error::{Error, Result};
use crate::kernels::matmul::{as_2d, matmul_2d, matmul_2d_naive};
use crate::ops::same_dtype;
use crate::tape;
use crate::tensor::{Data, Tensor};

/// `op(a) @ op(b)` for rank-2 tensors, `op` transposing when its flag is set.
pub fn matmul(a: &Tensor, b: &Tensor, transpose_a: bool, transpose_b: bool) -> Result<Tensor> {
    let op = "MatMul";
    same_dtype(op, a, b)?;
    if a.rank() != 2 || b.rank() != 2 {
        return Err(Error::invalid(
            op,
            format!(
                "In[0] and In[1] must be matrices (rank 2), got shapes {:?} and {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let k_a = a.shape()[if transpose_a { 0 } else { 1 }];
    let k_b = b.shape()[if transpose_b { 1 } else { 0 }];
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
    let (ta, tb) = (transpose_a, transpose_b);
    let out = Tensor::from_data(match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => {
            Data::F32(matmul_2d(as_2d(x), as_2d(y), ta, tb).into_shared())
        }
        (Data::F64(x), Data::F64(y)) => {
            Data::F64(matmul_2d(as_2d(x), as_2d(y), ta, tb).into_shared())
        }
        (Data::I32(x), Data::I32(y)) => {
            Data::I32(matmul_2d_naive(as_2d(x), as_2d(y), ta, tb).into_shared())
        }
        (Data::I64(x), Data::I64(y)) => {
            Data::I64(matmul_2d_naive(as_2d(x), as_2d(y), ta, tb).into_shared())
        }
        _ => {
            return Err(Error::UnsupportedDType {
                op,
                dtype: a.dtype(),
                allowed: "float32, float64, int32, int64",
            });
        }
    });
    tape::record(op, &[a, b], &[&out], || {
        let (a, b) = (a.clone(), b.clone());
        // With C = op(A)·op(B) and upstream G:
        //   C = A·B    : dA = G·Bᵀ    dB = Aᵀ·G
        //   C = A·Bᵀ   : dA = G·B     dB = Gᵀ·A
        //   C = Aᵀ·B   : dA = B·Gᵀ    dB = A·G
        //   C = Aᵀ·Bᵀ  : dA = Bᵀ·Gᵀ   dB = Gᵀ·Aᵀ
        Box::new(move |grads, need| {
            let g = &grads[0];
            let da = || match (ta, tb) {
                (false, false) => matmul(g, &b, false, true),
                (false, true) => matmul(g, &b, false, false),
                (true, false) => matmul(&b, g, false, true),
                (true, true) => matmul(&b, g, true, true),
            };
            let db = || match (ta, tb) {
                (false, false) => matmul(&a, g, true, false),
                (false, true) => matmul(g, &a, true, false),
                (true, false) => matmul(&a, g, false, false),
                (true, true) => matmul(g, &a, true, true),
            };
            Ok(vec![
                if need[0] { Some(da()?) } else { None },
                if need[1] { Some(db()?) } else { None },
            ])
        })
    });
    Ok(out)
}
