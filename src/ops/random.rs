//! Seeded random tensors with TF's seeding rules: after `set_seed(s)` the
//! sequence of random ops is reproducible; an op-level `seed` makes one op
//! reproducible (repeated calls with the same op seed still advance, as in
//! TF's eager mode), also without a global seed (then, as in TF, a fixed
//! default global seed is used, so every run gives the same values); with
//! neither, values come from fresh entropy.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::alloc::try_collect;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::float_only;
use crate::tensor::{Tensor, check_alloc};

/// The seeding state (global seed and counters), which `seed_state` and
/// `restore_seed_state` save and put back (a replay that must be undone).
#[derive(Clone, Default)]
pub struct SeedState {
    global: Option<u64>,
    /// Calls without an op seed since the global seed was set.
    counter: u64,
    /// Calls per op seed since the global seed was set.
    per_op: HashMap<u64, u64>,
}

static SEEDS: Mutex<Option<SeedState>> = Mutex::new(None);

/// The global seed TF assumes when only an op seed is given (its `DEFAULT_GRAPH_SEED`).
const DEFAULT_GLOBAL_SEED: u64 = 87_654_321;

/// TF's `tf.random.set_seed`: resets every random sequence.
pub fn set_seed(seed: Option<u64>) {
    let mut st = SEEDS.lock().unwrap_or_else(|e| e.into_inner());
    *st = Some(SeedState {
        global: seed,
        ..SeedState::default()
    });
}

/// The seeding state now.
pub fn seed_state() -> SeedState {
    let st = SEEDS.lock().unwrap_or_else(|e| e.into_inner());
    st.clone().unwrap_or_default()
}

/// Put back a state from `seed_state`: the random ops that follow repeat
/// the values they gave after it was taken.
pub fn restore_seed_state(state: SeedState) {
    *SEEDS.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
}

