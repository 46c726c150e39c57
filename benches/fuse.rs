//! Fused elementwise programs (`tapegrad::fuse`) against the same chains op
//! by op: W3's loss Σ tanh(x)·sigmoid(x) + x² and the W2/W6 op cycle (sin,
//! ×0.5, +x, tanh, exp, ×0.5, y·y, cos, ×x) on 1M and 4M float32 elements,
//! forward alone and forward + backward. Before the timings, the peak bytes
//! allocated beyond the input during one forward + backward of each.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tapegrad::fuse::{self, Binary, Output, Program, Unary};
use tapegrad::grad::{self, Unconnected};
use tapegrad::ops;
use tapegrad::tape::Tape;
use tapegrad::tensor::Tensor;

/// The system allocator, counting live and peak bytes.
#[cfg(not(feature = "python"))]
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[cfg(not(feature = "python"))]
use std::alloc::{GlobalAlloc, Layout, System};

#[cfg(not(feature = "python"))]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

// (with the `python` feature the library brings its own global allocator,
// and the peaks below are not counted)
#[cfg(not(feature = "python"))]
#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn input(n: usize) -> Tensor {
    Tensor::from_vec(
        &[n],
        (0..n)
            .map(|i| ((i * 7919) % 4001) as f32 / 1000.0 - 2.0)
            .collect(),
    )
    .unwrap()
}

/// W3: Σ tanh(x)·sigmoid(x) + x·x.
fn w3_program() -> Arc<Program> {
    let mut p = Program::new(1);
    let x = p.input(0);
    let t = p.unary(Unary::Tanh, x);
    let s = p.unary(Unary::Sigmoid, x);
    let ts = p.binary(Binary::Mul, t, s);
    let xx = p.binary(Binary::Mul, x, x);
    let y = p.binary(Binary::Add, ts, xx);
    p.output(Output::Sum(y));
    Arc::new(p)
}

fn w3_eager(x: &Tensor) -> Tensor {
    let ts = ops::tanh(x)
        .unwrap()
        .mul(&ops::sigmoid(x).unwrap())
        .unwrap();
    let y = ts.add(&x.mul(x).unwrap()).unwrap();
    ops::reduce_sum(&y, None, false).unwrap()
}

/// The W2/W6 cycle, `reps` times (9 ops each), then a full sum.
fn cycle_program(reps: usize) -> Arc<Program> {
    let mut p = Program::new(1);
    let x = p.input(0);
    let half = p.constant(0.5);
    let mut y = x;
    for _ in 0..reps {
        y = p.unary(Unary::Sin, y);
        y = p.binary(Binary::Mul, y, half);
        y = p.binary(Binary::Add, y, x);
        y = p.unary(Unary::Tanh, y);
        y = p.unary(Unary::Exp, y);
        y = p.binary(Binary::Mul, y, half);
        y = p.binary(Binary::Mul, y, y);
        y = p.unary(Unary::Cos, y);
        y = p.binary(Binary::Mul, y, x);
    }
    p.output(Output::Sum(y));
    Arc::new(p)
}

fn cycle_eager(x: &Tensor, reps: usize) -> Tensor {
    let half = Tensor::scalar_of(x.dtype(), 0.5);
    let mut y = x.clone();
    for _ in 0..reps {
        y = ops::sin(&y).unwrap().mul(&half).unwrap().add(x).unwrap();
        y = ops::exp(&ops::tanh(&y).unwrap())
            .unwrap()
            .mul(&half)
            .unwrap();
        y = y.mul(&y).unwrap();
        y = ops::cos(&y).unwrap().mul(x).unwrap();
    }
    ops::reduce_sum(&y, None, false).unwrap()
}

/// d loss / dx through the tape.
fn gradient(loss: &dyn Fn(&Tensor) -> Tensor, x: &Tensor) -> Tensor {
    let tape = Tape::new(false, false);
    tape.push().unwrap();
    tape.watch(x.id());
    let y = loss(x);
    tape.pop();
    let seed = ops::ones_like(&y).unwrap();
    grad::gradient(
        tape.take_nodes(),
        &[(y.meta(), seed)],
        &[x.meta()],
        Unconnected::Zero,
        &[],
    )
    .unwrap()
    .remove(0)
    .unwrap()
}

fn fused(program: &Arc<Program>) -> impl Fn(&Tensor) -> Tensor + '_ {
    move |x| {
        fuse::apply(program, std::slice::from_ref(x))
            .unwrap()
            .remove(0)
    }
}

/// Peak bytes allocated beyond what was live before `f` ran.
fn peak_extra(f: impl FnOnce()) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - before
}

fn memory() {
    if cfg!(feature = "python") {
        eprintln!("peak bytes are counted only without the `python` feature");
        return;
    }
    let n = 1 << 20;
    let x = input(n);
    let w3 = w3_program();
    let cycle = cycle_program(11);
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    let report = |name: &str, bytes: usize| eprintln!("peak extra, {name}: {:.1} MiB", mib(bytes));
    report(
        "W3 eager fwd+bwd 1M",
        peak_extra(|| drop(gradient(&w3_eager, &x))),
    );
    report(
        "W3 fused fwd+bwd 1M",
        peak_extra(|| drop(gradient(&fused(&w3), &x))),
    );
    report(
        "cycle x11 (99 ops) eager fwd+bwd 1M",
        peak_extra(|| drop(gradient(&|x| cycle_eager(x, 11), &x))),
    );
    report(
        "cycle x11 (99 ops) fused fwd+bwd 1M",
        peak_extra(|| drop(gradient(&fused(&cycle), &x))),
    );
}

fn chains(c: &mut Criterion) {
    memory();
    let mut g = c.benchmark_group("fuse");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_secs(1));
    g.measurement_time(std::time::Duration::from_secs(3));
    let w3 = w3_program();
    let cycle = cycle_program(1);
    for n in [1usize << 20, 4 << 20] {
        let x = input(n);
        g.bench_with_input(BenchmarkId::new("w3_eager_fwd", n), &x, |b, x| {
            b.iter(|| w3_eager(black_box(x)))
        });
        g.bench_with_input(BenchmarkId::new("w3_fused_fwd", n), &x, |b, x| {
            b.iter(|| fused(&w3)(black_box(x)))
        });
        g.bench_with_input(BenchmarkId::new("w3_eager_fwd_bwd", n), &x, |b, x| {
            b.iter(|| gradient(&w3_eager, black_box(x)))
        });
        g.bench_with_input(BenchmarkId::new("w3_fused_fwd_bwd", n), &x, |b, x| {
            b.iter(|| gradient(&fused(&w3), black_box(x)))
        });
        g.bench_with_input(BenchmarkId::new("cycle_eager_fwd", n), &x, |b, x| {
            b.iter(|| cycle_eager(black_box(x), 1))
        });
        g.bench_with_input(BenchmarkId::new("cycle_fused_fwd", n), &x, |b, x| {
            b.iter(|| fused(&cycle)(black_box(x)))
        });
        g.bench_with_input(BenchmarkId::new("cycle_eager_fwd_bwd", n), &x, |b, x| {
            b.iter(|| gradient(&|x| cycle_eager(x, 1), black_box(x)))
        });
        g.bench_with_input(BenchmarkId::new("cycle_fused_fwd_bwd", n), &x, |b, x| {
            b.iter(|| gradient(&fused(&cycle), black_box(x)))
        });
    }
    g.finish();
}

criterion_group!(benches, chains);
criterion_main!(benches);
