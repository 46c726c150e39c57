"""The report of ``compare.py``: the markdown table (one or more rows per
workload, ``tapegrad ÷ X`` ratios, failures, the workloads' legend), the lines
about the machine, and the PNG chart of every framework relative to tapegrad."""

from __future__ import annotations

import math
import os
import platform
from typing import Any

from workloads import Row, all_workloads

WORKLOADS = all_workloads()


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(q: float) -> str:
    return f"{q:.2f}" if q >= 0.1 else f"{q:.3f}"


def table_rows() -> list[tuple[str, Row]]:
    """(workload, row) for every row of every workload, in table order."""
    return [(name, row) for name, w in WORKLOADS.items() for row in w.table_rows()]


def _format(row: Row, value: float) -> str:
    return (row.fmt or fmt_time)(value)


def render(results: list[dict[str, Any]], frameworks: list[str], workloads: list[str]) -> str:
    index = {(r["framework"], r["workload"]): r for r in results}
    others = [f for f in frameworks if f != "tapegrad"] if "tapegrad" in frameworks else []
    header = ["workload", *frameworks, *(f"tapegrad ÷ {f}" for f in others)]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    failures = []
    for w, row in table_rows():
        if w not in workloads:
            continue
        cells, values = [], {}
        for f in frameworks:
            r = index.get((f, w), {})
            if r.get("status") != "ok":
                cells.append({"timeout": "T/O"}.get(r.get("status", ""), "ERR") if r else "")
                continue
            v = row.value_of(r)
            values[f] = v
            mark = " ✗" if r.get("correct") is False else ""
            cells.append("" if v is None else _format(row, v) + mark)
        for f in others:
            a, b = values.get("tapegrad"), values.get(f)
            cells.append(fmt_ratio(a / b) if row.ratio and a and b else "")
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    for r in results:
        if r.get("status") in ("error", "timeout"):
            failures.append(f"- {r['framework']} {r['workload']}: {r.get('error', r['status'])}")
        elif r.get("correct") is False:
            failures.append(
                f"- {r['framework']} {r['workload']}: ✗ max normalised error "
                f"{r['max_err']:.2e} in {r['worst']} (tolerance {r['tol']:.0e})"
            )
    notes = [
        "",
        "Median time per iteration (forward + gradient). `tapegrad ÷ X` is tapegrad's "
        "median over X's: below 1, tapegrad is faster. W6 peak extra RSS: VmHWM during "
        "the first full call (after a 16-element warm-up, peak reset via "
        "/proc/self/clear_refs) minus VmRSS just before it. ✗: outputs differ from the "
        "float64 numpy reference by more than the workload's tolerance.",
    ]
    if failures:
        notes += ["", "Failures:", *failures]
    legend = ["", "Workloads:", *(f"- {w}: {WORKLOADS[w].desc}" for w in workloads)]
    return "\n".join(lines + notes + legend)


def machine_lines(
    results: list[dict[str, Any]], frameworks: list[str], missing: dict[str, str]
) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS
        usable = os.cpu_count()
    lines = [
        f"- machine: {cpu}, {os.cpu_count()} cores ({usable} usable by this process), "
        f"{platform.system()} {platform.release()}",
        f"- python {platform.python_version()}; RAYON_NUM_THREADS="
        f"{os.environ.get('RAYON_NUM_THREADS', 'unset (rayon uses one thread per core)')}",
    ]
    if hasattr(os, "getloadavg"):  # other processes' load skews every timing below
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        lines.append(f"- load average at the end of the run (1, 5, 15 min): {load}")
    for f in frameworks:
        if f in missing:
            lines.append(f"- {f}: not installed ({missing[f]})")
            continue
        info = next((r["info"] for r in results if r["framework"] == f and r.get("info")), None)
        if info:
            lines.append(f"- {f}: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    return lines


def write_chart(results: list[dict[str, Any]], frameworks: list[str], path: str) -> str:
    """Bar groups of each framework's time relative to tapegrad; returns a note."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: chart skipped (pip install matplotlib)"
    if "tapegrad" not in frameworks:
        return "chart skipped: it is relative to tapegrad, which was not run"
    index = {(r["framework"], r["workload"]): r for r in results}
    others = [f for f in frameworks if f != "tapegrad"]
    groups: list[tuple[str, dict[str, float]]] = []
    for w, row in table_rows():
        base = index.get(("tapegrad", w), {})
        b = row.value_of(base) if base.get("status") == "ok" else None
        if not row.ratio or not b:
            continue
        rel = {}
        for f in others:
            r = index.get((f, w), {})
            v = row.value_of(r) if r.get("status") == "ok" else None
            if v:
                rel[f] = v / b
        if rel:
            groups.append((row.label.replace(" (per op)", ""), rel))
    if not groups:
        return "chart skipped: no framework other than tapegrad has results"
    bar_h = 0.8 / len(others)
    fig, ax = plt.subplots(figsize=(8, 1.2 + len(groups) * (0.2 + 0.25 * len(others))))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, f in enumerate(others):
        ys = [g + (k - (len(others) - 1) / 2) * bar_h for g, (_, rel) in enumerate(groups)]
        xs = [rel.get(f, math.nan) for _, rel in groups]
        # bars grow from 1 (tapegrad) to the ratio: right = slower, left = faster
        widths = [x - 1 for x in xs]
        color = colors[(k + 1) % len(colors)]
        ax.barh(ys, widths, height=bar_h, left=1, label=f, color=color)
        for y, x in zip(ys, xs, strict=True):
            if not math.isnan(x):
                ax.annotate(
                    f"{x:.0f}×" if x >= 10 else f"{x:.2f}×" if x >= 0.1 else f"{x:.3f}×",
                    (x, y),
                    xytext=(3 if x >= 1 else -3, 0),
                    textcoords="offset points",
                    ha="left" if x >= 1 else "right",
                    va="center",
                    fontsize=7,
                )
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1, label="tapegrad = 1")
    ax.set_yticks(range(len(groups)), [label for label, _ in groups])
    ax.invert_yaxis()  # W1a on top, in table order
    measured = "time (W6 RSS: memory)" if any("RSS" in g for g, _ in groups) else "time"
    ax.set_xlabel(f"{measured} relative to tapegrad, log scale; > 1: tapegrad is better")
    # above the axes, where it cannot hide a bar or the axis label
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(others) + 1,
        fontsize=8,
        frameon=False,
    )
    ax.set_title("tapegrad vs other frameworks (same machine, same run)", fontsize=10, pad=22)
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return f"chart written to {path}"
