"""The examples run and reach the loss/accuracy they are meant to, both in
plain mode (progress lines on stdout, no plot) and, when tqdm and
matplotlib are installed, with a progress bar and a saved plot."""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HAVE_EXTRAS = all(importlib.util.find_spec(m) is not None for m in ("tqdm", "matplotlib"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(name: str, *args: str, plain: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if plain:
        env["TAPEGRAD_EXAMPLES_PLAIN"] = "1"
    else:
        env.pop("TAPEGRAD_EXAMPLES_PLAIN", None)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )


def test_tutorial_prints_the_known_results():
    out = run("tutorial.py").stdout
    assert "[[ 0.]\n [ 4.]\n [ 8.]\n [12.]], shape=(4, 1), dtype=float32)" in out
    assert "[[  0.]\n [  4.]\n [ 32.]\n [108.]], shape=(4, 1), dtype=float32)" in out
    assert "[[0.]\n [2.]\n [4.]\n [6.]], shape=(4, 1), dtype=float32)" in out
    assert "<tapegrad.Tensor: shape=(1, 1), dtype=bool, numpy=array([[ True]])>" in out
    assert "RuntimeError: A non-persistent GradientTape can only be used" in out


def test_training_helper_docstring_examples(monkeypatch):
    monkeypatch.setenv("TAPEGRAD_EXAMPLES_PLAIN", "1")  # the example shows the plain lines
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import _training

    result = doctest.testmod(_training)
    assert result.attempted > 0 and result.failed == 0


def check_linear_regression(out: str) -> None:
    final = re.search(r"final loss: ([\d.]+)", out)
    assert final and float(final.group(1)) < 1e-3


def check_classifier(out: str) -> None:
    final = re.search(r"final loss: ([\d.]+), test accuracy: ([\d.]+)", out)
    assert final, "no final line"
    assert float(final.group(1)) < 0.3
    assert float(final.group(2)) >= 0.95


def check_mlp(out: str) -> None:
    check_classifier(out)
    # it ends with the tape of one training step
    assert re.search(r"^GradientTape \(non-persistent, stopped\): \d+ ops recorded$", out, re.M)
    assert re.search(r"^ *\d+  MatMul ", out, re.M)
    assert re.search(r"^Saved for backward: [\d,]+ bytes", out, re.M)


CASES = [
    ("linear_regression.py", check_linear_regression),
    ("softmax_regression.py", check_classifier),
    ("mlp.py", check_mlp),
]


@pytest.mark.parametrize(("name", "check"), CASES, ids=[c[0] for c in CASES])
def test_plain_mode_prints_progress_and_saves_no_plot(name, check, tmp_path):
    plot = tmp_path / "curves.png"
    done = run(name, "--plot", str(plot), plain=True)
    check(done.stdout)
    steps = [int(m) for m in re.findall(r"^step (\d+)/\d+: loss [\d.]+$", done.stdout, re.M)]
    assert len(steps) >= 3 and steps == sorted(steps)
    assert re.search(r"^epoch \d+: train_loss [\d.]+", done.stdout, re.M)
    assert not plot.exists() and "saved plot" not in done.stdout
    assert "%|" not in done.stderr  # no progress bar


@pytest.mark.skipif(not HAVE_EXTRAS, reason="needs the examples extra: tqdm and matplotlib")
@pytest.mark.parametrize(("name", "check"), CASES, ids=[c[0] for c in CASES])
def test_with_extras_shows_a_bar_and_saves_a_plot(name, check, tmp_path):
    plot = tmp_path / "sub" / "curves.png"
    done = run(name, "--plot", str(plot), plain=False)
    check(done.stdout)
    assert "100%|" in done.stderr  # tqdm's bar, on stderr
    assert not re.search(r"^step \d+/", done.stdout, re.M)
    assert f"saved plot: {plot}" in done.stdout
    assert plot.read_bytes()[:8] == PNG_MAGIC and plot.stat().st_size > 10_000


@pytest.mark.skipif(not HAVE_EXTRAS, reason="needs the examples extra: tqdm and matplotlib")
def test_no_plot_flag_writes_nothing():
    default = EXAMPLES / "linear_regression.png"  # where the plot goes without --plot
    before = default.stat().st_mtime_ns if default.exists() else None
    done = run("linear_regression.py", "--no-plot", plain=False)
    check_linear_regression(done.stdout)
    assert "saved plot" not in done.stdout
    after = default.stat().st_mtime_ns if default.exists() else None
    assert after == before
