//! Block evaluation of a [`Program`]: the broadcast output is cut into the
//! 4096-element chunks of `kernels::reduce` (the same cut for any thread
//! count), and every block goes through all the instructions in scratch
//! slots of one block each, reused once a register is dead.

use std::sync::{Arc, Mutex};

use ndarray::{ArcArray, ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;

use super::vjp::operands;
use super::{Binary, Cmp, Inst, Output, Program, Unary};
use crate::dtype::{DType, Num, Real};
use crate::error::{Error, Result};
use crate::kernels::reduce::{CHUNK, combine, sum_slice};
use crate::kernels::strided::TASK_LEN;
use crate::kernels::{for_each_chunk_mut, parallel};
use crate::ops::unary::{Float, sigmoid_of};
use crate::shape::broadcast_shapes;
use crate::tensor::{Element, Tensor};

/// Elements per block: `reduce_sum`'s chunk, so that a fused sum adds the
/// same numbers in the same order as eager's.
pub(crate) const BLOCK: usize = CHUNK;

/// The eager unary ops' scalar functions, verbatim (`ops::unary`'s rows).
#[inline(always)]
fn unary_fn<T: Float>(op: Unary, v: T) -> T {
    match op {
        Unary::Neg => -v,
        Unary::Abs => {
            if v < T::ZERO {
                -v
            } else {
                v
            }
        }
        Unary::Sign => {
            if v > T::ZERO {
                T::ONE
            } else if v < T::ZERO {
                -T::ONE
            } else {
                v
            }
        }
        Unary::Square => v * v,
        Unary::Exp => Real::exp(v),
        Unary::Log => Real::ln(v),
        Unary::Log1p => v.ln_1p(),
        Unary::Expm1 => v.exp_m1(),
        Unary::Sqrt => Real::sqrt(v),
        Unary::Rsqrt => T::ONE / Real::sqrt(v),
        Unary::Reciprocal => T::ONE / v,
        Unary::Sin => Real::sin(v),
        Unary::Cos => Real::cos(v),
        Unary::Tanh => Real::tanh(v),
        Unary::Sigmoid => sigmoid_of(v),
        Unary::Relu => {
            if v > T::ZERO {
                v
            } else {
                T::ZERO
            }
        }
        Unary::Softplus => {
            (if v > T::ZERO { v } else { T::ZERO }) + Real::exp(-Real::abs(v)).ln_1p()
        }
        Unary::Erf => Float::erf(v),
    }
}

/// The eager binary ops' scalar functions (`ops::binary`'s rows).
#[inline(always)]
fn binary_fn<T: Float>(op: Binary, p: T, q: T) -> T {
    match op {
        Binary::Add => p + q,
        Binary::Sub => p - q,
        Binary::Mul => p * q,
        Binary::Div => p / q,
        Binary::Maximum => {
            if p >= q || p.is_nan() {
                p
            } else {
                q
            }
        }
        Binary::Minimum => {
            if p <= q || p.is_nan() {
                p
            } else {
                q
            }
        }
        Binary::Pow => Num::pow(p, q),
    }
}

#[inline(always)]
fn compare<T: Float>(cmp: Cmp, a: T, b: T) -> bool {
    match cmp {
        Cmp::Gt => a > b,
        Cmp::Ge => a >= b,
        Cmp::Lt => a < b,
        Cmp::Le => a <= b,
        Cmp::Eq => a == b,
    }
}

/// Eager `pow` raises to a scalar exponent of 1, 2 or 3 by products
/// (`small_integer_power`); the fused one does the same.
fn small_power<T: Float>(q: T) -> Option<u8> {
    match q.to_f64() {
        1.0 => Some(1),
        2.0 => Some(2),
        3.0 => Some(3),
        _ => None,
    }
}

#[inline(always)]
fn by_products<T: Float>(x: T, k: u8) -> T {
    match k {
        1 => x,
        2 => x * x,
        _ => x * x * x,
    }
}

/// Where an operand of a block step lives.
#[derive(Clone, Copy, Debug)]
enum Loc<T> {
    /// The same value for every element (a constant, a one-element input,
    /// or an instruction of such operands, evaluated once).
    Uniform(T),
    /// A contiguous input of the full output shape: read in place.
    Flat(usize),
    /// A scratch slot.
    Slot(usize),
}

#[derive(Clone, Copy, Debug)]
enum Step<T> {
    /// Input `input` (a strided broadcast view) gathered into `dst`.
    Gather {
        input: usize,
        dst: usize,
    },
    Unary(Unary, Loc<T>, usize),
    Binary(Binary, Loc<T>, Loc<T>, usize),
    /// `Binary::Pow` with a uniform exponent of 1, 2 or 3.
    Power(Loc<T>, u8, usize),
    Select([Loc<T>; 4], Cmp, usize),
    /// Hand a register to the result `result`.
    Emit(usize, Loc<T>),
}

/// What one result becomes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sink {
    /// The full broadcast shape, written block by block.
    Dense,
    /// Summed to a scalar; `Some(i)`: then shaped like input `i`.
    Scalar(Option<usize>),
    /// Dense, then summed down to input `i`'s shape.
    SumDown(usize),
}

