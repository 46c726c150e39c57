"""Random-program fuzzer: random op sequences over random shapes (including
shapes whose results are far too large to allocate), dtypes, special values
and bad arguments, some under tapes with a gradient or jacobian at the end.

Each program is Python source run in a worker process with a capped
address space; the worker is restarted when it dies. Allowed outcomes are a
result or an exception from ``tapegrad.errors`` (or a TypeError, ValueError,
IndexError, MemoryError, OverflowError, NotImplementedError); anything else
is a finding: a crash (abort, segfault, OOM kill), a hang, a
``PanicException`` or another exception type. Findings are printed with the
program that reproduces them.

A program still running at the timeout is sent SIGINT (Ctrl-C): one that
stops with ``KeyboardInterrupt`` within ``INTERRUPT_GRACE`` seconds is
counted as ``interrupted`` (a long computation it asked for, such as a
jacobian of 131,072 rows through a 131,072-element tape, stopped promptly);
only one that does not is a hang.

    python tools/fuzz_ops.py --seconds 300            # a few minutes
    python tools/fuzz_ops.py --cases 2000 --seed 7    # a fixed set

Exit status 1 when anything was found.
"""

# ruff: noqa: E501  (the program templates are one line each)
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

# Dims: small ones, and one "big" size. Two big dims in one result make at
# least 2**34 elements (64 GiB of float32), which every op must refuse;
# one big dim times small ones stays under ~100 MiB, which fits the cap.
SMALL_DIMS = [0, 1, 1, 2, 3, 4, 7]
BIG_DIM = 1 << 17
DTYPES = ["tf.float32", "tf.float64", "tf.int32", "tf.int64", "tf.bool"]
NAN = "float('nan')"
SPECIAL = ["float('nan')", "float('inf')", "-float('inf')", "1e38", "-0.0", "5e-324", "0.5"]
BAD_INTS = ["-1", "0", "2**31", "2**62", "-2**63", "2**64", "33"]
# Sizes that pass every "can this machine hold it" check but not the
# worker's address-space cap once other tensors live: the class where
# allocations must fail with ResourceExhaustedError instead of aborting.
MID_SHAPES = ["[1 << 16, 1 << 14]", "[3, 1 << 28]", "[1 << 29]", "[1 << 15, 1 << 15]"]
# Python values whose conversion to a tensor must fail cleanly or fit.
CONVERSIONS = ["2**63", "-2**63 - 1", "str(2**70)", "'12'", "b'x' * 3", "[True, 2**40]"]
# Share of steps that allocate gigabytes (each takes seconds).
NEAR_LIMIT_RATE = 0.01
# Seconds a program has after SIGINT to raise KeyboardInterrupt.
INTERRUPT_GRACE = 2.0

ALLOWED = (
    "tf.errors.OpError, TypeError, ValueError, IndexError, MemoryError, "
    "OverflowError, NotImplementedError, RuntimeError"
)

WORKER = r"""
import json, resource, sys, traceback
cap = int(sys.argv[1]) << 30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import numpy as np
import tapegrad as tf
ALLOWED = (@ALLOWED@)
for line in sys.stdin:
    source = json.loads(line)
    try:
        exec(source, {"tf": tf, "np": np})
        verdict = "ok"
    except ALLOWED as e:
        verdict = "error:" + type(e).__name__
    except KeyboardInterrupt:
        verdict = "interrupted"
    except BaseException as e:  # PanicException is a BaseException
        verdict = "unexpected:" + type(e).__module__ + "." + type(e).__name__ + ": " + str(e)[:200]
    sys.stdout.write(json.dumps(verdict) + "\n")
    sys.stdout.flush()
""".replace("@ALLOWED@", ALLOWED)


