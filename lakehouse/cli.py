"""`lakehouse <command>`: a thin front door to the glue modules; user errors end in one line, not a traceback."""

import sys
from collections.abc import Callable

from lakehouse.errors import LakehouseError


def run(command: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    try:
        command(argv)
    except LakehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    from functools import partial

    from lakehouse import ingest, jars, scale, servers, summary

    commands = {"jars": jars.main, "ingest": ingest.main, "summary": summary.main, "scale": scale.main}
    commands.update({server: partial(servers.main, server) for server in servers.SERVERS})
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: lakehouse {{{','.join(commands)}}} [options]", file=sys.stderr)
        sys.exit(2)
    run(commands[sys.argv[1]], sys.argv[2:])