/// What an evaluation plan was made for: the element type, which inputs
/// are flat, the values of one-element inputs (folded into the plan), and
/// the shapes.
#[derive(Clone, PartialEq)]
struct PlanKey {
    dtype: std::any::TypeId,
    flat: Vec<bool>,
    scalars: Vec<Option<u64>>,
    shape: Vec<usize>,
    input_shapes: Vec<Vec<usize>>,
}

type CachedPlan = (PlanKey, Arc<dyn std::any::Any + Send + Sync>);

/// A program's last evaluation plan (empty when cloned: a clone may change).
#[derive(Default)]
pub(super) struct PlanCache(Mutex<Option<CachedPlan>>);

impl Clone for PlanCache {
    fn clone(&self) -> PlanCache {
        PlanCache::default()
    }
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanCache")
    }
}

impl PlanCache {
    /// The plan for `key`: the cached one, or `make`'s (then cached).
    fn get<T: Float + 'static>(
        &self,
        key: PlanKey,
        make: impl FnOnce() -> Plan<T>,
    ) -> Arc<Plan<T>> {
        let cached = match self.0.lock() {
            Ok(slot) => slot
                .as_ref()
                .filter(|(k, _)| *k == key)
                .and_then(|(_, plan)| plan.clone().downcast::<Plan<T>>().ok()),
            Err(_) => None,
        };
        if let Some(plan) = cached {
            return plan;
        }
        let plan = Arc::new(make());
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((key, plan.clone()));
        }
        plan
    }
}

/// The evaluation plan of one program for one set of input layouts.
struct Plan<T> {
    steps: Vec<Step<T>>,
    num_slots: usize,
    sinks: Vec<Sink>,
}

