//! Criterion benches of the pure-Rust core: elementwise and reduction
//! kernels at 1e3/1e5/1e6 elements (to place the rayon threshold), matmul
//! against ndarray's `dot`, and the tape (record + backward of a chain).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tapegrad::grad::{self, Unconnected};
use tapegrad::ops;
use tapegrad::tape::Tape;
use tapegrad::tensor::Tensor;

// As in the Python extension (which puts mimalloc behind it): large
// buffers are recycled instead of page-faulting in on every kernel. (With
// the `python` feature the library already installs its own.)
#[cfg(not(feature = "python"))]
#[global_allocator]
static ALLOCATOR: tapegrad::alloc::CachingAllocator<std::alloc::System> =
    tapegrad::alloc::CachingAllocator::new(std::alloc::System);

fn ramp(n: usize) -> Tensor {
    Tensor::from_vec(&[n], (0..n).map(|i| (i % 97) as f32 * 0.01).collect()).unwrap()
}

fn elementwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("elementwise");
    for n in [1_000usize, 100_000, 1_000_000] {
        let x = ramp(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("tanh", n), &x, |b, x| {
            b.iter(|| ops::tanh(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("mul", n), &x, |b, x| {
            b.iter(|| ops::multiply(black_box(x), x).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("reduce_sum", n), &x, |b, x| {
            b.iter(|| ops::reduce_sum(black_box(x), None, false).unwrap())
        });
    }
    g.finish();
}

/// A unary op of the public API.
type UnaryOp = fn(&Tensor) -> tapegrad::error::Result<Tensor>;

/// The float32 transcendentals (`fastmath`'s, and libm's sin/cos) at 1M
/// elements, on values spread over a few periods / decades.
fn transcendental(c: &mut Criterion) {
    let n = 1_000_000usize;
    let spread = |lo: f32, hi: f32| {
        let step = (hi - lo) / n as f32;
        Tensor::from_vec(
            &[n],
            (0..n)
                .map(|i| lo + ((i * 7919) % n) as f32 * step)
                .collect(),
        )
        .unwrap()
    };
    let angle = spread(-20.0, 20.0);
    let positive = spread(1e-3, 1e3);
    let moderate = spread(-4.0, 4.0);
    let exponent = spread(-3.0, 3.0);
    let mut g = c.benchmark_group("transcendental");
    g.throughput(Throughput::Elements(n as u64));
    let unary: [(&str, UnaryOp, &Tensor); 8] = [
        ("exp", ops::exp, &moderate),
        ("sin", ops::sin, &angle),
        ("cos", ops::cos, &angle),
        ("log", ops::log, &positive),
        ("log1p", ops::log1p, &positive),
        ("expm1", ops::expm1, &moderate),
        ("erf", ops::erf, &moderate),
        ("tanh", ops::tanh, &moderate),
    ];
    for (name, op, x) in unary {
        g.bench_with_input(BenchmarkId::new(name, n), x, |b, x| {
            b.iter(|| op(black_box(x)).unwrap())
        });
    }
    g.bench_with_input(BenchmarkId::new("pow", n), &positive, |b, x| {
        b.iter(|| ops::pow(black_box(x), &exponent).unwrap())
    });
    g.finish();
}

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul");
    for n in [64usize, 256, 512] {
        let a =
            Tensor::from_vec(&[n, n], (0..n * n).map(|i| (i % 13) as f32 * 0.1).collect()).unwrap();
        let av = ndarray::Array2::from_shape_fn((n, n), |(i, j)| ((i * n + j) % 13) as f32 * 0.1);
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_with_input(BenchmarkId::new("tapegrad", n), &a, |b, a| {
            b.iter(|| ops::matmul(black_box(a), a, false, false).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("ndarray_dot", n), &av, |b, av| {
            b.iter(|| black_box(av).dot(av))
        });
    }
    g.finish();
}

/// The W2 chain of the shared harness on 4 elements: per-op cost of
/// recording plus its share of the backward pass.
fn tape_chain(c: &mut Criterion) {
    let x = ramp(4);
    let half = Tensor::scalar(0.5f32);
    c.bench_function("tape/200-op chain record+backward", |b| {
        b.iter(|| {
            let t = Tape::new(false, true);
            t.push().unwrap();
            t.watch(x.id());
            let mut y = x.clone();
            for i in 0..200 {
                y = match i % 9 {
                    0 => ops::sin(&y),
                    1 | 5 => ops::multiply(&y, &half),
                    2 => ops::add(&y, &x),
                    3 => ops::tanh(&y),
                    4 => ops::exp(&y),
                    6 => ops::multiply(&y, &y),
                    7 => ops::cos(&y),
                    _ => ops::multiply(&y, &x),
                }
                .unwrap();
            }
            let loss = ops::reduce_sum(&y, None, false).unwrap();
            t.pop();
            let seed = ops::ones_like(&loss).unwrap();
            grad::gradient(
                t.take_nodes(),
                &[(loss.meta(), seed)],
                &[x.meta()],
                Unconnected::None,
                &[],
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, elementwise, transcendental, matmul, tape_chain);
criterion_main!(benches);
