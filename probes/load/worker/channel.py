"""The driver process's pipes: stdin frames in (non-blocking, on the loop), stdout frames out."""

from __future__ import annotations

import os

import msgspec

from bottlenecktop.probes.load import wire as load_wire
from bottlenecktop.probes.load.config import DriverConfig


class Channel:
    """stdin frames in (non-blocking, on the loop), stdout frames out."""

    def __init__(self, out_fd: int) -> None:
        self.out_fd = out_fd
        self.buffer = bytearray()
        self.broken = False
        self.outcome_sent = False
        self.pending: list[tuple[str, msgspec.Raw]] = []

    def send(self, kind: str, payload: object) -> None:
        if self.broken:
            return
        if kind == "o":
            self.outcome_sent = True
        data = load_wire.encode(kind, payload)
        try:
            while data:
                written = os.write(self.out_fd, data)
                data = data[written:]
        except OSError:  # the parent is gone; nothing to report to
            self.broken = True

    def read_config(self) -> DriverConfig:
        while True:
            frames = load_wire.split(self.buffer)
            if frames:
                kind, raw = frames[0]
                # Commands that came in right behind the config stay for the loop.
                self.pending = frames[1:]
                config: DriverConfig = load_wire.decode_payload(kind, raw, DriverConfig)
                return config
            chunk = os.read(0, 65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