fn plan<T: Float>(
    p: &Program,
    flat: &[bool],
    scalar_inputs: &[Option<T>],
    shape: &[usize],
    input_shapes: &[&[usize]],
) -> Plan<T> {
    let n = p.insts.len();
    // Which registers the results need.
    let mut needed = vec![false; n];
    for out in &p.outputs {
        needed[out.reg()] = true;
    }
    for r in (0..n).rev() {
        if needed[r] {
            for x in operands(&p.insts[r]) {
                needed[x] = true;
            }
        }
    }
    let mut last_read = vec![None; n];
    for (r, inst) in p.insts.iter().enumerate() {
        if needed[r] {
            for x in operands(inst) {
                last_read[x] = Some(r);
            }
        }
    }
    let mut emits: Vec<Vec<usize>> = vec![Vec::new(); n];
    let sinks: Vec<Sink> = p
        .outputs
        .iter()
        .enumerate()
        .map(|(k, out)| {
            emits[out.reg()].push(k);
            match *out {
                Output::Value(_) => Sink::Dense,
                Output::Sum(_) => Sink::Scalar(None),
                Output::SumToInput(_, i) if input_shapes[i] == shape => Sink::Dense,
                Output::SumToInput(_, i) if input_shapes[i].iter().product::<usize>() == 1 => {
                    Sink::Scalar(Some(i))
                }
                Output::SumToInput(_, i) => Sink::SumDown(i),
            }
        })
        .collect();

    let mut locs: Vec<Loc<T>> = vec![Loc::Uniform(T::ZERO); n];
    let mut free: Vec<usize> = Vec::new();
    let mut num_slots = 0;
    let mut steps = Vec::new();
    for r in 0..n {
        if !needed[r] {
            continue;
        }
        let mut slot = || {
            free.pop().unwrap_or_else(|| {
                num_slots += 1;
                num_slots - 1
            })
        };
        let loc = match p.insts[r] {
            Inst::Const(v) => Loc::Uniform(T::from_f64(v)),
            Inst::Input(i) => match scalar_inputs[i] {
                Some(v) => Loc::Uniform(v),
                None if flat[i] => Loc::Flat(i),
                None => {
                    let dst = slot();
                    steps.push(Step::Gather { input: i, dst });
                    Loc::Slot(dst)
                }
            },
            Inst::Unary(op, x) => match locs[x] {
                Loc::Uniform(v) => Loc::Uniform(unary_fn(op, v)),
                a => {
                    let dst = slot();
                    steps.push(Step::Unary(op, a, dst));
                    Loc::Slot(dst)
                }
            },
            Inst::Binary(op, a, b) => match (locs[a], locs[b]) {
                (Loc::Uniform(x), Loc::Uniform(y)) => Loc::Uniform(match (op, small_power(y)) {
                    (Binary::Pow, Some(k)) => by_products(x, k),
                    _ => binary_fn(op, x, y),
                }),
                (la, Loc::Uniform(y)) if op == Binary::Pow && small_power(y).is_some() => {
                    let dst = slot();
                    steps.push(Step::Power(la, small_power(y).unwrap_or(1), dst));
                    Loc::Slot(dst)
                }
                (la, lb) => {
                    let dst = slot();
                    steps.push(Step::Binary(op, la, lb, dst));
                    Loc::Slot(dst)
                }
            },
            Inst::Select {
                cmp,
                lhs,
                rhs,
                then,
                otherwise,
            } => match [locs[lhs], locs[rhs], locs[then], locs[otherwise]] {
                [
                    Loc::Uniform(a),
                    Loc::Uniform(b),
                    Loc::Uniform(t),
                    Loc::Uniform(f),
                ] => Loc::Uniform(if compare(cmp, a, b) { t } else { f }),
                ops => {
                    let dst = slot();
                    steps.push(Step::Select(ops, cmp, dst));
                    Loc::Slot(dst)
                }
            },
        };
        locs[r] = loc;
        for &k in &emits[r] {
            steps.push(Step::Emit(k, loc));
        }
        // Slots whose last reader this was are free for the next ones (the
        // destination was taken first, so it never aliases an operand).
        let mut release = |x: usize| {
            if let Loc::Slot(s) = locs[x] {
                free.push(s);
            }
        };
        for x in operands(&p.insts[r]) {
            if last_read[x] == Some(r) {
                release(x);
                last_read[x] = None;
            }
        }
        if last_read[r].is_none() {
            release(r);
        }
    }
    Plan {
        steps,
        num_slots: num_slots + 1, // one spare, to lay out a uniform result
        sinks,
    }
}

/// Output buffers written from several threads, each block its own range.
struct Dense<T>(Vec<*mut T>);
// SAFETY: every block writes a disjoint range of each buffer.
unsafe impl<T: Send> Send for Dense<T> {}
unsafe impl<T: Send> Sync for Dense<T> {}

/// What a block reads: the inputs, flat or as broadcast views.
struct Inputs<'a, T> {
    flat: Vec<Option<&'a [T]>>,
    views: Vec<ArrayViewD<'a, T>>,
    shape: &'a [usize],
}

/// A read-only operand over one block.
#[derive(Clone, Copy)]
enum Opd<'a, T> {
    U(T),
    S(&'a [T]),
}

impl<T: Copy> Opd<'_, T> {
    #[inline(always)]
    fn at(&self, i: usize) -> T {
        match self {
            Opd::U(v) => *v,
            Opd::S(s) => s[i],
        }
    }
}

#[inline(always)]
fn opd<'s, T: Copy>(
    loc: Loc<T>,
    slots: &'s [Vec<T>],
    inputs: &'s Inputs<'_, T>,
    start: usize,
    len: usize,
) -> Opd<'s, T> {
    match loc {
        Loc::Uniform(v) => Opd::U(v),
        Loc::Slot(s) => Opd::S(&slots[s][..len]),
        Loc::Flat(i) => Opd::S(&inputs.flat[i].unwrap_or(&[])[start..start + len]),
    }
}

#[inline(always)]
fn map1<T: Copy>(x: &[T], dst: &mut [T], f: impl Fn(T) -> T) {
    for (d, &v) in dst.iter_mut().zip(x) {
        *d = f(v);
    }
}

