"""Recordings: one crash-safe file per session, appended tick by tick, read back into the same Session.

The format (docs/recording-format.md has the long version): gzip-compressed JSON Lines, one record per line,
each record an object whose first key is ``kind``: ``header`` (first), ``frame`` (one per tick), ``hist`` (the
merged latency histogram of a window of a few seconds), ``member`` (a copy of the header at the start of every
later gzip member), ``verdict`` and ``end`` (on a clean close). Every record ends with its sequence number and a
CRC32 of its own bytes, so a changed value is detected, never accepted. Every record is followed by a zlib sync
flush, so the bytes on disk always end on a record boundary except while a write is in flight: ``kill -9``
keeps every complete tick. Every 60 records the gzip member is closed and a new one begun, so a damaged byte
costs at most the rest of its member; ``zcat FILE | jq`` reads the whole thing. A background thread syncs the
file to the disk every SYNC_INTERVAL_S.
"""


from bottlenecktop.recording.format import (
    FORMAT,
    INTEGRITY,
    RECORDS_PER_MEMBER,
    SUFFIX,
    SYNC_INTERVAL_S,
    HistWindow,
    Recording,
    RecordingError,
    seal,
    unseal,
)
from bottlenecktop.recording.reader import read_recording, session_from_recording
from bottlenecktop.recording.writer import RecordingWriter, default_recording_path

__all__ = [
    "FORMAT",
    "INTEGRITY",
    "RECORDS_PER_MEMBER",
    "SUFFIX",
    "SYNC_INTERVAL_S",
    "HistWindow",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "default_recording_path",
    "read_recording",
    "seal",
    "session_from_recording",
    "unseal",
]
