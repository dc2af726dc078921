"""Stops the sandbox's PostgreSQL when the sandbox dies without stopping it (SIGKILL, the OOM killer).

:class:`sandbox.aurora.LocalAurora` starts this module as a child, ``python -m sandbox.pg_watchdog
DIRECTORY``, in a session of its own (a Ctrl-C or a closed terminal signals the sandbox, not it) and
with a pipe on its stdin whose only writer is the sandbox process. The kernel closes that pipe when
the sandbox exits, however it ends, and the sandbox closes it after its own stop: at end of file the
watchdog stops a postmaster still running on ``DIRECTORY/data`` (after a clean stop there is none)
and removes ``DIRECTORY``. Standard library and psutil only, so it starts in tens of milliseconds.
"""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path


def stop_postmaster(data: Path) -> None:
    """Stop a PostgreSQL still running on ``data`` (its start was interrupted before a handle existed,
    or the sandbox that started it died). The pid file names it; the process must be a ``postgres``
    whose command line names this data directory, so a pid reused by another process is left alone."""
    import psutil

    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        if process.name() != "postgres" or str(data) not in " ".join(process.cmdline()):
            return
        process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        try:
            process.wait(timeout=10)
        except psutil.TimeoutExpired:
            process.kill()
    except (OSError, ValueError, IndexError, psutil.Error):
        return


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m sandbox.pg_watchdog DIRECTORY", file=sys.stderr)
        return 2
    directory = Path(argv[0])
    sys.stdin.buffer.read()  # returns at end of file: the sandbox stopped, or died
    stop_postmaster(directory / "data")
    shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
