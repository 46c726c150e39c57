"""``keras.callbacks``: ``History``, ``EarlyStopping``, ``ModelCheckpoint``,
``ProgbarLogger`` and the ``Callback`` base class.

>>> import numpy as np, tapegrad as tf
>>> model = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> stop = tf.keras.callbacks.EarlyStopping(monitor="loss", patience=0)
>>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=3, verbose=0, callbacks=[stop])
>>> sorted(history.history)
['loss']
"""

from __future__ import annotations

import sys
import time
from typing import Any, NoReturn

import numpy as np

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "ModelCheckpoint",
    "ProgbarLogger",
]


class Callback:
    """Base class: override the ``on_*`` hooks; ``self.model`` and
    ``self.params`` are set before training starts.

    >>> import tapegrad as tf
    >>> class Count(tf.keras.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print("epoch", epoch, sorted(logs))
    >>> Count().on_epoch_end(0, {"loss": 1.0})
    epoch 0 ['loss']
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...


class CallbackList:
    """Calls each hook on every callback in order.

    >>> import tapegrad as tf
    >>> len(tf.keras.callbacks.CallbackList([tf.keras.callbacks.History()]).callbacks)
    1
    """

    def __init__(self, callbacks: list[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def __getattr__(self, hook: str) -> Any:
        if not hook.startswith("on_") and hook not in ("set_model", "set_params"):
            raise AttributeError(hook)

        def dispatch(*args: Any, **kwargs: Any) -> None:
            for callback in self.callbacks:
                getattr(callback, hook)(*args, **kwargs)

        return dispatch


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is a list.

    >>> import tapegrad as tf
    >>> h = tf.keras.callbacks.History(); h.on_train_begin()
    >>> h.on_epoch_end(0, {"loss": 0.5}); h.history
    {'loss': [0.5]}
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format_value(value: float) -> str:
    # Keras's rule: four decimals, scientific notation for small magnitudes
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{int(seconds)}s/step"
    if seconds >= 1e-3:
        return f"{int(seconds * 1e3)}ms/step"
    return f"{int(seconds * 1e6)}us/step"


class ProgbarLogger(Callback):
    """Keras's progress display on stdout: ``verbose=1`` a bar per epoch
    (redrawn in place on a terminal, printed once per epoch otherwise),
    ``verbose=2`` one line per epoch.

    >>> import tapegrad as tf
    >>> bar = tf.keras.callbacks.ProgbarLogger()
    >>> bar.set_params({"verbose": 2, "epochs": 1, "steps": 2})
    >>> bar.on_epoch_begin(0)
    Epoch 1/1
    """

    def __init__(self) -> None:
        super().__init__()
        self._start = 0.0
        self._mode = "train"
        # batches done this epoch (set by fit): the total when the steps are unknown
        self._seen = 0

    def _line(self, step: int, total: int | None, logs: dict[str, Any], verbose: int) -> str:
        elapsed = time.perf_counter() - self._start
        values = " - ".join(
            f"{key}: {_format_value(float(value))}" for key, value in sorted(logs.items())
        )
        if verbose == 2:
            parts = [
                f"{step}/{total}" if total else f"{step}",
                _format_time(elapsed),
                _format_per_step(elapsed / max(step, 1)),
            ]
        else:
            width = 20
            done = width if not total else int(width * step / total)
            bar = "━" * done + "─" * (width - done)
            parts = [
                f"{step}/{total} {bar}" if total else f"{step}/Unknown",
                f"{_format_time(elapsed)} {_format_per_step(elapsed / max(step, 1))}",
            ]
        line = " - ".join(parts) if verbose == 2 else " ".join(parts)
        return f"{line} - {values}" if values else line

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        if self.params.get("verbose"):
            print(f"Epoch {epoch + 1}/{self.params.get('epochs', 1)}")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.params.get("verbose") == 1 and sys.stdout.isatty():
            line = self._line(batch + 1, self.params.get("steps"), logs or {}, 1)
            sys.stdout.write("\r" + line)
            sys.stdout.flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        verbose = int(self.params.get("verbose", 0))
        if not verbose:
            return
        steps = self.params.get("steps") or self._seen
        line = self._line(steps, steps, logs or {}, verbose)
        prefix = "\r" if verbose == 1 and sys.stdout.isatty() else ""
        print(prefix + line)

    def show_final(self, steps: int, logs: dict[str, Any]) -> None:
        """The single bar ``evaluate`` and ``predict`` print (``verbose=1``)."""
        verbose = int(self.params.get("verbose", 0))
        if verbose:
            print(self._line(steps, steps, logs, verbose))


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by ``min_delta`` for
    ``patience`` epochs; optionally restore the best weights.

    >>> import tapegrad as tf
    >>> tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=2).patience
    2
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.mode = mode
        self.min_delta = abs(min_delta) * (1 if mode == "max" else -1)
        self.stopped_epoch = 0
        self.wait = 0
        self.best: float = np.inf if mode == "min" else -np.inf
        self.best_weights: list[Any] | None = None
        self.best_epoch = 0

    def _improved(self, value: float, reference: float) -> bool:
        if self.mode == "max":
            return bool(value - self.min_delta > reference)
        return bool(value - self.min_delta < reference)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.mode == "min" else -np.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            import warnings

            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(sorted(logs or {}))}",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._improved(value, self.best):
            self.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        # Keras 3 restores the best weights at the end, stopped early or not
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (``.keras``) or its weights (``.weights.h5``) after
    each epoch, or only when ``monitor`` improves (``save_best_only``);
    ``filepath`` may hold ``{epoch}`` and log keys (``{val_loss:.2f}``).

    >>> import tapegrad as tf
    >>> tf.keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True).monitor
    'val_loss'
    """

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        filepath = str(filepath)
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint: only save_freq='epoch' is supported")
        if save_weights_only and not filepath.endswith(".weights.h5"):
            raise ValueError(
                "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided "
                f"must end in `.weights.h5` (Keras weights format). Received: filepath={filepath}"
            )
        if not save_weights_only and not filepath.endswith(".keras"):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format). "
                f"Received: filepath={filepath}"
            )
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.mode = mode
        default = np.inf if mode == "min" else -np.inf
        self.best = default if initial_value_threshold is None else initial_value_threshold

    def _save(self, epoch: int, logs: dict[str, Any]) -> None:
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if not self.save_best_only:
            self._save(epoch, logs)
            return
        value = logs.get(self.monitor)
        if value is None:
            import warnings

            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            return
        better = value < self.best if self.mode == "min" else value > self.best
        if better:
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                    f"{value:.5f}, saving model to {self.filepath.format(epoch=epoch + 1, **logs)}"
                )
            self.best = value
            self._save(epoch, logs)
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.callbacks", name)