thread_local! {
    /// Keys being logged by `record_keys` (innermost last; every log sees
    /// every key) and being replayed by `replay_keys` (the innermost wins).
    static KEY_LOGS: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
    static REPLAYS: RefCell<Vec<VecDeque<u64>>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` and return, with its result, the keys of the random streams it
/// drew on this thread: `replay_keys` runs a computation again with the same
/// random numbers (`recompute_grad`: the backward pass re-runs the forward,
/// and its dropout mask must be the forward's).
pub fn record_keys<T>(f: impl FnOnce() -> T) -> (T, Vec<u64>) {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            KEY_LOGS.with(|l| l.borrow_mut().pop());
        }
    }
    KEY_LOGS.with(|l| l.borrow_mut().push(Vec::new()));
    let pop = Pop;
    let out = f();
    let keys = KEY_LOGS.with(|l| l.borrow_mut().last_mut().map(std::mem::take));
    drop(pop);
    (out, keys.unwrap_or_default())
}

/// Run `f` with its random ops taking `keys` in order instead of drawing
/// (so neither the global sequence nor any op seed's advances); past the
/// last key, ops draw as usual.
pub fn replay_keys<T>(keys: &[u64], f: impl FnOnce() -> T) -> T {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            REPLAYS.with(|r| r.borrow_mut().pop());
        }
    }
    REPLAYS.with(|r| r.borrow_mut().push(keys.iter().copied().collect()));
    let _pop = Pop;
    f()
}

/// Are random keys being logged or replayed on this thread (work moved to
/// another thread would draw outside them)?
pub fn keys_in_use() -> bool {
    KEY_LOGS.with(|l| !l.borrow().is_empty()) || REPLAYS.with(|r| !r.borrow().is_empty())
}

/// The key of the next random stream: replayed, or drawn (and logged).
fn next_key(op_seed: Option<u64>) -> u64 {
    let replayed = REPLAYS.with(|r| r.borrow_mut().last_mut().and_then(VecDeque::pop_front));
    let key = replayed.unwrap_or_else(|| draw_key(op_seed));
    KEY_LOGS.with(|l| l.borrow_mut().iter_mut().for_each(|log| log.push(key)));
    key
}

/// Draw the key of a new random stream from the seeding state.
fn draw_key(op_seed: Option<u64>) -> u64 {
    let mut guard = SEEDS.lock().unwrap_or_else(|e| e.into_inner());
    let st = guard.get_or_insert_with(SeedState::default);
    let global = st.global.unwrap_or_else(|| {
        // No global seed but an op seed: TF uses a fixed default global seed, so the
        // op's sequence is the same in every run of the program.
        if op_seed.is_some() {
            return DEFAULT_GLOBAL_SEED;
        }
        // Neither: a new stream every call (TF draws from the OS here too).
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ (std::process::id() as u64).rotate_left(32)
    });
    match op_seed {
        None => {
            st.counter += 1;
            mix(mix(global) ^ st.counter)
        }
        Some(s) => {
            let n = st.per_op.entry(s).or_insert(0);
            *n += 1;
            mix(mix(mix(global) ^ s.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ *n)
        }
    }
}

/// splitmix64's finaliser: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++, seeded from one key through splitmix64.
struct Stream([u64; 4]);

impl Stream {
    fn new(key: u64) -> Stream {
        let mut s = [0; 4];
        let mut k = key;
        for x in &mut s {
            k = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *x = mix(k);
        }
        Stream(s)
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box–Muller (the pair's second value is dropped to
    /// keep one draw per element, so streams never depend on parity).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn fill(dtype: DType, shape: &[usize], f: impl FnMut() -> f64) -> Result<Tensor> {
    if dtype.is_storage_only() {
        let wide = fill(dtype.compute_dtype(), shape, f)?;
        return crate::ops::convert_dtype(&wide, dtype);
    }
    let n: usize = shape.iter().product();
    let vals = std::iter::repeat_with(f).take(n);
    let op = "random";
    match dtype {
        DType::F32 => Tensor::from_vec(shape, try_collect(op, shape, vals.map(|v| v as f32))?),
        DType::F64 => Tensor::from_vec(shape, try_collect(op, shape, vals)?),
        DType::I32 => Tensor::from_vec(shape, try_collect(op, shape, vals.map(|v| v as i32))?),
        DType::I64 => Tensor::from_vec(shape, try_collect(op, shape, vals.map(|v| v as i64))?),
        DType::Bool => Err(Error::UnsupportedDType {
            op: "random",
            dtype,
            allowed: "numeric",
        }),
        other => Err(Error::UnsupportedDType {
            op: "random",
            dtype: other,
            allowed: "numeric",
        }),
    }
}

/// Normal samples with the given mean and standard deviation.
pub fn normal(
    shape: &[usize],
    mean: f64,
    stddev: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    let op = "RandomStandardNormal";
    float_only(op, dtype)?;
    check_alloc(op, dtype, shape)?;
    let mut s = Stream::new(next_key(seed));
    fill(dtype, shape, || mean + stddev * s.normal())
}

/// Uniform samples in `[minval, maxval)`; integer dtypes need `minval < maxval`.
pub fn uniform(
    shape: &[usize],
    minval: f64,
    maxval: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    let op = "RandomUniform";
    check_alloc(op, dtype, shape)?;
    let mut s = Stream::new(next_key(seed));
    if dtype.is_int() {
        // (a NaN or fractional bound would give an empty or wrapped span)
        let whole = |v: f64| v.is_finite() && v.fract() == 0.0;
        if !whole(minval) || !whole(maxval) {
            return Err(Error::invalid(
                op,
                format!(
                    "an integer dtype ({}) needs whole-number bounds, got minval={minval:?}, maxval={maxval:?}",
                    dtype.name()
                ),
            ));
        }
        if minval >= maxval {
            return Err(Error::invalid(
                op,
                format!("Need minval < maxval, got {minval} >= {maxval}"),
            ));
        }
        let span = (maxval - minval) as u64;
        return fill(dtype, shape, || minval + (s.next_u64() % span) as f64);
    }
    float_only(op, dtype)?;
    // computed in f64 and rounded: a draw just below 1 could round up to
    // maxval in float32, so clamp to the largest value below it
    let top = if dtype == DType::F32 {
        f32_below(maxval as f32) as f64
    } else {
        maxval
    };
    fill(dtype, shape, || {
        (minval + (maxval - minval) * s.uniform())
            .min(top)
            .max(minval)
    })
}

/// Normal samples, redrawn until within two standard deviations of the mean.
pub fn truncated_normal(
    shape: &[usize],
    mean: f64,
    stddev: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    let op = "TruncatedNormal";
    float_only(op, dtype)?;
    check_alloc(op, dtype, shape)?;
    let mut s = Stream::new(next_key(seed));
    fill(dtype, shape, || {
        let z = loop {
            let z = s.normal();
            if z.abs() <= 2.0 {
                break z;
            }
        };
        mean + stddev * z
    })
}

/// A random permutation of `0..n` (Fisher–Yates).
pub fn permutation(n: usize, seed: Option<u64>) -> Result<Vec<i64>> {
    let mut s = Stream::new(next_key(seed));
    let mut p = try_collect("RandomShuffle", &[n], 0..n as i64)?;
    for i in (1..n).rev() {
        let j = (s.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    Ok(p)
}

/// `x` with its first dimension randomly permuted.
pub fn shuffle(x: &Tensor, seed: Option<u64>) -> Result<Tensor> {
    if x.rank() == 0 {
        return Err(Error::invalid(
            "RandomShuffle",
            "cannot shuffle a scalar (rank 0) tensor",
        ));
    }
    let n = x.shape()[0];
    let p = Tensor::from_vec(&[n], permutation(n, seed)?)?;
    crate::ops::gather(x, &p, 0, 0)
}

/// `num_samples` class indices per row of `logits` (`[batch, classes]`,
/// unnormalised log-probabilities), drawn by inverting each row's CDF.
pub fn categorical(
    logits: &Tensor,
    num_samples: usize,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    let op = "Multinomial";
    if logits.rank() != 2 || !logits.dtype().is_float() || !dtype.is_int() {
        return Err(Error::invalid(
            op,
            format!(
                "logits must be a 2-D float tensor and the output dtype int32 or int64: shape {:?}, dtype {}",
                logits.shape(),
                logits.dtype().name()
            ),
        ));
    }
    let (rows, classes) = (logits.shape()[0], logits.shape()[1]);
    if classes == 0 && num_samples > 0 {
        return Err(Error::invalid(op, "logits must have at least one class"));
    }
    // (the samples are drawn as int64, then cast)
    check_alloc(op, DType::I64, &[rows, num_samples])?;
    let l64 = crate::ops::cast(logits, DType::F64)?;
    let values: Vec<f64> = l64
        .array::<f64>()
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default();
    let mut s = Stream::new(next_key(seed));
    let mut out = Vec::with_capacity(rows * num_samples);
    for row in values.chunks(classes.max(1)).take(rows) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = row.iter().map(|&v| (v - m).exp()).collect();
        let total: f64 = w.iter().sum();
        for _ in 0..num_samples {
            let mut u = s.uniform() * total;
            let mut k = classes - 1;
            for (i, &wi) in w.iter().enumerate() {
                if u < wi {
                    k = i;
                    break;
                }
                u -= wi;
            }
            out.push(k as i64);
        }
    }
    crate::ops::cast(&Tensor::from_vec(&[rows, num_samples], out)?, dtype)
}

fn f32_below(x: f32) -> f32 {
    if x.is_finite() && x != 0.0 {
        let b = x.to_bits();
        f32::from_bits(if x > 0.0 { b - 1 } else { b + 1 })
    } else {
        x
    }
}

// The Python docstrings of this file's ops, by binding name (the `py_doc!`
// chain: `src/ops/mod.rs`).
#[cfg_attr(not(feature = "python"), allow(unused_macros))]
macro_rules! py_doc {
    (random_uniform) => { $crate::ops::with_example!(
        r#"Samples uniformly from [minval, maxval); repeatable after `tf.random.set_seed`."#,
        r#">>> tf.random.set_seed(0)
>>> x = tf.random.uniform([1000], minval=2.0, maxval=3.0)
>>> print(bool(tf.reduce_all((x >= 2.0) & (x < 3.0))))
True"#
    ) };
    (set_seed) => { $crate::ops::with_example!(
        r#"Seeds the global generator: the random ops that follow repeat their values."#,
        r#">>> tf.random.set_seed(42)
>>> a = tf.random.uniform([3])
>>> tf.random.set_seed(42)
>>> b = tf.random.uniform([3])
>>> print(bool(tf.reduce_all(a == b)))
True"#
    ) };
    (shuffle) => { $crate::ops::with_example!(
        r#"A random permutation of `value` along its first axis; repeatable after `tf.random.set_seed`."#,
        r#">>> tf.random.set_seed(0)
>>> print(sorted(tf.random.shuffle(tf.range(5)).numpy().tolist()))
[0, 1, 2, 3, 4]"#
    ) };
    (categorical) => { $crate::ops::with_example!(
        r#"`num_samples` class indices (int64) per row, drawn with probabilities softmax(`logits`); repeatable after `tf.random.set_seed`."#,
        r#">>> tf.random.set_seed(0)
>>> samples = tf.random.categorical(tf.math.log(tf.constant([[0.0, 1.0]]) + 1e-30), 4)
>>> print(samples)
tapegrad.Tensor([[1 1 1 1]], shape=(1, 4), dtype=int64)"#
    ) };
    (random_normal) => { $crate::ops::with_example!(
        r#"Samples from N(mean, stddev²); repeatable after `tf.random.set_seed`."#,
        r#">>> tf.random.set_seed(0)
>>> x = tf.random.normal([2, 3], dtype=tf.float64)
>>> print(x.shape, x.dtype)
(2, 3) <dtype: 'float64'>"#
    ) };
    (truncated_normal) => { $crate::ops::with_example!(
        r#"Samples from N(mean, stddev²) re-drawn until within two standard deviations of the mean; repeatable after `tf.random.set_seed`."#,
        r#">>> tf.random.set_seed(0)
>>> x = tf.random.truncated_normal([1000], stddev=1.0)
>>> print(bool(tf.reduce_all(tf.abs(x) <= 2.0)))
True"#
    ) };
    ($name:ident) => { $crate::ops::reduce::py_doc!($name) };
}
#[cfg_attr(not(feature = "python"), allow(unused_imports))]
pub(crate) use py_doc;

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed state is global: tests that set it run one at a time.
    static SEEDING: Mutex<()> = Mutex::new(());

    #[test]
    fn seeded_sequences_repeat() {
        let _serial = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
        set_seed(Some(7));
        let a = normal(&[5], 0.0, 1.0, DType::F64, None).unwrap();
        let b = normal(&[5], 0.0, 1.0, DType::F64, None).unwrap();
        set_seed(Some(7));
        let a2 = normal(&[5], 0.0, 1.0, DType::F64, None).unwrap();
        let b2 = normal(&[5], 0.0, 1.0, DType::F64, None).unwrap();
        assert_eq!(a.array::<f64>().unwrap(), a2.array::<f64>().unwrap());
        assert_eq!(b.array::<f64>().unwrap(), b2.array::<f64>().unwrap());
        assert_ne!(a.array::<f64>().unwrap(), b.array::<f64>().unwrap());
    }

    #[test]
    fn an_op_seed_alone_uses_the_default_global_seed() {
        let _serial = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
        set_seed(None);
        let a = normal(&[4], 0.0, 1.0, DType::F64, Some(3)).unwrap();
        set_seed(None);
        let b = normal(&[4], 0.0, 1.0, DType::F64, Some(3)).unwrap();
        set_seed(Some(DEFAULT_GLOBAL_SEED));
        let c = normal(&[4], 0.0, 1.0, DType::F64, Some(3)).unwrap();
        assert_eq!(a.array::<f64>().unwrap(), b.array::<f64>().unwrap());
        assert_eq!(a.array::<f64>().unwrap(), c.array::<f64>().unwrap());
    }

    #[test]
    fn uniform_stays_in_range() {
        let _serial = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
        set_seed(Some(1));
        let u = uniform(&[10_000], -2.0, 3.0, DType::F32, None).unwrap();
        assert!(
            u.array::<f32>()
                .unwrap()
                .iter()
                .all(|&v| (-2.0..3.0).contains(&v))
        );
        let i = uniform(&[1000], 0.0, 4.0, DType::I32, None).unwrap();
        assert!(
            i.array::<i32>()
                .unwrap()
                .iter()
                .all(|&v| (0..4).contains(&v))
        );
    }
}
