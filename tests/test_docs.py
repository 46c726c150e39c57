"""Every ```python block of every docs/*.md, the README, ARCHITECTURE.md and
CONTRIBUTING.md runs, in order, in one module per file (so later blocks see
earlier names), and its asserts hold: the guides cannot rot. A block fenced as
```python no-run is shown but not run; a ```text output block is exactly what
the python block before it prints. Every block also pastes into the plain
Python REPL: it is fed to ``code.InteractiveConsole`` line by line, as a paste
would be (so a ``with`` block needs a blank line after it)."""

from __future__ import annotations

import code
import contextlib
import doctest
import importlib
import io
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# the top-level pages with code in them (a page not written yet is skipped)
TOP_LEVEL = ["README.md", "ARCHITECTURE.md", "CONTRIBUTING.md"]
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / n for n in TOP_LEVEL if (ROOT / n).exists()]

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


def test_the_readme_is_tested():
    assert ROOT / "README.md" in PAGES


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_guide_runs(path: Path) -> None:
    blocks = fenced_blocks(path.read_text(encoding="utf-8"))
    if path.parent == DOCS or path.name == "README.md":
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
            # pad so that a traceback points at the line in the .md file;
            # named relative to the repository, so that printed call sites
            # (tape.explain) are the same in every checkout
            source_name = str(path.relative_to(ROOT))
            code = compile("\n" * (first_line - 1) + body, source_name, "exec")
            with contextlib.redirect_stdout(io.StringIO()) as out:
                exec(code, module.__dict__)
            printed = out.getvalue()
    finally:
        del sys.modules[name]


class _Paste(code.InteractiveConsole):
    """The plain REPL, remembering the first error instead of printing it."""

    def __init__(self, namespace: dict[str, object]) -> None:
        super().__init__(namespace)
        self.error: str | None = None

    def showsyntaxerror(self, filename: str | None = None, **kwargs: object) -> None:
        self.error = self.error or f"SyntaxError: {sys.exc_info()[1]}"

    def showtraceback(self) -> None:
        self.error = self.error or f"{sys.exc_info()[0].__name__}: {sys.exc_info()[1]}"


def paste(console: _Paste, body: str) -> str | None:
    """Feed ``body`` to the REPL line by line, then the blank line a user
    types to finish; the first error, or None."""
    for line in body.splitlines() + [""]:
        console.push(line)
        if console.error:
            return console.error
    return None


def test_paste_catches_a_missing_blank_line():
    console = _Paste({})
    assert paste(console, "for i in range(2):\n    j = i\nk = 1") is not None
    console = _Paste({})
    assert paste(console, "for i in range(2):\n    j = i\n\nk = j") is None
    assert console.locals["k"] == 1


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_blocks_paste_into_the_repl(path: Path) -> None:
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    name = f"paste_{path.stem}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        console = _Paste(module.__dict__)
        for first_line, body, runs in blocks:
            if not runs:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                error = paste(console, body)
            assert error is None, f"{path.name}:{first_line}: pasted into the REPL: {error}"
    finally:
        del sys.modules[name]


# The namespaces whose every public name docs/compat.md lists.
NAMESPACES = [
    "tapegrad",
    "tapegrad.math",
    "tapegrad.nn",
    "tapegrad.linalg",
    "tapegrad.random",
    "tapegrad.autodiff",
    "tapegrad.dtypes",
    "tapegrad.errors",
    "tapegrad.optimizers",
    "tapegrad.optimizers.schedules",
    "tapegrad.data",
    "tapegrad.train",
    "tapegrad.experimental",
    "tapegrad.config",
    "tapegrad.debugging",
    "tapegrad.image",
    "tapegrad.signal",
    "tapegrad.strings",
    "tapegrad.io",
    "tapegrad.sparse",
    "tapegrad.ragged",
    "tapegrad.nest",
    "tapegrad.test",
    "tapegrad.distribute",
    "tapegrad.keras",
    "tapegrad.keras.layers",
]
API_START = "<!-- api: generated from the namespaces, checked by tests/test_docs.py -->"
API_END = "<!-- api end -->"


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return sorted(
        n
        for n in dir(module)
        if not n.startswith("_") and not isinstance(getattr(module, n), types.ModuleType)
    )


def api_listing() -> str:
    """The list docs/compat.md carries between API_START and API_END."""
    lines = []
    for module_name in NAMESPACES:
        names = public_names(module_name)
        shown = module_name.replace("tapegrad", "tf", 1)
        lines.append(f"- `{shown}` ({len(names)}): " + ", ".join(f"`{n}`" for n in names))
    return "\n".join(lines)


def test_compat_lists_every_public_name():
    text = (DOCS / "compat.md").read_text(encoding="utf-8")
    listed = text.split(API_START, 1)[1].split(API_END, 1)[0].strip()
    assert listed == api_listing(), (
        "docs/compat.md's API list is stale; paste this between its markers:\n" + api_listing()
    )


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
