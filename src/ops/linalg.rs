//! Matrix products.

use crate::error::{Error, Result};
use crate::kernels::matmul::{as_2d, matmul_2d, matmul_2d_naive, matmul_batched};
use crate::ops::same_dtype;
use crate::shape::broadcast_shapes;
use crate::tape;
use crate::tensor::{Data, Tensor, check_alloc};

/// `op(a) @ op(b)`, `op` transposing the last two axes when its flag is
/// set. Rank-2 operands are matrices; higher ranks are stacks of matrices
/// whose leading (batch) dimensions broadcast, as in `tf.linalg.matmul`.
pub fn matmul(a: &Tensor, b: &Tensor, transpose_a: bool, transpose_b: bool) -> Result<Tensor> {
    let op = "MatMul";
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
    let (ta, tb) = (transpose_a, transpose_b);
    macro_rules! product {
        ($x:expr, $y:expr, $mm:expr) => {
            if ra == 2 && rb == 2 {
                $mm(as_2d($x), as_2d($y), ta, tb).into_shared()
            } else {
                let m = if ta {
                    a.shape()[ra - 1]
                } else {
                    a.shape()[ra - 2]
                };
                let n = if tb {
                    b.shape()[rb - 2]
                } else {
                    b.shape()[rb - 1]
                };
                check_alloc(op, a.dtype(), &[batch.iter().product::<usize>(), m, n])?;
                matmul_batched($x, $y, ta, tb, &batch, $mm).into_shared()
            }
        };
    }
    let out = Tensor::from_data(match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => Data::F32(product!(x, y, matmul_2d::<f32>)),
        (Data::F64(x), Data::F64(y)) => Data::F64(product!(x, y, matmul_2d::<f64>)),
        (Data::I32(x), Data::I32(y)) => Data::I32(product!(x, y, matmul_2d_naive::<i32>)),
        (Data::I64(x), Data::I64(y)) => Data::I64(product!(x, y, matmul_2d_naive::<i64>)),
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
        // With C = op(A)·op(B) and upstream G (per matrix of a stack; the
        // traversal sums broadcast batch dimensions back down):
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
