"""Every public callable of tapegrad and its namespaces documents itself with
a runnable ``>>>`` example, and every example runs and prints what it says
(doctest, ELLIPSIS + NORMALIZE_WHITESPACE): the docstrings cannot rot."""

from __future__ import annotations

import doctest
import inspect
import types
from collections.abc import Iterator

import pytest
import tapegrad as tf

NAMESPACES = (
    "math",
    "nn",
    "linalg",
    "random",
    "optimizers",
    "experimental",
    "autodiff",
    "dtypes",
    "errors",
    "data",
    "data.experimental",
    "train",
    "config",
    "config.threading",
    "config.experimental",
    "nest",
    "debugging",
    "test",
    "image",
    "distribute",
)


def namespace(dotted: str) -> types.ModuleType:
    module = tf
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return list(names)


def public_callables() -> Iterator[tuple[str, object]]:
    """(qualified name, object) for every public callable, each object once."""
    seen: set[int] = set()
    modules = [("tapegrad", tf)] + [(f"tapegrad.{ns}", namespace(ns)) for ns in NAMESPACES]
    for module_name, module in modules:
        for name in public_names(module):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            # one object under several names (tf.add, tf.math.add) is checked once
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            yield f"{module_name}.{name}", obj


CALLABLES = list(public_callables())


@pytest.mark.parametrize(("qualname", "obj"), CALLABLES, ids=[q for q, _ in CALLABLES])
def test_has_docstring_with_example(qualname: str, obj: object) -> None:
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{qualname} has no docstring"
    assert ">>>" in doc, f"{qualname}'s docstring has no >>> example"


def test_op_instances_report_their_own_doc() -> None:
    # pyo3 once put the Op class's doc comment in the type dict, shadowing the
    # per-instance getter: every op said "A registry op as a Python callable".
    assert tf.sin.__doc__ != tf.exp.__doc__
    assert "Op" not in (tf.sin.__doc__ or "")[:20]
    assert ">>>" in (tf.sin.__doc__ or "")
    assert tf.sin.__doc__ == tf._core.ops["sin"].__doc__


def doctests() -> list[doctest.DocTest]:
    """One DocTest per public callable, and per documented method of a public class."""
    parser = doctest.DocTestParser()
    found: dict[str, doctest.DocTest] = {}
    for qualname, obj in CALLABLES:
        doc = inspect.getdoc(obj)
        if not doc or ">>>" not in doc:
            continue
        found[qualname] = parser.get_doctest(doc, {}, qualname, None, 0)
    # the examples in public classes' methods run too
    for qualname, obj in CALLABLES:
        if not isinstance(obj, type):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_") and attr not in ("__init__", "__call__"):
                continue
            doc = getattr(member, "__doc__", None)
            if isinstance(doc, str) and ">>>" in doc:
                key = f"{qualname}.{attr}"
                found[key] = parser.get_doctest(inspect.cleandoc(doc), {}, key, None, 0)
    return [found[k] for k in sorted(found)]


DOCTESTS = doctests()


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_example_runs(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report: list[str] = []
    runner.run(test, out=report.append)
    failures = runner.summarize(verbose=False).failed
    assert failures == 0, "".join(report)
