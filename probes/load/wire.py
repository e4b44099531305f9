"""Messages between the caller and the driver process: length-prefixed msgpack frames on a pipe.

Each frame is ``(kind, payload)``: from the driver "s" LoadSecond, "r" StepResult, "o" RampOutcome, "e" an event
line; to the driver "cfg" the configuration (first frame) and "c" a command ``[name, value]``.
"""

from __future__ import annotations

import struct
from typing import IO, Any

import msgspec

from bottlenecktop.probes.samples import LoadSecond, RampOutcome, StepResult

_LEN = struct.Struct(">I")
_encoder = msgspec.msgpack.Encoder()
_frame = msgspec.msgpack.Decoder(tuple[str, msgspec.Raw])
_payload_types: dict[str, Any] = {"s": LoadSecond, "r": StepResult, "o": RampOutcome, "e": str}


def encode(kind: str, payload: object) -> bytes:
    body = _encoder.encode((kind, payload))
    return _LEN.pack(len(body)) + body


def split(buffer: bytearray) -> list[tuple[str, msgspec.Raw]]:
    """Take every complete frame off the front of ``buffer`` (which keeps a trailing partial frame)."""
    frames = []
    while len(buffer) >= 4:
        (size,) = _LEN.unpack_from(buffer)
        if len(buffer) < 4 + size:
            break
        frames.append(_frame.decode(bytes(buffer[4 : 4 + size])))
        del buffer[: 4 + size]
    return frames


def read_frame(stream: IO[bytes]) -> tuple[str, msgspec.Raw] | None:
    """Blocking read of one frame; None at end of stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = _LEN.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return _frame.decode(body)


def decode_payload(kind: str, raw: msgspec.Raw, type_: Any = None) -> Any:
    """The payload of a frame as its type (LoadSecond, StepResult, RampOutcome, str, or ``type_``)."""
    return msgspec.msgpack.decode(raw, type=type_ or _payload_types.get(kind, Any))
