"""The type stubs tell the truth, and the package type-checks.

``mypy.stubtest`` imports the built ``tapegrad._core`` and compares every name,
signature and default with ``_core.pyi``: a binding added, renamed or given
new arguments without its stub fails here. ``mypy`` (``[tool.mypy]`` in
pyproject.toml: strict) checks the Python package against those stubs, and a
sample of user code checks that the stubs give real types, not ``Any``, and
a sample of mistakes that mypy reports each of them (a registry op such as
``tf.exp`` has its arity's signature, not ``*args``).
"""

from __future__ import annotations

import doctest
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (pip install '.[test]' brings it)")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module's mypy runs, outside the source tree."""
    return tmp_path_factory.mktemp("mypy-cache")


def run_mypy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args], cwd=cwd, capture_output=True, text=True
    )


def test_stubtest_finds_no_difference_between_stub_and_extension(tmp_path: Path) -> None:
    # no allowlist: every runtime name of _core has an exact stub
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "tapegrad._core"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found in 1 module" in out.stdout


def test_package_is_clean_under_strict_mypy(mypy_cache: Path) -> None:
    out = run_mypy(
        "--config-file",
        str(PYPROJECT),
        "--cache-dir",
        str(mypy_cache),
        str(ROOT / "python" / "tapegrad"),
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found" in out.stdout


USER_CODE = """
from typing import assert_type

import numpy as np
import tapegrad as tf
from tapegrad.types import TensorLike

x = tf.reshape(tf.Variable(range(4), dtype=tf.float32), (4, 1))
assert_type(x, tf.Tensor)
with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    y = 2 * tf.matmul(tf.transpose(x), x)
    z = tf.reduce_sum(y * y, axis=[0, 1])
assert_type(y, tf.Tensor)
assert_type(z.numpy(), np.ndarray)
assert_type(x.shape.as_list(), list[int])
assert_type(x == x, tf.Tensor | bool)
assert_type(tf.exp(x), tf.Tensor)
assert_type(tf.unstack(x), list[tf.Tensor])
assert_type(tf.nn.softmax(x), tf.Tensor)
assert_type(tf.nn.relu(x), tf.Tensor)
assert_type(tf.math.mod(x, 2, name="m"), tf.Tensor)
assert_type(tf.add.arity, int)

v = tf.Variable(np.zeros((2, 2)), name="w")
assert_type(v.assign_add([[1.0, 2.0], [3.0, 4.0]]), tf.Variable | None)
assert_type(v.dtype, tf.DType)

def scale(t: TensorLike, by: float) -> tf.Tensor:
    return tf.multiply(t, by)

scale([1.0, 2.0], 3.0)
scale(v, 3.0)
"""

# each line carries the error mypy must report on it
USER_MISTAKES = """
import tapegrad as tf

x = tf.constant([1.0, 2.0])
tf.reduce_sum(x, axis="0")  # E: arg-type
x.nump()  # E: attr-defined
tf.Variable(x).assign(x, read_value="yes")  # E: arg-type
tf.cast(x, dtype=3)  # E: arg-type
tf.matmul(x, x, transpose_c=True)  # E: call-arg
tf.exp(x, x)  # E: call-arg
tf.add(x)  # E: call-arg
tf.nn.relu(x, "relu")  # E: call-arg
"""


def test_user_code_gets_precise_types(tmp_path: Path, mypy_cache: Path) -> None:
    sample = tmp_path / "user_code.py"
    sample.write_text(textwrap.dedent(USER_CODE))
    out = run_mypy("--strict", "--cache-dir", str(mypy_cache), str(sample), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_user_mistakes_are_caught(tmp_path: Path, mypy_cache: Path) -> None:
    sample = tmp_path / "mistakes.py"
    sample.write_text(textwrap.dedent(USER_MISTAKES))
    out = run_mypy(
        "--strict", "--cache-dir", str(mypy_cache), "--show-error-codes", str(sample), cwd=tmp_path
    )
    reported = {
        (int(line.split(":")[1]), line.rsplit("[", 1)[1].rstrip("]"))
        for line in out.stdout.splitlines()
        if ": error:" in line
    }
    expected = {
        (number, line.split("# E: ")[1])
        for number, line in enumerate(sample.read_text().splitlines(), start=1)
        if "# E: " in line
    }
    assert expected <= reported, out.stdout
    assert out.returncode == 1


def test_types_module_docstring_example() -> None:
    import tapegrad.types

    result = doctest.testmod(tapegrad.types, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
