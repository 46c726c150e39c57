"""Every ```python block of every docs/*.md runs, in order, in one module per
file (so later blocks see earlier names), and its asserts hold: the guides
cannot rot. A block fenced as ```python no-run is shown but not run; a
```text output block is exactly what the python block before it prints."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

# An opening fence at the start of a line, its info string, the body, and the
# closing fence (same indentation, so fences inside a list item work too).
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def fenced_blocks(text: str) -> list[tuple[int, list[str], str]]:
    """(first line number of the body, info words, dedented body) per block."""
    blocks = []
    for m in FENCE.finditer(text):
        first_line = text.count("\n", 0, m.start("body")) + 1
        indent = len(m.group("indent"))
        body = "\n".join(line[indent:] for line in m.group("body").splitlines())
        blocks.append((first_line, m.group("info").split(), body))
    return blocks


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(first line number of the code, dedented code, runs?) per ```python block."""
    return [
        (line, body, "no-run" not in info[1:])
        for line, info, body in fenced_blocks(text)
        if info[:1] == ["python"]
    ]


def test_the_block_parser():
    text = (
        "intro\n```python\nx = 1\n```\n\n"
        "- item\n\n  ```python no-run\n  y = 2\n  ```\n"
        "```sh\nls\n```\n"
    )
    assert python_blocks(text) == [(3, "x = 1", True), (9, "y = 2", False)]


def test_there_are_guides():
    assert {"tape.md", "faq.md"} <= {p.name for p in DOCS.glob("*.md")}


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_guide_runs(path: Path) -> None:
    blocks = fenced_blocks(path.read_text(encoding="utf-8"))
    assert any(info == ["python"] for _, info, _ in blocks), f"{path.name}: nothing runs"
    # A real module, so that functions defined in the guide pickle by
    # reference (multiprocessing with fork needs that).
    name = f"docs_{path.stem}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        printed: str | None = None
        for first_line, info, body in blocks:
            if info == ["text", "output"]:
                assert printed is not None, f"{path.name}:{first_line}: output of nothing"
                assert printed.rstrip("\n") == body, f"{path.name}:{first_line}: other output"
                continue
            printed = None
            if info[:1] != ["python"] or "no-run" in info[1:]:
                continue
            # pad so that a traceback points at the line in the .md file
            code = compile("\n" * (first_line - 1) + body, str(path), "exec")
            with contextlib.redirect_stdout(io.StringIO()) as out:
                exec(code, module.__dict__)
            printed = out.getvalue()
    finally:
        del sys.modules[name]


@pytest.mark.parametrize(
    "module",
    [
        "tapegrad._tape",
        "tapegrad._custom",
        "tapegrad.autodiff",
        "tapegrad._nest",
        "tapegrad.experimental",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed"
