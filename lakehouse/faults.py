"""Named points where a test can stop a process on purpose, to kill it there: LAKEHOUSE_PAUSE_AT=<point> makes
the process say `paused at <point>` on stdout when it gets there, and wait to be killed. Unset, a point costs
nothing. The kill tests use them to land a SIGKILL between two commits that belong together."""

import os
import time

PAUSE_VARIABLE = "LAKEHOUSE_PAUSE_AT"


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_VARIABLE) == name:
        print(f"paused at {name}", flush=True)
        while True:
            time.sleep(60)
