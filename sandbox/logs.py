"""What ``sandbox up`` prints: the functions' and the emulators' log records, for a person or a machine.

Every handler logs through :mod:`functions.logs`: one JSON object per line on stdout
(``{"level", "message", "timestamp", ...fields}``), as CloudWatch Logs wants them; the sandbox's
emulators (API destinations, fault injection) log through the same function, in the same shape.
:class:`LogStream` stands in for ``sys.stdout`` while the sandbox runs and shows each such record

- ``json``: unchanged, one object per line (for ``jq``, log shippers, tests);
- ``text``: ``12:00:01.234 INFO    delivery attempt  tenantId=1 eventId=evt_1 statusCode=200 ...``

and drops ``INFO`` (and ``DEBUG``) records with ``quiet``. The functions' EMF metric documents
(:mod:`functions.metrics`, ``{"_aws": ..., "message": "metrics", ...}``) count as ``INFO`` records. Any other line (the ready summary, a
``print``) passes through unchanged. The default format is ``text`` on a terminal and ``json``
otherwise (a file or a pipe keeps what machines read).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
RECORD_KEYS = frozenset({"level", "message", "timestamp"})
QUIET_LEVELS = frozenset({"DEBUG", "INFO"})


def default_format(stream: TextIO) -> str:
    """``text`` for a person at a terminal, ``json`` for a file or a pipe."""
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # a closed or unusual stream
        return "json"


def parse_record(line: str) -> dict[str, Any] | None:
    """The log record a line holds (functions.logs' shape), or ``None`` for any other line."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    aws = value.get("_aws")
    if "level" not in value and isinstance(aws, dict) and isinstance(aws.get("Timestamp"), (int, float)):
        # An EMF metric document (functions.metrics, one per delivery attempt): an INFO record to show.
        fields = {key: field for key, field in value.items() if key not in ("_aws", "message")}
        return {
            "level": "INFO",
            "message": value.get("message", "metrics"),
            "timestamp": aws["Timestamp"] / 1000,
            **fields,
        }
    return value if value.keys() >= RECORD_KEYS else None


def render_text(record: Mapping[str, Any]) -> str:
    """One line a person reads: time, level, message, then the fields as ``key=value``."""
    stamp = record.get("timestamp")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        clock = time.strftime("%H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"
    else:
        clock = str(stamp)
    fields = " ".join(
        f"{key}={_text_value(value)}" for key, value in record.items() if key not in RECORD_KEYS and value is not None
    )
    head = f"{clock} {record.get('level', '?')!s:<7} {record.get('message', '')}"
    return f"{head}  {fields}" if fields else head


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() or c in '"=' for c in value) else json.dumps(value)
    return json.dumps(value, default=str, separators=(",", ":"))


class LogStream(io.TextIOBase):
    """A ``sys.stdout`` that shows log records in ``log_format`` (see the module docstring).

    Lines are assembled per thread (handlers run in many threads and a record is written as one
    ``write``, a ``print`` as two) and written whole, one at a time.
    """

    def __init__(self, target: TextIO, *, log_format: str = "json", quiet: bool = False) -> None:
        if log_format not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}; got {log_format!r}")
        super().__init__()
        self.target = target
        self.log_format = log_format
        self.quiet = quiet
        self._pending = threading.local()
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    def write(self, text: str) -> int:
        pending = getattr(self._pending, "text", "") + text
        *lines, rest = pending.split("\n")
        self._pending.text = rest
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        rest = getattr(self._pending, "text", "")
        if rest:
            self._pending.text = ""
            self._emit(rest)
        with self._lock:
            self.target.flush()

    def _emit(self, line: str) -> None:
        record = parse_record(line)
        if record is not None:
            if self.quiet and str(record.get("level", "")).upper() in QUIET_LEVELS:
                return
            if self.log_format == "text":
                line = render_text(record)
        with self._lock:
            self.target.write(line + "\n")
            self.target.flush()


@contextmanager
def routed_stdout(target: TextIO, *, log_format: str, quiet: bool) -> Iterator[LogStream]:
    """Make ``sys.stdout`` a :class:`LogStream` over ``target`` for the duration (restored after)."""
    import sys

    stream = LogStream(target, log_format=log_format, quiet=quiet)
    previous, sys.stdout = sys.stdout, stream
    try:
        yield stream
    finally:
        stream.flush()
        sys.stdout = previous