#[inline(always)]
fn map2<T: Copy>(a: Opd<'_, T>, b: Opd<'_, T>, dst: &mut [T], f: impl Fn(T, T) -> T) {
    match (a, b) {
        (Opd::S(x), Opd::S(y)) => {
            for ((d, &p), &q) in dst.iter_mut().zip(x).zip(y) {
                *d = f(p, q);
            }
        }
        (Opd::S(x), Opd::U(q)) => {
            for (d, &p) in dst.iter_mut().zip(x) {
                *d = f(p, q);
            }
        }
        (Opd::U(p), Opd::S(y)) => {
            for (d, &q) in dst.iter_mut().zip(y) {
                *d = f(p, q);
            }
        }
        (Opd::U(p), Opd::U(q)) => dst.fill(f(p, q)),
    }
}

/// One monomorphised loop per op, so each vectorises on its own.
macro_rules! each_op {
    ($op:expr, $ty:ident, [$($v:ident),*], |$o:ident| $body:expr) => {
        match $op { $($ty::$v => { const $o: $ty = $ty::$v; $body })* }
    };
}

#[inline(always)]
fn unary_block<T: Float + 'static>(op: Unary, x: &[T], dst: &mut [T]) {
    // Eager float32 sin/cos run `fastmath`'s slice kernels, whose value per
    // element does not depend on its neighbours: the same kernels here keep
    // a fused chain bitwise equal to the eager ops.
    if matches!(op, Unary::Sin | Unary::Cos)
        && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
    {
        // SAFETY: T is f32 (same TypeId), and MaybeUninit<f32> has
        // f32's layout; both slices keep their lengths.
        let (x, dst) = unsafe {
            (
                std::slice::from_raw_parts(x.as_ptr().cast::<f32>(), x.len()),
                std::slice::from_raw_parts_mut(
                    dst.as_mut_ptr().cast::<std::mem::MaybeUninit<f32>>(),
                    dst.len(),
                ),
            )
        };
        return if op == Unary::Sin {
            crate::fastmath::sin_f32s(x, dst)
        } else {
            crate::fastmath::cos_f32s(x, dst)
        };
    }
    each_op!(
        op,
        Unary,
        [
            Neg, Abs, Sign, Square, Exp, Log, Log1p, Expm1, Sqrt, Rsqrt, Reciprocal, Sin, Cos,
            Tanh, Sigmoid, Relu, Softplus, Erf
        ],
        |OP| map1(
            x,
            dst,
            #[inline(always)]
            |v| unary_fn(OP, v)
        )
    )
}

#[inline(always)]
fn binary_block<T: Float>(op: Binary, a: Opd<'_, T>, b: Opd<'_, T>, dst: &mut [T]) {
    each_op!(
        op,
        Binary,
        [Add, Sub, Mul, Div, Maximum, Minimum, Pow],
        |OP| map2(
            a,
            b,
            dst,
            #[inline(always)]
            |p, q| binary_fn(OP, p, q)
        )
    )
}

/// `if a <cmp> b { t } else { f }` element by element. The comparisons of
/// one slice with a uniform value (`relu`'s routes, `maximum`'s ties) get
/// loops of their own, which vectorise; the rest go element by element.
#[inline(always)]
fn select_block<T: Float>(cmp: Cmp, [a, b, t, f]: [Opd<'_, T>; 4], dst: &mut [T]) {
    each_op!(cmp, Cmp, [Gt, Ge, Lt, Le, Eq], |CMP| match (a, b, t, f) {
        (Opd::S(a), Opd::U(b), Opd::S(t), Opd::U(f)) => {
            for ((d, &x), &y) in dst.iter_mut().zip(a).zip(t) {
                *d = if compare(CMP, x, b) { y } else { f };
            }
        }
        (Opd::S(a), Opd::U(b), Opd::U(t), Opd::S(f)) => {
            for ((d, &x), &y) in dst.iter_mut().zip(a).zip(f) {
                *d = if compare(CMP, x, b) { t } else { y };
            }
        }
        (Opd::S(a), Opd::S(b), Opd::S(t), Opd::U(f)) => {
            for (((d, &x), &z), &y) in dst.iter_mut().zip(a).zip(b).zip(t) {
                *d = if compare(CMP, x, z) { y } else { f };
            }
        }
        (Opd::S(a), Opd::S(b), Opd::U(t), Opd::S(f)) => {
            for (((d, &x), &z), &y) in dst.iter_mut().zip(a).zip(b).zip(f) {
                *d = if compare(CMP, x, z) { t } else { y };
            }
        }
        _ => {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = if compare(CMP, a.at(i), b.at(i)) {
                    t.at(i)
                } else {
                    f.at(i)
                };
            }
        }
    })
}

