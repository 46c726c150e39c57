"""``tf.device``: device placement, on a machine whose only device is the CPU."""

from __future__ import annotations

from types import TracebackType

from . import errors

__all__ = ["device"]

# TF's device types a short spec ("gpu:0", "cpu") may name
_DEVICE_TYPES = frozenset({"CPU", "GPU", "TPU"})


def _parse(spec: str) -> None:
    """Check ``spec`` as TF's ``DeviceSpec.from_string`` does (``ValueError``
    for a malformed one); a well-formed spec for another job is refused."""
    device_type: str | None = None
    for part in spec.split("/"):
        if not part:
            continue
        fields = part.split(":")
        key = fields[0]
        if len(fields) == 2 and key in ("job", "replica", "task"):
            if key == "job" and fields[1] != "localhost":
                raise errors.InvalidArgumentError(
                    f"{spec}: unknown device. tapegrad runs in one process (job 'localhost')."
                )
            if key != "job":
                int(fields[1])  # TF's own ValueError for a non-integer
            continue
        if len(fields) in (1, 2) and key.upper() in _DEVICE_TYPES:
            kind, index = key.upper(), fields[1:]
        elif len(fields) == 3 and key == "device":
            kind, index = fields[1].upper(), fields[2:]
        else:
            raise ValueError(
                f"Unknown attribute '{key}' is encountered while parsing the device spec: '{spec}'."
            )
        if index and index[0] != "*":
            int(index[0])
        if device_type is not None and device_type != kind:
            raise ValueError(
                f"Multiple device types are not allowed while parsing the device spec: {spec}."
            )
        device_type = kind


class device:  # noqa: N801 - TF's name
    """Place the ops run in this context on ``device_name`` (``tf.device``).

    tapegrad computes on the host CPU only, so every op runs there, as TF
    does on a machine without the named device (soft placement): a GPU or
    TPU name is accepted and ops still run on the CPU. A malformed name
    raises ``ValueError`` as in TF.

    >>> import tapegrad as tf
    >>> with tf.device("/GPU:0"):
    ...     y = tf.constant([1.0]) + 1.0
    >>> y.device
    '/job:localhost/replica:0/task:0/device:CPU:0'
    """

    __slots__ = ("name",)

    def __init__(self, device_name: str | None) -> None:
        if device_name is not None and not isinstance(device_name, str):
            raise ValueError(
                f"Expecting a string device name. Got {type(device_name)}({device_name!r})"
            )
        if device_name:
            _parse(device_name)
        self.name = device_name or ""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None
