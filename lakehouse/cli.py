"""`lakehouse <command>`: a thin front door to the glue modules; user errors end in one line, not a traceback."""

import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lakehouse.errors import LakehouseError
from lakehouse.paths import state_home


def error_log() -> Path:
    return state_home() / "logs" / "lakehouse.log"


def run(command: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
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


def main() -> None:
    from functools import partial

    from lakehouse import bench, ingest, jars, profile, scale, servers, summary

    commands = {
        "jars": jars.main,
        "ingest": ingest.main,
        "summary": summary.main,
        "scale": scale.main,
        "bench": bench.main,
        "profile": profile.main,
    }
    commands.update({server: partial(servers.main, server) for server in servers.SERVERS})
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: lakehouse {{{','.join(commands)}}} [options]", file=sys.stderr)
        sys.exit(2)
    run(commands[sys.argv[1]], sys.argv[2:])