class Gen:
    """Builds one random program as Python source."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: list[str] = []
        self.names: list[str] = []

    def shape(self, rank: int | None = None) -> list[int]:
        r = self.rng
        rank = r.choice([0, 1, 1, 2, 2, 3, 4]) if rank is None else rank
        dims = [r.choice(SMALL_DIMS) for _ in range(rank)]
        if dims and r.random() < 0.25:
            dims[r.randrange(rank)] = BIG_DIM if r.random() < 0.5 else 1
        return dims

    def value(self) -> str:
        r = self.rng
        dtype = r.choice(DTYPES)
        shape = self.shape()
        kind = r.random()
        if kind < 0.15:
            return f"tf.fill({shape}, tf.constant({r.choice(SPECIAL)}, {r.choice(DTYPES[:2])}))"
        if kind < 0.3:
            return f"tf.zeros({shape}, {dtype})"
        if kind < 0.4:
            return f"tf.constant(np.arange(int(np.prod({shape}))).reshape({shape}) % 5 - 2, {dtype})"
        if kind < 0.5:
            return f"tf.random.uniform({shape}, -3.0, 3.0, seed={r.randrange(100)})"
        if kind < 0.55:  # a transposed or reversed view
            return f"tf.transpose(tf.random.normal({shape[::-1] or [2]}, seed=1))"
        return f"tf.ones({shape}, {dtype})"

    def new(self, expr: str) -> None:
        name = f"t{len(self.names)}"
        self.lines.append(f"{name} = {expr}")
        self.names.append(name)

    def pick(self) -> str:
        return self.rng.choice(self.names)

    def axis(self) -> str:
        return str(self.rng.choice([-1, 0, 1, 2, -3, 5]))

    def step(self) -> None:
        r = self.rng
        a, b = self.pick(), self.pick()
        ops = tf_ops()
        kind = r.random()
        if kind < NEAR_LIMIT_RATE:
            self.new(r.choice(near_limit(self)))
        elif kind < 0.3:
            self.new(f"{r.choice(ops['unary'])}({a})")
        elif kind < 0.55:
            self.new(f"{r.choice(ops['binary'])}({a}, {b})")
        else:
            self.new(r.choice(irregular(self, a, b)))

    def program(self) -> str:
        r = self.rng
        for _ in range(r.randint(1, 3)):
            self.new(self.value())
        tape = r.random() < 0.4
        body_start = len(self.lines)
        for _ in range(r.randint(1, 6)):
            self.step()
        if not tape:
            return "\n".join(self.lines)
        body = self.lines[body_start:]
        head = self.lines[:body_start]
        last = self.names[-1]
        first = self.names[0]
        end = r.choice(
            [
                f"g = tape.gradient({last}, {first})",
                f"g = tape.jacobian({last}, {first}, parallel_iterations={r.choice([None, 1, 3])})",
                f"g = tape.gradient({last}, [{', '.join(self.names[:2])}])",
            ]
        )
        persistent = r.random() < 0.5
        return "\n".join(
            head
            + [f"with tf.GradientTape(persistent={persistent}) as tape:"]
            + [f"    tape.watch({first})"]
            + ["    " + line for line in body]
            + [end]
        )


def irregular(g: Gen, a: str, b: str) -> list[str]:
    r = g.rng
    ax = g.axis
    shape = g.shape
    bad = r.choice(BAD_INTS)
    return [
        f"tf.matmul({a}, {b}, transpose_a={r.random() < 0.3}, transpose_b={r.random() < 0.3})",
        f"tf.tensordot({a}, {b}, axes={r.choice([0, 1, 2])})",
        f"tf.einsum('ij,jk->ik', {a}, {b})",
        f"tf.reduce_sum({a}, axis={ax()}, keepdims={r.random() < 0.5})",
        f"tf.reduce_max({a}, axis={r.choice(['None', ax()])})",
        f"tf.reduce_prod({a})",
        f"tf.math.reduce_std({a}, axis={ax()})",
        f"tf.math.reduce_logsumexp({a})",
        f"tf.math.cumsum({a}, axis={ax()}, exclusive={r.random() < 0.5}, reverse={r.random() < 0.5})",
        f"tf.math.cumprod({a}, axis={ax()})",
        f"tf.sort({a}, axis={ax()})",
        f"tf.argsort({a})",
        f"tf.math.top_k({a}, {r.choice([0, 1, 3, bad])})",
        f"tf.argmax({a}, axis={ax()})",
        f"tf.concat([{a}, {b}], axis={ax()})",
        f"tf.stack([{a}, {b}], axis={ax()})",
        f"tf.reshape({a}, {r.choice([[-1], shape(), [2, -1], [-1, -1], [int(bad)] if bad.isdigit() else [-2]])})",
        f"tf.transpose({a})",
        f"tf.tile({a}, {[r.choice([1, 2, BIG_DIM]) for _ in range(r.randint(0, 3))]})",
        f"tf.pad({a}, {[[r.choice([0, 1, BIG_DIM]), r.choice([0, 2])] for _ in range(r.randint(0, 3))]})",
        f"tf.broadcast_to({a}, {shape()})",
        f"tf.expand_dims({a}, {ax()})",
        f"tf.squeeze({a})",
        f"tf.gather({a}, tf.constant({[r.choice([0, 1, -1, 5]) for _ in range(3)]}), axis={ax()})",
        f"tf.one_hot(tf.cast({a}, tf.int32), {r.choice([0, 3, BIG_DIM, bad])})",
        f"tf.where(tf.cast({a}, tf.bool), {a}, {b})",
        f"tf.clip_by_value({a}, {b}, {b})",
        f"tf.linalg.det({a})",
        f"tf.linalg.inv({a})",
        f"tf.linalg.cholesky({a})",
        f"tf.linalg.solve({a}, {b})",
        f"tf.nn.softmax({a}, axis={ax()})",
        f"tf.nn.relu({a})",
        f"tf.cast({a}, {r.choice(DTYPES)})",
        f"{a}[{r.choice(['0', '-1', '::2', '..., 0', 'None', bad])}]",
        f"tf.random.uniform({shape()}, minval={r.choice(SPECIAL)}, maxval={r.choice(SPECIAL + ['3'])}, dtype={r.choice(DTYPES)})",
        f"tf.random.normal({shape()}, stddev={r.choice(SPECIAL)})",
        f"tf.random.categorical(tf.zeros([2, 3]), {r.choice(['4', bad, '2**35'])})",
        f"tf.range({r.choice(['0', bad])}, {r.choice(['5', bad, NAN])})",
        f"tf.zeros({shape(r.randint(0, 34))})",
        f"tf.eye({r.choice(['3', bad])})",
        f"tf.linspace(0.0, 1.0, {r.choice(['5', bad])})",
        f"tf.constant({r.choice(['range(2**62)', '[[1.0], [2.0, 3.0]]', '[2**70]', 'np.ones((1,) * 33)', '[[]]'])})",
        f"tf.fill({shape()}, {a})",
        # sizes past the limits, and arithmetic on them that can overflow
        f"tf.broadcast_to({a}, {r.choice(['[2**40, 2**40]', '[2**31, 3]', '[2**62, 0]'])})",
        f"tf.reshape({a}, {r.choice(['[2**62, 0]', '[2**31, 2**31, 0]', '[-1, 2**40]'])})",
        f"tf.tile({a}, {r.choice(['[2**40]', '[2**31, 2**31]', '[2**63]'])})",
        f"tf.pad({a}, {r.choice(['[[2**40, 0]]', '[[-2, 0]]', '[[2**63 - 1, 2**63 - 1]]'])})",
        f"tf.one_hot(tf.constant([1, 2]), {r.choice(['2**40', '2**62', '2**31 - 1'])})",
        f"tf.range({r.choice(['2**40', '0, 2**62, 1', '0, 1, 2**-60'])})",
        f"tf.constant({r.choice(CONVERSIONS)}, {r.choice(DTYPES)})",
        f"tf.identity({a}).numpy()",
        f"repr({a})",
        f"int({a}) if tf.size({a}) == 1 else None",
    ]


def near_limit(g: Gen) -> list[str]:
    """Allocations of gigabytes that pass the size check but may not fit
    the worker's cap next to what it already holds (slow: chosen rarely)."""
    r = g.rng
    mid = lambda: r.choice(MID_SHAPES)  # noqa: E731
    return [
        f"tf.zeros({mid()}, {r.choice(DTYPES)})",
        f"tf.random.uniform({mid()})",
        f"tf.ones({mid()}) + tf.ones({mid()})",
        f"tf.broadcast_to(tf.ones([1]), {mid()})",
        f"tf.tile(tf.ones([2]), [{r.choice(['1 << 28', '1 << 29'])}])",
        "tf.pad(tf.ones([2]), [[1 << 28, 1 << 28]])",
        f"tf.one_hot(tf.constant([1, 2]), {r.choice(['1 << 28', '1 << 29'])})",
        f"tf.range({r.choice(['1 << 29', '1 << 28'])})",
        f"tf.constant(np.broadcast_to(np.float32(1), {mid()}))",
        f"tf.cast(tf.ones({mid()}, tf.int8), tf.float64)",
        f"tf.reduce_sum(tf.ones({mid()}), axis={r.choice(['0', '-1', 'None'])})",
        "tf.matmul(tf.ones([1 << 15, 2]), tf.ones([2, 1 << 15]))",
        f"tf.concat([tf.ones({mid()})] * 2, axis=0)",
    ]


