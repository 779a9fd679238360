"""One writer at a time for what Delta cannot guard across processes.

Delta's local log store serializes commits only inside one JVM, so two processes appending to the same table on a
local disk can both write the same version. The metastore already keeps dbt, the loader and the servers apart
(Derby admits one JVM, and each process that boots it notes itself here, so the next one is told who); what runs
without it, `lakehouse stream`, takes a lock file here instead. The lock is the
operating system's (flock), so it goes with its process however that process ends, SIGKILL included, and a
stale file never blocks anyone; the file says who holds it, for the message the next one gets.
"""

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakehouse.errors import WriterLockedError
from lakehouse.processes import alive


@contextmanager
def sole_writer(lock_file: Path, what: str, how_to_stop: str) -> Iterator[None]:
    """Hold lock_file while the block runs; fail at once, naming the holder, when another process holds it."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder, pid = _holder(handle.read())
            raise WriterLockedError(f"{holder} is already writing {what}: {how_to_stop.format(pid=pid)}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(_this_process())
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


def note_holder(note_file: Path) -> None:
    """Say who holds what a lock of someone else's guards (the metastore: Derby's own lock), for holder_of."""
    note_file.parent.mkdir(parents=True, exist_ok=True)
    note_file.write_text(_this_process())


def holder_of(note_file: Path) -> tuple[str, str] | None:
    """(who, pid) as note_holder wrote it, while that process still runs; None when no live process is noted."""
    try:
        recorded = note_file.read_text()
        pid = int(json.loads(recorded)["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _holder(recorded) if alive(pid) and pid != os.getpid() else None


def _this_process() -> str:
    return json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv), "since": time.time()})


def _holder(recorded: str) -> tuple[str, str]:
    """Who holds the lock, in words, and its pid."""
    try:
        found = json.loads(recorded)
        since = time.strftime("%H:%M:%S", time.localtime(found["since"]))
        return f"another process (pid {found['pid']}, `{found['command']}`, since {since})", str(found["pid"])
    except (ValueError, KeyError, TypeError):  # caught between taking the lock and writing its note
        return "another process", "<pid>"
