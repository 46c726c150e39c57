"""benches/compare.py runs end to end on the installed tapegrad: every job
passes its float64 correctness check and the table has one row per workload;
every workload of benches/workloads/ (but W6, W2 at scale) passes its check
on numpy and tapegrad."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

COMPARE = Path(__file__).resolve().parent.parent / "benches" / "compare.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_quick_run_prints_checked_rows_and_writes_outputs(tmp_path):
    chart, report = tmp_path / "chart.png", tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(COMPARE),
            "--frameworks=tapegrad,numpy",
            "--workloads=W1a,W2",
            "--quick",
            f"--chart={chart}",
            f"--json={report}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = proc.stdout
    assert "| workload | tapegrad | numpy | tapegrad ÷ numpy |" in out
    # a time in each framework column and a positive ratio, e.g. "| W1a | 52.4 µs | ..."
    assert re.search(r"^\| W1a \| [\d.]+ [µm]?s \| [\d.]+ [µm]?s \| [\d.]+ \|$", out, re.M), out
    assert re.search(r"^\| W2 \(per op\) \| [\d.]+ µs/op \| [\d.]+ µs/op \| [\d.]+ \|$", out, re.M)
    rows = [line for line in out.splitlines() if line.startswith("| W")]
    assert len(rows) == 2, rows  # only the workloads asked for
    assert not any("✗" in row or "ERR" in row for row in rows), rows

    results = json.loads(report.read_text())["results"]
    assert {(r["framework"], r["workload"]) for r in results} == {
        (f, w) for f in ("tapegrad", "numpy") for w in ("W1a", "W2")
    }
    for r in results:
        assert r["status"] == "ok" and r["correct"] is True, r
        assert r["max_err"] <= r["tol"] and r["median_s"] > 0

    if importlib.util.find_spec("matplotlib") is not None:
        assert chart.read_bytes().startswith(PNG_MAGIC)
    else:
        assert "matplotlib is not installed" in out


def test_unknown_framework_is_a_clear_error():
    proc = subprocess.run(
        [sys.executable, str(COMPARE), "--frameworks=tapegrad,jax"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "unknown framework ['jax']" in proc.stderr


def test_every_workload_passes_its_float64_check_on_numpy_and_tapegrad(monkeypatch):
    """The whole registry, in process and untimed: every workload module is
    found, and the first call of its numpy and TF-style steps (the latter on
    tapegrad) matches its float64 reference within its tolerance. W6 is W2's
    code on 1M elements (seconds of float64 reference): W2 stands for it."""
    monkeypatch.syspath_prepend(str(COMPARE.parent))
    harness = importlib.import_module("compare_harness")
    names = list(harness.WORKLOADS)
    assert names == ["W1a", "W1b", "W1c", "W2", "W3", "W4", "W5", "W6", "W7a", "W7b", "W8"]
    for framework in ("numpy", "tapegrad"):
        make_step, _ = harness.load_framework(framework)
        for name in (n for n in names if n != "W6"):
            workload = harness.WORKLOADS[name]
            inputs = harness.make_inputs(workload)
            out = make_step(workload, inputs)()
            got = {k: harness.to_numpy(v) for k, v in out.items()}
            result = harness.check(workload, inputs, got)
            assert result["correct"], (framework, name, result)
