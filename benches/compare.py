"""tapegrad against numpy, TensorFlow and PyTorch on the same autodiff workloads.

One TF-style implementation of every workload is written against TensorFlow's
public eager API and run unchanged on tapegrad and on TensorFlow (the module is
passed in as ``tf``); PyTorch gets its own autograd version and numpy a
hand-written forward + backward. Every (framework, workload) pair runs in a
fresh subprocess of this interpreter, so thread pools, allocator caches and
lazily loaded kernels of one job never leak into the next. Each worker checks
its first call's outputs against a float64 numpy reference, warms up,
calibrates an inner loop to at least ``--min-time`` per repetition, and reports
the median time per iteration over ``--reps`` repetitions.

Layout: ``workloads/`` holds one module per workload (its inputs, its TF-style,
torch and numpy steps and its float64 reference; adding a workload means
adding a module there), ``compare_harness.py`` runs and checks the jobs,
``compare_report.py`` writes the table and the chart, and this file is the
command line.

    python benches/compare.py                                  # everything installed
    python benches/compare.py --frameworks tapegrad,numpy --quick
    python benches/compare.py --workloads W2,W3 --reps 11 --json out.json
    python benches/compare.py --chart none                     # no PNG
    python benches/compare.py --render out.json                # re-print a stored run

The script needs only numpy and the frameworks it compares (matplotlib for the
chart, optional). A framework that fails to import is reported as "not
installed" and skipped. Timings swing on shared machines: compare frameworks
within one run, not across runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from typing import Any

from compare_harness import FRAMEWORKS, IMPORT_NAMES, WORKLOADS, run_job, worker
from compare_report import fmt_time, machine_lines, render, write_chart

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_list(text: str, known: list[str] | tuple[str, ...], what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in known]
    if unknown or not names:
        raise SystemExit(f"unknown {what} {unknown or text!r}; known: {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--reps", type=int, help="timed repetitions (default 7; 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer reps, short inner loops")
    p.add_argument("--json", help="write every measurement to this JSON file")
    p.add_argument("--markdown", help="write the report (table and notes) to this file")
    p.add_argument(
        "--chart",
        default=os.path.join(HERE, "compare.png"),
        help="PNG path for the chart (default: compare.png next to this script; 'none': no chart)",
    )
    p.add_argument(
        "--render", metavar="JSON", help="re-print the report and chart of a stored --json run"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per job")
    p.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"), help=argparse.SUPPRESS)
    p.add_argument("--min-time", type=float, help=argparse.SUPPRESS)
    p.add_argument("--max-time", type=float, help=argparse.SUPPRESS)
    p.add_argument("--warmup-calls", type=int, help=argparse.SUPPRESS)
    p.add_argument("--warmup-s", type=float, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    quick = {"reps": 3, "min_time": 0.02, "max_time": 3.0, "warmup_calls": 1, "warmup_s": 0.02}
    full = {"reps": 7, "min_time": 0.1, "max_time": 15.0, "warmup_calls": 2, "warmup_s": 0.25}
    for key, value in (quick if a.quick else full).items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    if a.reps < 1:
        raise SystemExit("--reps must be at least 1")

    if a.worker:
        framework, workload = a.worker
        print(json.dumps(worker(framework, workload, a), default=str), flush=True)
        return
    if a.render:
        with open(a.render, encoding="utf-8") as fh:
            stored = json.load(fh)
        publish(stored["meta"], stored["results"], a)
        return

    frameworks = parse_list(a.frameworks, FRAMEWORKS, "framework")
    workloads = parse_list(a.workloads, list(WORKLOADS), "workload")
    missing = {
        f: "no module named " + IMPORT_NAMES[f]
        for f in frameworks
        if importlib.util.find_spec(IMPORT_NAMES[f]) is None
    }
    results: list[dict[str, Any]] = []
    started = time.time()
    jobs = [(f, w) for w in workloads for f in frameworks]  # a workload's jobs run back to back
    for n, (f, w) in enumerate(jobs, 1):
        if f in missing:
            continue
        r = run_job(f, w, a)
        if r.get("status") == "not installed":
            missing[f] = r.get("error", "import failed")
            continue
        results.append(r)
        if r.get("status") == "ok":
            shown = fmt_time(r["median_s"]) + (" ✗" if r.get("correct") is False else "")
        else:
            shown = f"{r['status']}: {r.get('error', '')[:120]}"
        elapsed = time.time() - started
        print(f"[{n:2d}/{len(jobs)} {elapsed:5.0f}s] {f:8s} {w:4s} {shown}", file=sys.stderr)

    ran = [f for f in frameworks if f not in missing]
    mode = "quick" if a.quick else "full"
    meta = {
        "title": f"tapegrad vs {', '.join(f for f in ran if f != 'tapegrad') or 'nothing'} "
        f"({time.strftime('%Y-%m-%d %H:%M')}, {mode} run: median of {a.reps} reps, "
        f"each ≥ {a.min_time} s)",
        "machine": machine_lines(results, frameworks, missing),
        "frameworks": ran,
        "workloads": workloads,
        "missing": missing,
        "args": vars(a),
    }
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=1, default=str)
    publish(meta, results, a)


def publish(meta: dict[str, Any], results: list[dict[str, Any]], a: argparse.Namespace) -> None:
    """Print the report, write --markdown and the chart."""
    report = "\n".join(
        [
            f"## {meta['title']}",
            "",
            *meta["machine"],
            "",
            render(results, meta["frameworks"], meta["workloads"]),
        ]
    )
    print(report)
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as fh:
            fh.write(report + "\n")
    if a.chart.lower() != "none":
        print("\n" + write_chart(results, meta["frameworks"], a.chart))


if __name__ == "__main__":
    main()
