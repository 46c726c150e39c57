"""Recurrent layers: ``SimpleRNN``, ``GRU`` and ``LSTM`` with their cells,
and the generic ``RNN`` that runs a cell over the time axis.

Each layer projects the inputs of every step with one matrix product, then
loops over the steps in Python on tapegrad ops (Keras's weight layout and
gate order: LSTM ``i, f, c, o``; GRU ``z, r, h``)."""

from __future__ import annotations

from typing import Any

from ... import _core
from ..._core import Tensor
from .. import activations, initializers, regularizers
from ._base import Layer

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "SimpleRNNCell", "SimpleRNN"]

_sigmoid = _core.ops["sigmoid"]


def _refuse(layer: str, **options: Any) -> None:
    for key, value in options.items():
        if value:
            raise NotImplementedError(f"keras.layers.{layer}: `{key}` is not supported by tapegrad")


class _Cell(Layer):
    _gates = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        _refuse(
            name,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
        )
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.seed = seed

    @property
    def state_size(self) -> Any:
        return self.units

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _bias_initializer(self) -> Any:
        return self.bias_initializer

    def build(self, input_shape: Any) -> None:
        width = self._gates * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], width),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            name="recurrent_kernel",
        )
        self.bias = (
            self.add_weight(
                shape=self._bias_shape(),
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                name="bias",
            )
            if self.use_bias
            else None
        )

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """``inputs @ kernel (+ input bias)`` for every step at once."""
        out = _core.tensordot(inputs, self.kernel, [[inputs.ndim - 1], [0]])
        bias = self._input_bias()
        return out if bias is None else out + bias

    def _input_bias(self) -> Any:
        return self.bias

    def step(self, projected: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        raise NotImplementedError

    def call(self, inputs: Any, states: Any, training: bool | None = None) -> Any:
        """One step: ``(output, new_states)`` for ``inputs`` of shape (batch, features)."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        return self.step(self.project_inputs(inputs), states)

    def get_initial_state(self, batch_size: int) -> list[Tensor]:
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [_core.zeros([batch_size, s], dtype=self._dtype) for s in sizes]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": None,
            "recurrent_constraint": None,
            "bias_constraint": None,
            "dropout": 0.0,
            "recurrent_dropout": 0.0,
            "seed": self.seed,
        }


class SimpleRNNCell(_Cell):
    """``h = activation(x @ kernel + h @ recurrent_kernel + bias)``.

    >>> import tapegrad as tf
    >>> cell = tf.keras.layers.SimpleRNNCell(3)
    >>> out, states = cell(tf.ones([2, 4]), [tf.zeros([2, 3])])
    >>> out.shape, len(states)
    (TensorShape([2, 3]), 1)
    """

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        super().__init__(units, activation=activation, **kwargs)

    def step(self, projected: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h = self.activation(projected + _core.matmul(states[0], self.recurrent_kernel))
        return h, [h]


class LSTMCell(_Cell):
    """Long short-term memory: gates ``i, f, o = recurrent_activation(·)``,
    ``c = f·c + i·activation(·)``, ``h = o·activation(c)``; with
    ``unit_forget_bias`` the forget gate's bias starts at one.

    >>> import tapegrad as tf
    >>> cell = tf.keras.layers.LSTMCell(3)
    >>> out, (h, c) = cell(tf.ones([2, 4]), [tf.zeros([2, 3]), tf.zeros([2, 3])])
    >>> out.shape, c.shape
    (TensorShape([2, 3]), TensorShape([2, 3]))
    """

    _gates = 4

    def __init__(
        self, units: int, unit_forget_bias: bool = True, implementation: int = 2, **kwargs: Any
    ) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias
        self.implementation = implementation

    @property
    def state_size(self) -> Any:
        return [self.units, self.units]

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def init(shape: Any, dtype: Any = None) -> Tensor:
            assert base is not None
            return _core.concat(
                [
                    base((units,), dtype),
                    _core.ones([units], dtype=dtype or self._dtype),
                    base((2 * units,), dtype),
                ],
                axis=0,
            )

        return init

    def step(self, projected: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h, c = states
        z = projected + _core.matmul(h, self.recurrent_kernel)
        zi, zf, zc, zo = _core.split(z, 4, axis=-1)
        i = self.recurrent_activation(zi)
        f = self.recurrent_activation(zf)
        c = f * c + i * self.activation(zc)
        o = self.recurrent_activation(zo)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRUCell(_Cell):
    """Gated recurrent unit (Keras 3's default ``reset_after=True``: the
    reset gate multiplies ``h @ recurrent_kernel_h + recurrent bias``).

    >>> import tapegrad as tf
    >>> cell = tf.keras.layers.GRUCell(3)
    >>> cell.build((None, 4)); cell.bias.shape
    TensorShape([2, 9])
    """

    _gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self) -> Any:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def step(self, projected: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h_prev = states[0]
        x_z, x_r, x_h = _core.split(projected, 3, axis=-1)
        u = self.units
        if self.reset_after:
            inner = _core.matmul(h_prev, self.recurrent_kernel)
            if self.bias is not None:
                inner = inner + self.bias[1]
            r_z, r_r, r_h = _core.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            kernel_zr = self.recurrent_kernel[:, : 2 * u]
            r_z, r_r = _core.split(_core.matmul(h_prev, kernel_zr), 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(
                x_h + _core.matmul(r * h_prev, self.recurrent_kernel[:, 2 * u :])
            )
        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


class RNN(Layer):
    """Run ``cell`` over the time axis of ``(batch, steps, features)`` inputs;
    the last output, or all of them (``return_sequences``), plus the final
    states with ``return_state``.

    >>> import tapegrad as tf
    >>> rnn = tf.keras.layers.RNN(tf.keras.layers.SimpleRNNCell(4), return_sequences=True)
    >>> rnn(tf.ones([2, 5, 3])).shape
    TensorShape([2, 5, 4])
    """

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, (list, tuple)):
            raise NotImplementedError("keras.layers.RNN: stacked cells (a list) are not supported")
        _refuse("RNN", stateful=stateful)
        kwargs.pop("time_major", None)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.unroll = unroll

    def build(self, input_shape: Any) -> None:
        if not self.cell.built:
            from ..._module import name_scope

            with name_scope(self.cell.name):
                self.cell.build((input_shape[0], input_shape[-1]))
            self.cell.built = True

    def call(
        self, inputs: Any, initial_state: Any = None, training: bool | None = None, mask: Any = None
    ) -> Any:
        if inputs.ndim != 3:
            raise ValueError(
                f"{type(self).__name__}: inputs must be (batch, steps, features), "
                f"got shape {tuple(inputs.shape)}"
            )
        batch, steps = inputs.shape[0], inputs.shape[1]
        if initial_state is None:
            states = self.cell.get_initial_state(batch)
        else:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            states = [_core.convert_to_tensor(s) for s in states]
        projected = _core.unstack(self.cell.project_inputs(inputs), axis=1)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        output = None
        for t in order:
            output, states = self.cell.step(projected[t], states)
            if self.return_sequences:
                outputs.append(output)
        if steps == 0:
            raise ValueError(f"{type(self).__name__}: the inputs have no time steps")
        result = _core.stack(outputs, axis=1) if self.return_sequences else output
        if self.return_state:
            return [result, *states]
        return result

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": False,
            "unroll": self.unroll,
            "zero_output_for_mask": False,
        }


class _RecurrentLayer(RNN):
    _cell_class: type[_Cell] = SimpleRNNCell
    _cell_args: tuple[str, ...] = ()

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ) -> None:
        layer_args = {
            k: kwargs.pop(k)
            for k in ("name", "trainable", "dtype", "input_shape", "input_dim", "batch_input_shape")
            if k in kwargs
        }
        _refuse(
            type(self).__name__, use_cudnn=kwargs.pop("use_cudnn", "auto") not in ("auto", False)
        )
        kwargs.pop("time_major", None)
        kwargs.pop("zero_output_for_mask", None)  # masks are refused elsewhere
        if self._cell_class is not LSTMCell:  # Keras's speed knob; values do not depend on it
            kwargs.pop("implementation", None)
        cell = self._cell_class(
            units, dtype=layer_args.get("dtype"), name=self._cell_name(), **kwargs
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **layer_args,
        )

    @classmethod
    def _cell_name(cls) -> str:
        from ..backend import snake_case

        return snake_case(cls._cell_class.__name__)

    def __getattr__(self, name: str) -> Any:
        # Keras exposes the cell's hyperparameters on the layer (layer.units, …)
        if name.startswith("_") or "cell" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["cell"], name)

    def get_config(self) -> dict[str, Any]:
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**super().get_config(), **cell_config}


class SimpleRNN(_RecurrentLayer):
    """A fully connected RNN: ``h_t = tanh(x_t W + h_{t-1} U + b)``.

    >>> import tapegrad as tf
    >>> tf.keras.layers.SimpleRNN(4)(tf.ones([2, 5, 3])).shape
    TensorShape([2, 4])
    """

    _cell_class = SimpleRNNCell


class LSTM(_RecurrentLayer):
    """Long short-term memory layer (``return_state`` gives ``[out, h, c]``).

    >>> import tapegrad as tf
    >>> out, h, c = tf.keras.layers.LSTM(4, return_state=True)(tf.ones([2, 5, 3]))
    >>> out.shape, c.shape
    (TensorShape([2, 4]), TensorShape([2, 4]))
    """

    _cell_class = LSTMCell


class GRU(_RecurrentLayer):
    """Gated recurrent unit layer (``reset_after=True``, Keras 3's default).

    >>> import tapegrad as tf
    >>> tf.keras.layers.GRU(4, return_sequences=True)(tf.ones([2, 5, 3])).shape
    TensorShape([2, 5, 4])
    """

    _cell_class = GRUCell
