"""The error boundary of every entry point (`lakehouse <command>`, `python -m lakehouse.<module>`, `ml/*.py`):
a user's error ends in one line naming the fix, anything else in one line and the whole trace in the log."""

import sys
import traceback
from collections.abc import Callable
from datetime import datetime

from lakehouse.errors import LakehouseError
from lakehouse.paths import error_log


def run(command: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    try:
        command(argv)
    except LakehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # an engine failure or a bug: one line here, the whole trace in the log
        log = error_log()
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as trace:
            trace.write(f"--- {datetime.now().isoformat(timespec='seconds')} {' '.join(sys.argv)}\n")
            trace.write(traceback.format_exc())
        message = (str(error).strip().splitlines() or [""])[0]
        print(f"error: {type(error).__name__}: {message} (full trace in {log})", file=sys.stderr)
        sys.exit(1)
