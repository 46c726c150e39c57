"""The examples run and reach the loss/accuracy they are meant to."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def test_linear_regression_recovers_the_weights():
    final = re.search(r"final loss: ([\d.]+)", run("linear_regression.py"))
    assert final and float(final.group(1)) < 1e-3


@pytest.mark.parametrize(
    ("name", "min_accuracy"), [("softmax_regression.py", 0.95), ("mlp.py", 0.95)]
)
def test_digits_classifiers_learn(name, min_accuracy):
    final = re.search(r"final loss: ([\d.]+), test accuracy: ([\d.]+)", run(name))
    assert final, "no final line"
    assert float(final.group(1)) < 0.3
    assert float(final.group(2)) >= min_accuracy