_OPS: dict[str, list[str]] = {}


def tf_ops() -> dict[str, list[str]]:
    """The registry's ops as call expressions ("tf.math.exp"), by arity."""
    if not _OPS:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
        import tapegrad as tf

        def spelled(name: str) -> str | None:
            for namespace in ("math", "nn"):
                if hasattr(getattr(tf, namespace), name):
                    return f"tf.{namespace}.{name}"
            return f"tf.{name}" if hasattr(tf, name) else None

        for arity, key in ((1, "unary"), (2, "binary")):
            names = (spelled(n) for n, op in sorted(tf._core.ops.items()) if op.arity == arity)
            _OPS[key] = [n for n in names if n]
    return _OPS


class Worker:
    def __init__(self, cap_gib: int):
        self.cap = cap_gib
        self.start()

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(self.cap)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def run(self, source: str, timeout: float) -> str:
        assert self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(json.dumps(source) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self.crashed()
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.proc.send_signal(signal.SIGINT)
            if sel.select(INTERRUPT_GRACE):
                line = self.proc.stdout.readline()
                if line and json.loads(line) == "interrupted":
                    return "interrupted"
            self.proc.kill()
            self.proc.wait()
            self.start()
            return f"hang: no KeyboardInterrupt within {INTERRUPT_GRACE} s of SIGINT"
        line = self.proc.stdout.readline()
        if not line:
            return self.crashed()
        return json.loads(line)

    def crashed(self) -> str:
        code = self.proc.wait()
        assert self.proc.stderr
        text = self.proc.stderr.read()
        # the cause (a panic or a failed allocation names itself on one line),
        # then the end of the output
        markers = ("panicked at", "memory allocation of", "Fatal Python error", "Segmentation")
        cause = [line for line in text.splitlines() if any(m in line for m in markers)][:2]
        tail = " | ".join(cause + [text[-300:].strip().replace("\n", " | ")])
        self.start()
        return f"crash: exit status {code}: {tail}"

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="time budget")
    p.add_argument("--cases", type=int, default=0, help="stop after this many programs (0: no limit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cap-gib", type=int, default=6, help="address-space cap of the worker")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before a program is a hang")
    args = p.parse_args()
    rng = random.Random(args.seed)
    worker = Worker(args.cap_gib)
    counts: Counter[str] = Counter()
    findings: list[tuple[str, str]] = []
    deadline = time.time() + args.seconds
    n = 0
    while time.time() < deadline and (not args.cases or n < args.cases):
        source = Gen(rng).program()
        verdict = worker.run(source, args.timeout)
        n += 1
        counts[verdict.split(":")[0]] += 1
        if verdict.startswith(("crash", "hang", "unexpected")):
            findings.append((verdict, source))
            print(f"--- finding {len(findings)}: {verdict}\n{textwrap.indent(source, '    ')}", flush=True)
    worker.close()
    print(f"{n} programs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