/// Gathers elements `[start, start + dst.len())` of a broadcast view in
/// logical order.
fn gather<T: Copy>(view: &ArrayViewD<'_, T>, shape: &[usize], start: usize, dst: &mut [T]) {
    // A contiguous input broadcast along leading axes only (a bias row):
    // element i of the output is element i mod len of the input, so the
    // block is copies of stretches of the input.
    if let Some(row) = repeated_row(view, shape) {
        let mut offset = start % row.len();
        let mut done = 0;
        while done < dst.len() {
            let take = (row.len() - offset).min(dst.len() - done);
            dst[done..done + take].copy_from_slice(&row[offset..offset + take]);
            done += take;
            offset = 0;
        }
        return;
    }
    let strides = view.strides();
    let nd = shape.len();
    let mut idx = vec![0usize; nd];
    let mut rest = start;
    let mut offset: isize = 0;
    for d in (0..nd).rev() {
        idx[d] = rest % shape[d];
        rest /= shape[d];
        offset += idx[d] as isize * strides[d];
    }
    let base = view.as_ptr();
    for slot in dst.iter_mut() {
        // SAFETY: idx stays inside `shape`, so the offset stays inside the view.
        *slot = unsafe { *base.offset(offset) };
        for d in (0..nd).rev() {
            idx[d] += 1;
            offset += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            offset -= strides[d] * shape[d] as isize;
            idx[d] = 0;
        }
    }
}

/// The input of `view` as one contiguous row when the view only repeats it
/// along leading axes: strides 0 on a leading run of axes, then the
/// row-major strides of the rest.
fn repeated_row<'a, T>(view: &ArrayViewD<'a, T>, shape: &[usize]) -> Option<&'a [T]> {
    let strides = view.strides();
    let lead = strides.iter().take_while(|&&s| s == 0).count();
    let mut expected: isize = 1;
    for d in (lead..shape.len()).rev() {
        if shape[d] != 1 && strides[d] != expected {
            return None;
        }
        expected *= shape[d] as isize;
    }
    let len: usize = shape[lead..].iter().product();
    if len == 0 || lead == 0 {
        return None;
    }
    // SAFETY: the view's elements at offsets 0..len are the row (checked
    // strides: row-major over the trailing axes), all inside its buffer.
    Some(unsafe { std::slice::from_raw_parts(view.as_ptr(), len) })
}

/// Runs every step over block `b`: dense results written to `dense`,
/// block sums returned in result order (0 for dense results).
#[inline(always)]
fn block<T: Float>(
    b: usize,
    n: usize,
    plan: &Plan<T>,
    inputs: &Inputs<'_, T>,
    dense: &Dense<T>,
    slots: &mut [Vec<T>],
) -> Vec<T> {
    let start = b * BLOCK;
    let len = BLOCK.min(n - start);
    let mut sums = vec![T::ZERO; plan.sinks.len()];
    for step in &plan.steps {
        match *step {
            Step::Gather { input, dst } => {
                gather(
                    &inputs.views[input],
                    inputs.shape,
                    start,
                    &mut slots[dst][..len],
                );
            }
            Step::Unary(op, x, dst) => {
                let mut out = std::mem::take(&mut slots[dst]);
                if let Opd::S(x) = opd(x, slots, inputs, start, len) {
                    unary_block(op, x, &mut out[..len]);
                }
                slots[dst] = out;
            }
            Step::Binary(op, a, bb, dst) => {
                let mut out = std::mem::take(&mut slots[dst]);
                let (a, bb) = (
                    opd(a, slots, inputs, start, len),
                    opd(bb, slots, inputs, start, len),
                );
                binary_block(op, a, bb, &mut out[..len]);
                slots[dst] = out;
            }
            Step::Power(x, k, dst) => {
                let mut out = std::mem::take(&mut slots[dst]);
                if let Opd::S(x) = opd(x, slots, inputs, start, len) {
                    match k {
                        1 => map1(x, &mut out[..len], |v| by_products(v, 1)),
                        2 => map1(x, &mut out[..len], |v| by_products(v, 2)),
                        _ => map1(x, &mut out[..len], |v| by_products(v, 3)),
                    }
                }
                slots[dst] = out;
            }
            Step::Select(locs, cmp, dst) => {
                let mut out = std::mem::take(&mut slots[dst]);
                let [a, bb, t, f] = locs.map(|l| opd(l, slots, inputs, start, len));
                select_block(cmp, [a, bb, t, f], &mut out[..len]);
                slots[dst] = out;
            }
            Step::Emit(k, loc) => {
                let spare = slots.len() - 1;
                let values: &[T] = match opd(loc, slots, inputs, start, len) {
                    Opd::S(s) => s,
                    Opd::U(v) => {
                        slots[spare][..len].fill(v);
                        &slots[spare][..len]
                    }
                };
                match plan.sinks[k] {
                    Sink::Scalar(_) => sums[k] = sum_slice(values),
                    Sink::Dense | Sink::SumDown(_) => {
                        // SAFETY: the buffer holds n elements; this block
                        // alone writes [start, start + len).
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                values.as_ptr(),
                                dense.0[k].add(start),
                                len,
                            )
                        };
                    }
                }
            }
        }
    }
    sums
}

