"""``keras.Model`` (subclassing and the functional API), ``Sequential``,
and the training loop: ``compile``, ``fit``, ``evaluate``, ``predict``,
``train_on_batch``, ``test_on_batch``, ``predict_on_batch``.

>>> import numpy as np, tapegrad as tf
>>> tf.keras.utils.set_random_seed(0)
>>> model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
>>> model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
>>> x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype="float32")
>>> history = model.fit(x, x.sum(axis=1, keepdims=True), epochs=200, verbose=0)
>>> bool(history.history["loss"][-1] < 1e-3)
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from .. import _core, _nest, optimizers
from .._core import Tensor
from .._module import current_name_scope, name_scope
from .._tape import GradientTape
from . import losses as losses_module
from . import metrics as metrics_module
from ._data_adapters import (
    EpochIterator,
    as_tensors,
    is_streamed,
    make_adapter,
    num_samples,
    take,
    to_array,
)
from .callbacks import Callback, CallbackList, History, ProgbarLogger
from .layers._base import InputLayer, KerasTensor, Layer, Node, _map_structure, _OperatorCall

__all__ = ["Functional", "Model", "Sequential", "load_model", "clone_model"]

_OPTIMIZERS: dict[str, Callable[[], optimizers.Optimizer]] = {
    "sgd": optimizers.SGD,
    "adam": optimizers.Adam,
    "adamw": optimizers.AdamW,
    "rmsprop": optimizers.RMSprop,
    "adagrad": optimizers.Adagrad,
}


def _unpack_data(data: Any) -> tuple[Any, Any, Any]:
    if isinstance(data, tuple):
        return (tuple(data) + (None, None))[:3]
    return data, None, None


class Model(Layer):
    """A layer with training: subclass it and define ``call``, or build it
    from symbolic tensors (``Model(inputs, outputs)``).

    >>> import tapegrad as tf
    >>> class MLP(tf.keras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = tf.keras.layers.Dense(8, activation="relu")
    ...         self.out = tf.keras.layers.Dense(1)
    ...     def call(self, x, training=False):
    ...         return self.out(self.hidden(x))
    >>> model = MLP()
    >>> model(tf.ones([2, 3])).shape
    TensorShape([2, 1])
    >>> [w.name for w in model.trainable_variables]  # doctest: +ELLIPSIS
    ['mlp.../dense.../kernel:0', 'mlp.../dense.../bias:0', 'mlp.../dense.../kernel:0', ...]
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Model and (len(args) >= 2 or ("inputs" in kwargs and "outputs" in kwargs)):
            return object.__new__(Functional)
        if cls is Model and len(args) == 1 and "outputs" in kwargs:
            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            raise TypeError(f"{type(self).__name__}: unexpected positional arguments {args!r}")
        super().__init__(**kwargs)
        self.optimizer: optimizers.Optimizer | None = None
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._loss: Any = None
        self._loss_tracker: metrics_module.Mean | None = None
        self._compile_metrics: list[metrics_module.Metric] = []
        self._metric_identifiers: list[Any] = []
        self._metrics_built = False

    _SKIP_TRACKING = Layer._SKIP_TRACKING | frozenset(("optimizer", "history"))

    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"Model {type(self).__name__} does not have a `call()` method implemented."
        )

    def build(self, input_shape: Any = None) -> None:
        """Create the weights by running the model on zeros of ``input_shape``
        (``None`` sizes become 1), as Keras does for subclassed models.

        >>> import tapegrad as tf
        >>> class M(tf.keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.d = tf.keras.layers.Dense(2)
        ...     def call(self, x):
        ...         return self.d(x)
        >>> m = M(); m.build((None, 3)); m.count_params()
        8
        """
        if input_shape is not None and not self._building and not self.weights:
            shape = [1 if d is None else int(d) for d in input_shape]
            self(_core.zeros(shape, dtype=self._dtype))
        self._build_shapes = input_shape
        self.built = True

    @property
    def layers(self) -> list[Layer]:
        """The layers held in attributes, in the order they were set.

        >>> import tapegrad as tf
        >>> class M(tf.keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.a = tf.keras.layers.Dense(1, name="a")
        >>> [l.name for l in M().layers]
        ['a']
        """
        return list(self._sublayers())

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in ``layers``.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1, name="out")])
        >>> m.get_layer("out").name
        'out'
        """
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}."
        )

    # --- compile -------------------------------------------------------------

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Sequence[Any] | None = None,
        weighted_metrics: Sequence[Any] | None = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Set the optimizer (an instance or a name), the loss and the metrics.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        >>> m.compile(optimizer="adam", loss="mse", metrics=["mae"])
        >>> type(m.optimizer).__name__
        'Adam'
        """
        if loss_weights is not None or weighted_metrics:
            raise NotImplementedError(
                "Model.compile: loss_weights and weighted_metrics are not supported"
            )
        if steps_per_execution != 1:
            raise NotImplementedError("Model.compile: steps_per_execution != 1 is not supported")
        if isinstance(loss, (list, tuple)) or (isinstance(loss, dict) and "class_name" not in loss):
            raise NotImplementedError(
                "Model.compile: one loss per output (multi-output models) is not supported"
            )
        if isinstance(optimizer, str):
            if optimizer.lower() not in _OPTIMIZERS:
                raise NotImplementedError(f"Model.compile: unknown optimizer {optimizer!r}")
            optimizer = _OPTIMIZERS[optimizer.lower()]()
        self.optimizer = optimizer
        loss = losses_module.get(loss)
        if loss is not None and not isinstance(loss, losses_module.Loss):
            loss = losses_module.LossFunctionWrapper(loss)
        self._loss = loss
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._metric_identifiers = list(metrics or [])
        self._compile_metrics = []
        self._metrics_built = False
        self.compiled = True
        self.stop_training = False

    @property
    def metrics(self) -> list[metrics_module.Metric]:
        """The loss tracker, then the compiled metrics (once built by a step).

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)]); m.compile(loss="mse")
        >>> [x.name for x in m.metrics]
        ['loss']
        """
        tracked = [self._loss_tracker] if self._loss_tracker is not None else []
        return tracked + list(self._compile_metrics)

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        """Reset the state of every metric.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)]); m.compile(loss="mse")
        >>> m.reset_metrics()
        """
        for metric in self.metrics:
            metric.reset_state()

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Tensor:
        """The compiled loss plus the model's ``losses`` (regularizers, ``add_loss``).

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)]); m.compile(loss="mae")
        >>> print(m.compute_loss(y=tf.constant([[1.0]]), y_pred=tf.constant([[3.0]])))
        tapegrad.Tensor(2.0, shape=(), dtype=float32)
        """
        terms = []
        if self._loss is not None and y is not None:
            terms.append(self._loss(y, y_pred, sample_weight))
        terms += list(self.losses)
        if not terms:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        total: Tensor = terms[0]
        for term in terms[1:]:
            total = total + _core.cast(term, total.dtype)
        return total

    def _build_metrics(self, y: Any, y_pred: Any) -> None:
        if self._metrics_built:
            return
        self._compile_metrics = [
            metrics_module.get(identifier, y, y_pred) for identifier in self._metric_identifiers
        ]
        self._metrics_built = True

    def compute_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, Tensor]:
        """Update the compiled metrics with this batch; return their results.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        >>> m.compile(loss="mse", metrics=["mae"])
        >>> sorted(m.compute_metrics(None, tf.constant([[1.0]]), tf.constant([[2.0]])))
        ['loss', 'mae']
        """
        self._build_metrics(y, y_pred)
        # Keras 3: `metrics` ignore sample weights (only `weighted_metrics` take them)
        for metric in self._compile_metrics:
            metric.update_state(y, y_pred)
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict[str, Tensor]:
        """Each metric's current result, by name.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)]); m.compile(loss="mse")
        >>> m.get_metrics_result()
        {'loss': <tapegrad.Tensor: shape=(), dtype=float32, numpy=0.0>}
        """
        return {metric.name: metric.result() for metric in self.metrics}

    # --- steps ---------------------------------------------------------------

    def train_step(self, data: Any) -> dict[str, Any]:
        """One optimization step on a batch ``(x, y[, sample_weight])``:
        forward pass under a ``GradientTape``, loss, gradients, update;
        returns the metric results. Override it to customize ``fit``.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)]); m.compile("sgd", "mse")
        >>> sorted(m.train_step((tf.ones([2, 3]), tf.ones([2, 1]))))
        ['loss']
        """
        x, y, sample_weight = _unpack_data(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        variables = self.trainable_variables
        if variables:
            grads = tape.gradient(loss, variables)
            assert self.optimizer is not None
            self.optimizer.apply(grads, variables)
        return self._update_metrics(x, y, y_pred, sample_weight, loss)

    def _update_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any, loss: Tensor
    ) -> dict[str, Any]:
        assert self._loss_tracker is not None
        batch = int(_nest.flatten(x)[0].shape[0]) if x is not None else 1
        self._loss_tracker.update_state(_core.stop_gradient(loss), sample_weight=float(batch))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        """Loss and metrics on a batch, without updating the weights.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)]); m.compile("sgd", "mse")
        >>> sorted(m.test_step((tf.ones([2, 3]), tf.ones([2, 1]))))
        ['loss']
        """
        x, y, sample_weight = _unpack_data(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        return self._update_metrics(x, y, y_pred, sample_weight, loss)

    def predict_step(self, data: Any) -> Any:
        """The model's output on a batch (inference mode).

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        >>> m.predict_step(tf.ones([2, 3])).shape
        TensorShape([2, 1])
        """
        x, _, _ = _unpack_data(data)
        return self(x, training=False)

    def _check_compiled(self, method: str) -> None:
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before using the model ({method}).")

    @staticmethod
    def _logs_as_floats(logs: dict[str, Any]) -> dict[str, float]:
        return {k: float(v) for k, v in logs.items()}

    # --- fit / evaluate / predict ---------------------------------------------

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Any = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> History:
        """Train for ``epochs`` passes over the data; returns the ``History``.
        ``x`` is arrays (with ``y``, batched by ``batch_size`` (32),
        reshuffled each epoch), a ``tf.data.Dataset`` of batches ``(x, y[,
        sample_weight])`` (a new iteration per epoch), a Python generator or
        a ``keras.utils.PyDataset``. ``steps_per_epoch`` bounds an epoch and
        keeps one iterator across epochs (for ``repeat()``-ed datasets), as
        in Keras. ``verbose``: 0 silent, 1 progress bar, 2 one line per
        epoch ("auto" is 1).

        >>> import numpy as np, tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
        >>> m.compile("sgd", "mse")
        >>> h = m.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, batch_size=4, verbose=0)
        >>> h.params
        {'verbose': 0, 'epochs': 2, 'steps': 2}
        >>> ds = tf.data.Dataset.from_tensor_slices((np.ones((8, 3)), np.ones((8, 1))))
        >>> # shuffle=False: otherwise Keras warns that a dataset is not reshuffled by fit
        >>> h = m.fit(ds.batch(4).repeat(), epochs=2, steps_per_epoch=3, verbose=0, shuffle=False)
        >>> h.params
        {'verbose': 0, 'epochs': 2, 'steps': 3}
        """
        self._check_compiled("fit")
        if class_weight is not None:
            raise NotImplementedError("Model.fit: class_weight is not supported")
        if x is None:
            raise ValueError("Model.fit: `x` is required")
        verbose = 1 if verbose == "auto" else int(verbose)
        if validation_split and validation_data is None:
            if is_streamed(x):
                raise ValueError(
                    "Argument `validation_split` is only supported for tensors or NumPy "
                    f"arrays.Found incompatible type in the input: [{type(x)}]"
                )
            x, y, sample_weight = to_array(x), to_array(y), to_array(sample_weight)
            n = num_samples(x)
            split = int(n * (1.0 - validation_split))
            validation_data = (
                take(x, slice(split, None)),
                take(y, slice(split, None)),
                take(sample_weight, slice(split, None)),
            )
            x, y = take(x, slice(0, split)), take(y, slice(0, split))
            sample_weight = take(sample_weight, slice(0, split))
        epoch_iterator = EpochIterator(
            make_adapter(x, y, sample_weight, batch_size, steps_per_epoch, shuffle),
            steps_per_epoch,
        )
        history = History()
        callback_list = list(callbacks or [])
        progbar = ProgbarLogger()
        all_callbacks = CallbackList([*callback_list, progbar, history])
        params = {"verbose": verbose, "epochs": epochs, "steps": epoch_iterator.num_batches}
        all_callbacks.set_model(self)
        all_callbacks.set_params(params)
        history.set_params(params)
        # per-batch logs only when someone reads them
        batch_logs_needed = bool(callback_list) or verbose == 1
        validation_iterator: EpochIterator | None = None
        self.stop_training = False
        all_callbacks.on_train_begin()
        epoch_logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            all_callbacks.on_epoch_begin(epoch)
            progbar._seen = 0
            for step, batch in epoch_iterator.epoch():
                if batch_logs_needed:
                    all_callbacks.on_train_batch_begin(step)
                logs = self.train_step(batch)
                progbar._seen = step + 1
                if batch_logs_needed:
                    all_callbacks.on_train_batch_end(step, self._logs_as_floats(logs))
                if self.stop_training:
                    break
            epoch_logs = self._logs_as_floats(self.get_metrics_result())
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                if validation_iterator is None:
                    validation_iterator = self._validation_iterator(
                        validation_data, validation_batch_size or batch_size, validation_steps
                    )
                val_logs = self._evaluate_epochs(validation_iterator, callback_list, verbose=0)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            all_callbacks.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        all_callbacks.on_train_end(epoch_logs)
        self.history = history
        return history

    @staticmethod
    def _validation_iterator(
        validation_data: Any, batch_size: int | None, steps: int | None
    ) -> EpochIterator:
        """``validation_data`` (a stream, or ``(x, y[, sample_weight])``) as
        an epoch iterator, restarted at each validation like Keras's."""
        if is_streamed(validation_data):
            adapter = make_adapter(validation_data, None, None, batch_size, steps, False)
        else:
            val_x, val_y, val_w = _unpack_data(validation_data)
            adapter = make_adapter(val_x, val_y, val_w, batch_size, steps, False)
        return EpochIterator(adapter, steps)

    def _evaluate_epochs(
        self, epoch_iterator: EpochIterator, callbacks: Sequence[Callback], verbose: int
    ) -> dict[str, float]:
        """One evaluation pass from a fresh iterator (Keras resets it)."""
        epoch_iterator = EpochIterator(epoch_iterator.adapter, epoch_iterator.steps_per_epoch)
        planned = epoch_iterator.num_batches
        callback_list = CallbackList(list(callbacks))
        callback_list.set_model(self)
        self.reset_metrics()
        callback_list.on_test_begin()
        progbar = ProgbarLogger()
        progbar.set_params({"verbose": verbose, "steps": planned})
        progbar._start = time.perf_counter()
        steps_done = 0
        for step, batch in epoch_iterator.epoch():
            callback_list.on_test_batch_begin(step)
            logs = self.test_step(batch)
            callback_list.on_test_batch_end(step, self._logs_as_floats(logs))
            steps_done = step + 1
        results = self._logs_as_floats(self.get_metrics_result())
        callback_list.on_test_end(results)
        # Keras's final bar: the planned steps, or those done when unknown
        progbar.show_final(planned or steps_done, results)
        return results

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics over the data (arrays with ``y``, or a dataset,
        generator or ``PyDataset`` of batches; at most ``steps`` batches) in
        inference mode: the loss alone, ``[loss, *metrics]``, or a dict with
        ``return_dict``.

        >>> import numpy as np, tapegrad as tf
        >>> dense = tf.keras.layers.Dense(1, kernel_initializer="zeros")
        >>> m = tf.keras.Sequential([tf.keras.Input((1,)), dense])
        >>> m.compile("sgd", "mse", metrics=["mae"])
        >>> m.evaluate(np.ones((4, 1)), 2 * np.ones((4, 1)), verbose=0)
        [4.0, 2.0]
        >>> ds = tf.data.Dataset.from_tensor_slices((np.ones((4, 1)), 3 * np.ones((4, 1))))
        >>> m.evaluate(ds.batch(2), verbose=0, return_dict=True)
        {'loss': 9.0, 'mae': 3.0}
        """
        self._check_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        epoch_iterator = EpochIterator(
            make_adapter(x, y, sample_weight, batch_size, steps, False), steps
        )
        results = self._evaluate_epochs(epoch_iterator, list(callbacks or []), verbose)
        if return_dict:
            return results
        ordered = [results[m.name] for m in self.metrics]
        return ordered[0] if len(ordered) == 1 else ordered

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> Any:
        """The model's outputs on ``x`` (arrays, or a dataset, generator or
        ``PyDataset`` whose batches are ``x`` or ``(x, ...)``; at most
        ``steps`` batches), as numpy arrays.

        >>> import numpy as np, tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
        >>> m.predict(np.ones((5, 3)), verbose=0).shape
        (5, 2)
        >>> m.predict(tf.data.Dataset.from_tensor_slices(np.ones((5, 3))).batch(2), verbose=0).shape
        (5, 2)
        """
        verbose = 1 if verbose == "auto" else int(verbose)
        epoch_iterator = EpochIterator(make_adapter(x, None, None, batch_size, steps, False), steps)
        progbar = ProgbarLogger()
        progbar.set_params({"verbose": verbose, "steps": epoch_iterator.num_batches})
        progbar._start = time.perf_counter()
        callback_list = CallbackList(list(callbacks or []))
        callback_list.set_model(self)
        callback_list.on_predict_begin()
        outputs: list[Any] = []
        structure: Any = None
        for step, batch in epoch_iterator.epoch():
            callback_list.on_predict_batch_begin(step)
            out = self.predict_step(batch)
            outputs.append(_nest.flatten(out))
            callback_list.on_predict_batch_end(step, {"outputs": out})
            structure = out
        callback_list.on_predict_end()
        progbar.show_final(len(outputs), {})
        if structure is None:
            raise ValueError(
                "Model.predict: the input yielded no batch; pass data with at least one sample"
            )
        flat = [np.concatenate([np.asarray(o[i]) for o in outputs]) for i in range(len(outputs[0]))]
        return _nest.pack_sequence_as(structure, flat)

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """One ``train_step`` on this batch; returns the metrics of this batch
        alone (Keras 3 resets them first).

        >>> import numpy as np, tapegrad as tf
        >>> dense = tf.keras.layers.Dense(1, kernel_initializer="zeros")
        >>> m = tf.keras.Sequential([tf.keras.Input((1,)), dense])
        >>> m.compile("sgd", "mse")
        >>> m.train_on_batch(np.ones((2, 1)), np.ones((2, 1)))
        1.0
        """
        self._check_compiled("train_on_batch")
        if class_weight is not None:
            raise NotImplementedError("Model.train_on_batch: class_weight is not supported")
        self.reset_metrics()
        logs = self.train_step(
            (
                as_tensors(to_array(x)),
                as_tensors(to_array(y)),
                as_tensors(to_array(sample_weight)),
            )
        )
        return self._flat_logs(logs, return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Loss and metrics on one batch, no update.

        >>> import numpy as np, tapegrad as tf
        >>> dense = tf.keras.layers.Dense(1, kernel_initializer="zeros")
        >>> m = tf.keras.Sequential([tf.keras.Input((1,)), dense])
        >>> m.compile("sgd", "mse")
        >>> m.test_on_batch(np.ones((2, 1)), np.ones((2, 1)))
        1.0
        """
        self._check_compiled("test_on_batch")
        self.reset_metrics()
        logs = self.test_step(
            (
                as_tensors(to_array(x)),
                as_tensors(to_array(y)),
                as_tensors(to_array(sample_weight)),
            )
        )
        return self._flat_logs(logs, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs on one batch, as numpy arrays.

        >>> import numpy as np, tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
        >>> m.predict_on_batch(np.ones((4, 3))).shape
        (4, 2)
        """
        out = self.predict_step(as_tensors(to_array(x)))
        return _map_structure(lambda t: np.asarray(t.numpy()), out)

    def _flat_logs(self, logs: dict[str, Any], return_dict: bool) -> Any:
        results = self._logs_as_floats(logs)
        if return_dict:
            return results
        ordered = [results[m.name] for m in self.metrics if m.name in results]
        return ordered[0] if len(ordered) == 1 else ordered

    # --- weights and saving ------------------------------------------------------

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Write the weights to a Keras 3 ``.weights.h5`` file.

        >>> import os, tempfile, tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
        >>> path = os.path.join(tempfile.mkdtemp(), "m.weights.h5")
        >>> m.save_weights(path); m.load_weights(path)
        """
        from . import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str, skip_mismatch: bool = False) -> None:
        """Read weights written by ``save_weights`` (or by Keras 3).

        >>> import tapegrad as tf
        >>> tf.keras.Model.load_weights.__name__
        'load_weights'
        """
        from . import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def save(self, filepath: str, overwrite: bool = True, zipped: bool | None = None) -> None:
        """Write the model (config, weights) to a Keras 3 ``.keras`` file.

        >>> import os, tempfile, tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
        >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> m.save(path); type(tf.keras.models.load_model(path)).__name__
        'Sequential'
        """
        from . import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def summary(
        self,
        line_length: int | None = None,
        positions: Any = None,
        print_fn: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Print the layers, their output shapes and parameter counts (Keras's table).

        >>> import tapegrad as tf
        >>> tf.keras.backend.clear_session()
        >>> m = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3)])
        >>> m.summary()  # doctest: +NORMALIZE_WHITESPACE
        Model: "sequential"
        ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
        ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
        ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
        │ dense (Dense)                   │ (None, 3)              │            15 │
        └─────────────────────────────────┴────────────────────────┴───────────────┘
         Total params: 15 (60.00 B)
         Trainable params: 15 (60.00 B)
         Non-trainable params: 0 (0.00 B)
        """
        from ._summary import print_summary

        print_summary(self, print_fn or print)

    def get_compile_config(self) -> dict[str, Any] | None:
        if not self.compiled:
            return None
        return {"optimizer": None if self.optimizer is None else self.optimizer.get_config()}


class Functional(Model):
    """A model defined by a graph of layer calls on ``keras.Input``s.

    >>> import tapegrad as tf
    >>> inputs = tf.keras.Input((4,))
    >>> hidden = tf.keras.layers.Dense(8, activation="relu")(inputs)
    >>> model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(hidden))
    >>> model(tf.ones([3, 4])).shape
    TensorShape([3, 2])
    """

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        flat_inputs = _nest.flatten(inputs)
        for tensor in flat_inputs:
            if not isinstance(tensor, KerasTensor) or not hasattr(tensor, "_input_layer"):
                raise ValueError(
                    "Model(inputs, outputs): every input must come from keras.Input(); "
                    f"received {tensor!r}"
                )
        self._nodes = _topological_nodes(_nest.flatten(outputs), flat_inputs)
        self._functional_layers = _keras_layer_order(flat_inputs, _nest.flatten(outputs))
        self.built = True

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(_nest.flatten(self._inputs_struct))

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(_nest.flatten(self._outputs_struct))

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def layers(self) -> list[Layer]:
        return [layer for layer in self._functional_layers if not isinstance(layer, _OperatorCall)]

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        flat_symbolic = _nest.flatten(self._inputs_struct)
        if isinstance(inputs, dict) and not isinstance(self._inputs_struct, dict):
            flat_values = [inputs[t.name] for t in flat_symbolic]
        else:
            flat_values = _nest.flatten(inputs)
        if len(flat_values) != len(flat_symbolic):
            raise ValueError(
                f"Model {self.name} expects {len(flat_symbolic)} input(s), got {len(flat_values)}"
            )
        values: dict[int, Any] = {}
        for symbolic, value in zip(flat_symbolic, flat_values, strict=True):
            value = self._convert_input(value)
            if value.ndim != len(symbolic.shape):
                raise ValueError(
                    f"Input {symbolic.name} of model {self.name} is incompatible: expected "
                    f"shape {symbolic.shape}, got {tuple(value.shape)}"
                )
            values[id(symbolic)] = value
        for node in self._nodes:
            args, kwargs = _map_structure(
                lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                (node.args, node.kwargs),
            )
            out = node.layer(*args, **kwargs)
            for symbolic, value in zip(
                _nest.flatten(node.outputs), _nest.flatten(out), strict=True
            ):
                values[id(symbolic)] = value
        return _map_structure(lambda t: values[id(t)], self._outputs_struct)


def _topological_nodes(outputs: list[KerasTensor], inputs: list[KerasTensor]) -> list[Node]:
    """The layer calls between ``inputs`` and ``outputs``, each after the
    calls its inputs come from."""
    input_ids = {id(t) for t in inputs}
    order: list[Node] = []
    visited: set[int] = set()

    def visit(tensor: KerasTensor) -> None:
        if id(tensor) in input_ids:
            return
        node = tensor._history
        if node is None:
            raise ValueError(
                f"Model(inputs, outputs): {tensor.name!r} does not depend on the given inputs "
                "(an Input is missing from `inputs`)"
            )
        if id(node) in visited:
            return
        visited.add(id(node))
        for parent in node.input_tensors:
            visit(parent)
        order.append(node)

    for tensor in outputs:
        visit(tensor)
    return order


def _keras_layer_order(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Layer]:
    """The layers of a functional model in Keras's order, which fixes the
    order of ``weights``/``get_weights`` and the names in weight files:
    by depth (the longest path to an output), deepest first; ties in the
    order a depth-first walk from the outputs meets the layers; inputs that
    reach no output last among depth 0."""
    input_ids = {id(t) for t in inputs}

    def is_input(tensor: KerasTensor) -> bool:
        return tensor._history is None or id(tensor) in input_ids

    def node_key(tensor: KerasTensor) -> int:
        return id(tensor) if is_input(tensor) else id(tensor._history)

    def layer_of(tensor: KerasTensor) -> Layer:
        if is_input(tensor):
            layer: Layer = tensor._input_layer  # type: ignore[attr-defined]
            return layer
        assert tensor._history is not None
        return tensor._history.layer

    def parents(tensor: KerasTensor) -> list[KerasTensor]:
        if is_input(tensor):
            return []
        assert tensor._history is not None
        return tensor._history.input_tensors

    index: dict[int, int] = {}
    layers: dict[int, Layer] = {}
    finished: set[int] = set()
    post_order: list[KerasTensor] = []  # one tensor standing for each node

    def walk(tensor: KerasTensor) -> None:
        key = node_key(tensor)
        if key in finished:
            return
        layer = layer_of(tensor)
        index.setdefault(id(layer), len(index))
        layers[id(layer)] = layer
        for parent in parents(tensor):
            walk(parent)
        finished.add(key)
        post_order.append(tensor)

    for tensor in outputs:
        walk(tensor)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for tensor in reversed(post_order):
        key = node_key(tensor)
        layer_key = id(layer_of(tensor))
        depth = max(node_depth.setdefault(key, 0), layer_depth.get(layer_key, 0))
        layer_depth[layer_key] = depth
        node_depth[key] = depth
        for parent in parents(tensor):
            parent_key = node_key(parent)
            node_depth[parent_key] = max(depth + 1, node_depth.get(parent_key, 0))
    for tensor in inputs:
        layer_key = id(layer_of(tensor))
        if layer_key not in layer_depth:
            layer_depth[layer_key] = 0
            index[layer_key] = -1
            layers[layer_key] = layer_of(tensor)
    return sorted(
        (layers[key] for key in layer_depth),
        key=lambda layer: (-layer_depth[id(layer)], index[id(layer)]),
    )


class Sequential(Model):
    """A plain stack of layers, each feeding the next.

    >>> import tapegrad as tf
    >>> model = tf.keras.Sequential()
    >>> model.add(tf.keras.Input((4,)))
    >>> model.add(tf.keras.layers.Dense(2))
    >>> [w.shape for w in model.weights]
    [TensorShape([4, 2]), TensorShape([2])]
    """

    def __init__(
        self, layers: Sequence[Any] | None = None, trainable: bool = True, name: str | None = None
    ) -> None:
        super().__init__(trainable=trainable, name=name)
        self._stack: list[Layer] = []
        self._input_batch_shape: tuple[int | None, ...] | None = None
        self._input_dtype: str | None = None
        self._input_layer: InputLayer | None = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_build_from_input()

    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Append a layer (or a ``keras.Input`` first, to fix the input shape).

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential(); m.add(tf.keras.layers.Dense(3)); len(m.layers)
        1
        """
        if isinstance(layer, KerasTensor) and hasattr(layer, "_input_layer"):
            layer = layer._input_layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("Sequential: an Input can only be the first layer")
            self._input_layer = layer
            self._input_batch_shape = layer.batch_shape
            self._input_dtype = layer.dtype
        elif isinstance(layer, Layer):
            if not self._stack and self._input_layer is None and layer._declared_input_shape:
                self._input_batch_shape = (None, *layer._declared_input_shape)
            self._stack.append(layer)
        else:
            raise ValueError(
                "Only instances of `keras.Layer` can be added to a Sequential model. "
                f"Received: {layer!r}"
            )
        if rebuild:
            self.built = False
            self._maybe_build_from_input()

    def pop(self) -> Layer:
        """Remove and return the last layer.

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(3, name="x")]); m.pop().name
        'x'
        """
        if not self._stack:
            raise IndexError("There are no layers in the model.")
        layer = self._stack.pop()
        self.built = False
        self._maybe_build_from_input()
        return layer

    def _maybe_build_from_input(self) -> None:
        if self._input_batch_shape is not None and self._stack:
            self.build(self._input_batch_shape)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    @property
    def input_shape(self) -> Any:
        return self._input_batch_shape

    def build(self, input_shape: Any = None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis first).

        >>> import tapegrad as tf
        >>> m = tf.keras.Sequential([tf.keras.layers.Dense(3)]); m.build((None, 5))
        >>> m.count_params()
        18
        """
        if input_shape is None:
            raise ValueError("Sequential.build: give the input shape, e.g. (None, 4)")
        shape = tuple(input_shape)
        self._input_batch_shape = shape
        dtype = self._input_dtype or self._dtype
        scope = current_name_scope()
        entered = None
        if not scope.endswith(self.name + "/"):
            entered = name_scope(self.name)
            entered.__enter__()
        try:
            symbolic = KerasTensor(shape, dtype)
            for layer in self._stack:
                symbolic = layer._symbolic_call((symbolic,), {})
                layer._inbound_nodes.pop()
        finally:
            if entered is not None:
                entered.__exit__(None, None, None)
        self._output_shape = symbolic.shape
        self._build_shapes = shape
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        outputs = inputs
        for layer in self._stack:
            outputs = layer(outputs)
        return outputs

    def get_config(self) -> dict[str, Any]:
        from .saving import serialize_layer

        layers = []
        if self._input_batch_shape is not None:
            layers.append(
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {
                        "batch_shape": list(self._input_batch_shape),
                        "dtype": self._input_dtype or self._dtype,
                        "sparse": False,
                        "ragged": False,
                        "name": self._input_layer.name if self._input_layer else "input_layer",
                    },
                    "registered_name": None,
                }
            )
        layers += [serialize_layer(layer) for layer in self._stack]
        config = {**super().get_config(), "layers": layers}
        if self._input_batch_shape is not None:
            config["build_input_shape"] = list(self._input_batch_shape)
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Sequential:
        from .saving import deserialize_layer

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_config in config["layers"]:
            if layer_config["class_name"] == "InputLayer":
                c = layer_config["config"]
                shape = c.get("batch_shape") or c.get("batch_input_shape")
                model.add(
                    InputLayer(batch_shape=shape, dtype=c.get("dtype"), name=c.get("name")),
                    rebuild=False,
                )
            else:
                model.add(deserialize_layer(layer_config, custom_objects), rebuild=False)
        if model._input_batch_shape is None and config.get("build_input_shape"):
            model._input_batch_shape = tuple(config["build_input_shape"])
        model._maybe_build_from_input()
        return model


def load_model(
    filepath: str,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Model:
    """Load a model saved with ``model.save`` (or by Keras 3) as ``.keras``.

    >>> import tapegrad as tf
    >>> tf.keras.models.load_model.__name__
    'load_model'
    """
    from . import saving

    model: Model = saving.load_model(filepath, custom_objects=custom_objects, compile=compile)
    return model


def clone_model(model: Model) -> Model:
    """A model of the same architecture with new weights (Sequential/functional).

    >>> import tapegrad as tf
    >>> m = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    >>> type(tf.keras.models.clone_model(m)).__name__
    'Sequential'
    """
    from .saving import deserialize_layer, serialize_layer

    config = serialize_layer(model)
    clone = deserialize_layer(config)
    assert isinstance(clone, Model)
    return clone


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.models", name)
