"""Long-running processes the project starts in the background: a pid file and a log under the state folder.

A daemon is started in its own session (process group), so that stopping it stops everything it spawned, and
its pid file is only trusted while that process is alive: a server killed with SIGKILL leaves a stale file
behind, which reads as "not running".
"""

import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import ServerError
from lakehouse.paths import metastore_holder_file, server_dir
from lakehouse.processes import alive

LOOPBACK = "127.0.0.1"  # where every server of the project listens unless told otherwise


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host`: localhost, 127.0.0.0/8 or ::1 (another name may be anywhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(title: str, host: str, port: int, exposes: str) -> str | None:
    """The line to print when a server without authentication binds where other machines may reach it."""
    if is_loopback(host):
        return None
    return f"warning: binding {host}: the {title} has no authentication; anyone who reaches {host}:{port} can {exposes}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Daemon:
    name: str
    title: str
    # The dbt target that reaches a server which boots the embedded metastore and holds it while it runs.
    metastore_target: str | None = None
    # What anyone who can reach the server may do: it asks for no credentials.
    exposes: str | None = None

    @property
    def run_dir(self) -> Path:
        return server_dir(self.name)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The running process's id, or None when it is not running (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if _alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def launch(self, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("w") as log:
            process = subprocess.Popen(
                command,
                cwd=self.run_dir,  # anything the JVM writes next to itself stays in the state folder
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        if self.metastore_target:
            holder = {"pid": process.pid, "name": self.name, "title": self.title, "target": self.metastore_target}
            metastore_holder_file().write_text(json.dumps(holder))
        return process

    def wait_until_ready(self, process: subprocess.Popen, ready: Callable[[], bool], timeout: float) -> None:
        """Poll `ready` until it holds; fail with the log's telling line if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ServerError(
                    f"the {self.title} stopped while starting: {self.last_error()} (log: {self.log_file})"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"the {self.title} did not answer within {timeout:.0f} s (log: {self.log_file})")
            time.sleep(1)

    def stop(self, timeout: float = 60) -> bool:
        """Stop the process group (SIGTERM, then SIGKILL after `timeout`); False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        if self.metastore_target:
            metastore_holder_file().unlink(missing_ok=True)
        return True

    def last_error(self) -> str:
        """The most telling line of the log: the last exception or error, else its last line."""
        lines = [line.strip() for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        for line in reversed(lines):
            if "Exception" in line or "Error" in line or "ERROR" in line:
                return line
        return lines[-1] if lines else "no output"


THRIFT = Daemon("thrift", "Thrift server", metastore_target="thrift", exposes="run SQL as you")
CONNECT = Daemon("connect", "Spark Connect server", metastore_target="connect", exposes="run SQL and Python as you")
MASTER = Daemon("master", "standalone master", exposes="submit code that runs as you")
WORKER = Daemon("worker", "standalone worker")


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own exited child, or it lingers as a zombie
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child: started by another `lakehouse` process
    return alive(pid)


def _signal_group(pid: int, signal_number: int) -> None:
    try:
        os.killpg(pid, signal_number)
    except ProcessLookupError:
        pass


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM's servers bind: TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False