/// `block`, compiled again for the widest vector unit the CPU has (as
/// `kernels::strided` does): values are the same bits either way, since the
/// compiler never contracts a·b + c into an FMA on its own.
fn block_wide<T: Float>(
    b: usize,
    n: usize,
    plan: &Plan<T>,
    inputs: &Inputs<'_, T>,
    dense: &Dense<T>,
    slots: &mut [Vec<T>],
) -> Vec<T> {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi2")]
        unsafe fn avx512<T: Float>(
            b: usize,
            n: usize,
            plan: &Plan<T>,
            inputs: &Inputs<'_, T>,
            dense: &Dense<T>,
            slots: &mut [Vec<T>],
        ) -> Vec<T> {
            block(b, n, plan, inputs, dense, slots)
        }
        #[target_feature(enable = "avx2,fma,bmi2")]
        unsafe fn avx2<T: Float>(
            b: usize,
            n: usize,
            plan: &Plan<T>,
            inputs: &Inputs<'_, T>,
            dense: &Dense<T>,
            slots: &mut [Vec<T>],
        ) -> Vec<T> {
            block(b, n, plan, inputs, dense, slots)
        }
        match crate::kernels::strided::simd_level() {
            // SAFETY: the CPU has the features (checked at run time).
            2 => return unsafe { avx512(b, n, plan, inputs, dense, slots) },
            // SAFETY: as above.
            1 => return unsafe { avx2(b, n, plan, inputs, dense, slots) },
            _ => {}
        }
    }
    block(b, n, plan, inputs, dense, slots)
}

/// Evaluates `p` on `inputs` (validated here); no recording.
pub(super) fn run(p: &Program, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    p.validate()?;
    if inputs.len() != p.num_inputs {
        return Err(Error::invalid(
            "fuse",
            format!(
                "the program takes {} inputs, {} given",
                p.num_inputs,
                inputs.len()
            ),
        ));
    }
    let Some(first) = inputs.first() else {
        return Err(Error::invalid(
            "fuse",
            "a fused program needs at least one input (its dtype and shape)",
        ));
    };
    let dtype = first.dtype();
    let mut shape: Vec<usize> = Vec::new();
    for x in inputs {
        if x.dtype() != dtype {
            return Err(Error::DTypeMismatch {
                op: "fuse",
                lhs: dtype,
                rhs: x.dtype(),
            });
        }
        shape = broadcast_shapes("fuse", &shape, x.shape())?;
    }
    match dtype {
        DType::F32 => run_typed::<f32>(p, inputs, &shape),
        DType::F64 => run_typed::<f64>(p, inputs, &shape),
        other => Err(Error::UnsupportedDType {
            op: "fuse",
            dtype: other,
            allowed: "float32, float64",
        }),
    }
}

