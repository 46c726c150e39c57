"""Every docstring example in tapegrad.keras and tapegrad.module runs and
prints what it says (the namespaces' own docstring test covers tapegrad's
top level only)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import tapegrad.keras

MODULES = ["tapegrad.module", "tapegrad._module"] + [
    info.name for info in pkgutil.walk_packages(tapegrad.keras.__path__, "tapegrad.keras.")
]


def examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in ["tapegrad.keras", *MODULES]:
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples and test.name.startswith(name):
                found.append(test)
    return sorted(found, key=lambda t: t.name)


EXAMPLES = examples()


def test_public_classes_and_functions_have_examples():
    names = {t.name for t in EXAMPLES}
    for public in ("Dense", "Conv2D", "LSTM", "BatchNormalization", "Sequential", "Functional"):
        assert any(n.endswith(f".{public}") for n in names), public
    assert len(EXAMPLES) > 150


@pytest.mark.parametrize("test", EXAMPLES, ids=[t.name for t in EXAMPLES])
def test_example_runs(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(report)
