"""The error boundary of every entry point (`lakehouse <command>`, `python -m lakehouse.<module>`, `ml/*.py`):
a user's error ends in one line naming the fix, anything else in one line and the whole trace in the log."""

import shutil
import sys
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime

from lakehouse.errors import DiskFullError, LakehouseError
from lakehouse.paths import STATE_HOME_VARIABLE, error_log, state_home

# ENOSPC as Python's OSError and the JVM's java.io.IOException both word it.
NO_SPACE_LEFT = "No space left on device"


def run(command: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    try:
        command(argv)
    except Exception as error:
        known = error if isinstance(error, LakehouseError) else as_user_error(error)
        if known is not None:
            print(f"error: {known}", file=sys.stderr)
        else:  # an engine failure or a bug: one line here, the whole trace in the log
            first_line = (str(error).strip().splitlines() or [""])[0]
            print(f"error: {type(error).__name__}: {first_line} ({keep_trace()})", file=sys.stderr)
        sys.exit(1)


def as_user_error(error: Exception) -> LakehouseError | None:
    """An engine failure that the user can fix, as the error that names the fix; None for any other."""
    if any(NO_SPACE_LEFT in _text(link) for link in _chain(error)):
        return disk_full_error()
    return None


def disk_full_error() -> DiskFullError:
    """Nearly everything a run writes goes under the state folder (Delta tables, metastore, Spark's scratch)."""
    home = state_home()
    try:
        free = f", {shutil.disk_usage(home).free / 1e6:,.1f} MB free now"
    except OSError:
        free = ""
    return DiskFullError(
        f"the disk that holds the state folder {home} ran out of space{free}: free space on it, or set "
        f"{STATE_HOME_VARIABLE} to a folder on a larger disk, and run again; the Delta tables keep their last "
        "complete version"
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _text(error: BaseException) -> str:
    """An error's message, with a Spark failure's JVM trace and its `Caused by:` lines: py4j's message holds it,
    pyspark's converted errors (AnalysisException, ...) keep it aside."""
    try:
        return f"{error}\n{getattr(error, '_stackTrace', '')}"
    except Exception:  # the JVM that would render it has gone
        return repr(error)


def keep_trace() -> str:
    """Append the trace being handled to the error log; what the user's line says of it."""
    log = error_log()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as trace:
            trace.write(f"--- {datetime.now().isoformat(timespec='seconds')} {' '.join(sys.argv)}\n")
            trace.write(traceback.format_exc())
    except OSError as error:  # a full or read-only disk: the user still gets the one line
        return f"no trace kept in {log}: {error.strerror}"
    return f"full trace in {log}"
