"""Whether a process id still names a running process."""

import os


def alive(pid: int) -> bool:
    """True while the process runs. A zombie (dead, not yet reaped) is not alive: a server killed with SIGKILL
    stays one until its parent reaps it, which for an orphan here took PID 1 about 1.5 s."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, and it exists
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False  # no /proc (macOS): kill(pid, 0) is all there is