fn run_typed<T: Float + Element>(
    p: &Program,
    inputs: &[Tensor],
    shape: &[usize],
) -> Result<Vec<Tensor>> {
    let arrays: Vec<&ArcArray<T, IxDyn>> = inputs
        .iter()
        .map(|x| {
            x.array::<T>()
                .ok_or_else(|| Error::invalid("fuse", "input of the wrong dtype"))
        })
        .collect::<Result<_>>()?;
    let n: usize = shape.iter().product();
    let flat: Vec<Option<&[T]>> = arrays
        .iter()
        .map(|a| {
            if a.shape() == shape {
                a.as_slice()
            } else {
                None
            }
        })
        .collect();
    let scalars: Vec<Option<T>> = arrays
        .iter()
        .map(|a| {
            if a.len() == 1 {
                a.iter().next().copied()
            } else {
                None
            }
        })
        .collect();
    let views: Vec<ArrayViewD<'_, T>> = arrays
        .iter()
        .map(|a| {
            a.broadcast(IxDyn(shape)).ok_or_else(|| {
                Error::invalid("fuse", "an input does not broadcast to the output shape")
            })
        })
        .collect::<Result<_>>()?;
    let input_shapes: Vec<&[usize]> = arrays.iter().map(|a| a.shape()).collect();
    let is_flat: Vec<bool> = flat.iter().map(Option::is_some).collect();
    let key = PlanKey {
        dtype: std::any::TypeId::of::<T>(),
        flat: is_flat.clone(),
        scalars: scalars
            .iter()
            .map(|v| v.map(|v| v.to_f64().to_bits()))
            .collect(),
        shape: shape.to_vec(),
        input_shapes: input_shapes.iter().map(|s| s.to_vec()).collect(),
    };
    let plan = p.plans.get(key, || {
        plan::<T>(p, &is_flat, &scalars, shape, &input_shapes)
    });

    let mut buffers: Vec<Vec<T>> = plan
        .sinks
        .iter()
        .map(|s| match s {
            Sink::Scalar(_) => Vec::new(),
            _ => Vec::with_capacity(n),
        })
        .collect();
    let dense = Dense(buffers.iter_mut().map(|b| b.as_mut_ptr()).collect());
    let inputs_view = Inputs { flat, views, shape };
    let num_blocks = n.div_ceil(BLOCK);
    let scratch = || vec![vec![T::ZERO; BLOCK.min(n)]; plan.num_slots];
    let evaluate =
        |b: usize, slots: &mut Vec<Vec<T>>| block_wide(b, n, &plan, &inputs_view, &dense, slots);
    let sums: Vec<Vec<T>> = if parallel(n) && rayon::current_thread_index().is_some() {
        // on a pool thread (a replay moved there): rayon's own split, which
        // balances the blocks finely and makes one scratch per split
        (0..num_blocks)
            .into_par_iter()
            .map_init(scratch, |slots, b| evaluate(b, slots))
            .collect()
    } else {
        // Trap: rayon's `par_iter` from outside the pool sends the whole
        // loop to the pool and blocks the caller until a pool thread wakes
        // it, two wake-ups per fused step; a 100k-element Hessian-vector
        // product replayed on its caller took 580-930 µs that way against
        // 450-540 µs shared the way the eager kernels share theirs
        // (`kernels::for_each_chunk_mut`: the caller runs pieces itself and
        // wakes a pool thread only when the rest pays for it), in pieces of
        // `TASK_LEN` elements with one scratch each.
        let per_piece = (TASK_LEN / BLOCK).max(1);
        let mut sums = vec![Vec::new(); num_blocks];
        for_each_chunk_mut(&mut sums, per_piece, parallel(n), |t, piece| {
            let mut slots = scratch();
            for (i, sum) in piece.iter_mut().enumerate() {
                *sum = evaluate(t * per_piece + i, &mut slots);
            }
        });
        sums
    };
    drop(dense);
    let mut results = Vec::with_capacity(plan.sinks.len());
    for (k, (sink, mut buffer)) in plan.sinks.iter().zip(buffers).enumerate() {
        results.push(match *sink {
            Sink::Scalar(like) => {
                let parts: Vec<T> = sums.iter().map(|s| s[k]).collect();
                let total = combine(&parts);
                let out_shape = like.map_or(&[][..], |i| arrays[i].shape());
                Tensor::from_array(ArrayD::from_elem(IxDyn(out_shape), total))
            }
            Sink::Dense | Sink::SumDown(_) => {
                // SAFETY: every block wrote its range: all n elements are set.
                unsafe { buffer.set_len(n) };
                let full = Tensor::from_array(
                    ArrayD::from_shape_vec(IxDyn(shape), buffer)
                        .map_err(|e| Error::invalid("fuse", e.to_string()))?,
                );
                match *sink {
                    Sink::SumDown(i) => crate::ops::sum_to_shape(&full, arrays[i].shape())?,
                    _ => full,
                }
            }
        });
    }
    Ok(results)
}
