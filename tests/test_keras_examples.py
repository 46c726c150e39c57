"""The Keras examples run and reach the accuracy they are meant to: a CNN
trained with ``fit`` and a Sequential model with a GradientTape loop."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


def test_cnn_fit_prints_summary_progress_and_test_accuracy():
    out = run("cnn_fit.py", "--epochs", "12")
    assert 'Model: "sequential' in out and "conv2d (Conv2D)" in out
    assert re.search(r"^Epoch 1/12$", out, re.M)
    assert re.search(r"^9/9 - \d+s - \d+(ms|us)/step - accuracy: ", out, re.M)
    final = re.search(r"test loss: ([\d.]+), test accuracy: ([\d.]+)", out)
    assert final and float(final.group(2)) >= 0.93


def test_sequential_custom_loop_reaches_high_accuracy():
    out = run("sequential_custom_loop.py")
    final = re.search(r"final loss: ([\d.]+), test accuracy: ([\d.]+)", out)
    assert final and float(final.group(1)) < 0.1 and float(final.group(2)) >= 0.95
    assert len(re.findall(r"^epoch \d+: loss [\d.]+, accuracy [\d.]+$", out, re.M)) == 4
