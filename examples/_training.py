"""Progress reporting shared by the training examples.

With the optional extras installed (``pip install '.[examples]'``: tqdm and
matplotlib) a run shows a progress bar and saves a plot of its loss (and
accuracy) curves; without them it prints a line every few steps. Setting
``TAPEGRAD_EXAMPLES_PLAIN=1`` in the environment forces the plain mode even
when the extras are installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

PLAIN_ENV = "TAPEGRAD_EXAMPLES_PLAIN"


def extra_available(module: str) -> bool:
    """Is ``module`` importable, and not switched off by ``TAPEGRAD_EXAMPLES_PLAIN``?"""
    if os.environ.get(PLAIN_ENV, "") not in ("", "0"):
        return False
    return importlib.util.find_spec(module) is not None


def parse_args(script: str, description: str) -> argparse.Namespace:
    """``--plot PATH`` (default: ``<script>.png`` next to the script) and
    ``--no-plot``."""
    parser = argparse.ArgumentParser(description=description)
    default = Path(script).with_suffix(".png")
    parser.add_argument(
        "--plot",
        type=Path,
        default=default,
        metavar="PATH",
        help=f"where to save the training curves (needs matplotlib; default {default})",
    )
    parser.add_argument("--no-plot", action="store_true", help="do not save a plot")
    return parser.parse_args()


class Progress:
    """Counts training steps and keeps the history of the metrics.

    ``step(loss=...)`` after each optimisation step; ``epoch(n, name=value,
    ...)`` after each epoch to log a line and remember the values;
    ``save_plot(path)`` at the end.

    >>> with Progress(total=2, every=1) as p:
    ...     p.step(loss=0.5)
    ...     p.step(loss=0.25)
    step 1/2: loss 0.5000
    step 2/2: loss 0.2500
    """

    def __init__(self, total: int, every: int = 100, desc: str = "training") -> None:
        self.total = total
        self.every = max(1, every)
        self.steps = 0
        self.step_losses: list[float] = []
        self.epochs: list[int] = []
        self.history: dict[str, list[float]] = {}
        self._bar: Any = None
        if extra_available("tqdm"):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()

    def step(self, loss: float) -> None:
        """One optimisation step with minibatch loss ``loss``."""
        self.steps += 1
        self.step_losses.append(float(loss))
        if self._bar is not None:
            self._bar.update(1)
            if self.steps % self.every == 0 or self.steps == self.total:
                self._bar.set_postfix(loss=f"{float(loss):.4f}")
        elif self.steps % self.every == 0 or self.steps == self.total:
            print(f"step {self.steps}/{self.total}: loss {float(loss):.4f}", flush=True)

    def epoch(self, number: int, show: bool = True, **metrics: float) -> None:
        """Remember this epoch's metrics and, if ``show``, log them as one line."""
        self.epochs.append(number)
        for name, value in metrics.items():
            self.history.setdefault(name, []).append(float(value))
        if not show:
            return
        line = f"epoch {number}: " + ", ".join(f"{k} {float(v):.4f}" for k, v in metrics.items())
        if self._bar is not None:
            self._bar.write(line)  # above the bar, not through it
        else:
            print(line, flush=True)

    def save_plot(self, path: Path | None, title: str) -> Path | None:
        """Save the loss curve (per step, and the per-epoch metrics whose name
        contains "loss") beside the accuracy curves, if matplotlib is
        available; returns where it saved, or None."""
        if path is None or not extra_available("matplotlib"):
            return None
        import matplotlib

        matplotlib.use("Agg")  # files only: never opens a window or blocks
        import matplotlib.pyplot as plt

        accuracies = {k: v for k, v in self.history.items() if "acc" in k}
        columns = 2 if accuracies else 1
        fig, axes = plt.subplots(1, columns, figsize=(5.5 * columns, 4), squeeze=False)
        loss_ax = axes[0][0]
        loss_ax.plot(
            range(1, len(self.step_losses) + 1),
            self.step_losses,
            lw=0.6,
            alpha=0.5,
            label="minibatch loss",
        )
        steps_per_epoch = len(self.step_losses) / max(1, len(self.epochs))
        epoch_x = [e * steps_per_epoch for e in self.epochs]
        for name, values in self.history.items():
            if "loss" in name:
                loss_ax.plot(epoch_x, values, marker="o", ms=3, label=name.replace("_", " "))
        loss_ax.set(xlabel="step", ylabel="loss", yscale="log", title=title)
        loss_ax.legend()
        if accuracies:
            acc_ax = axes[0][1]
            for name, values in accuracies.items():
                acc_ax.plot(self.epochs, values, marker="o", ms=3, label=name.replace("_", " "))
            acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
            acc_ax.legend()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def finish(progress: Progress, args: argparse.Namespace, title: str) -> None:
    """Save the plot unless ``--no-plot``, and say where it went."""
    saved = progress.save_plot(None if args.no_plot else args.plot, title)
    if saved is not None:
        print(f"saved plot: {saved}")
