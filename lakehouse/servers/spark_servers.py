"""Spark's own servers, started from the pyspark wheel with the project's one Spark configuration.

    lakehouse thrift  start|stop|status   HiveThriftServer2: JDBC/ODBC, dbt's `thrift` target
    lakehouse connect start|stop|status   Spark Connect: dbt's `connect` target, any Spark 4 client
    lakehouse cluster start|stop|status   a standalone master and one worker: the `cluster` target

Where each server listens comes from its target in profiles.yml (with the same environment variables and
defaults dbt reads: loopback, and a warning on stderr for any other address, as none of them asks for
credentials), and the Thrift and Connect servers run with a session target's `server_side_parameters`
(`--target local` by default, `--target cluster` to run them on the standalone cluster). Pid files and logs go
to LAKEHOUSE_HOME/servers/<name>/. `start` returns once the server answers a query; `stop` is idempotent.
"""

import argparse
import getpass
import json
import os
import sys
import urllib.request
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pyspark.find_spark_home import _find_spark_home

from lakehouse.errors import ServerError
from lakehouse.paths import ensure_delta_jars, scratch_dir
from lakehouse.servers.daemons import (
    CONNECT,
    MASTER,
    THRIFT,
    WORKER,
    Daemon,
    exposure_warning,
    port_answers,
    port_is_free,
)
from lakehouse.spark import ensure_metastore_free, java_executable, spark_conf, target_output

SPARK_HOME = Path(_find_spark_home())
START_TIMEOUT_SECONDS = 240


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    port_variable: str  # the environment variable that moves it, named in errors

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def ensure_free(self) -> None:
        if not port_is_free(self.host, self.port):
            raise ServerError(f"port {self} is in use: stop what holds it, or set {self.port_variable} to a free port")


def thrift_endpoint() -> Endpoint:
    output = target_output("thrift")
    return Endpoint(output["host"], int(output["port"]), "LAKEHOUSE_THRIFT_PORT")


def connect_endpoint() -> Endpoint:
    url = urlsplit(target_output("connect")["server_side_parameters"]["spark.remote"])
    return Endpoint(url.hostname, url.port, "LAKEHOUSE_CONNECT_PORT")


def master_endpoint() -> Endpoint:
    url = urlsplit(spark_conf("cluster")["spark.master"])
    return Endpoint(url.hostname, url.port, "LAKEHOUSE_CLUSTER_MASTER")


def master_webui_endpoint() -> Endpoint:
    return Endpoint(
        master_endpoint().host,
        int(os.environ.get("LAKEHOUSE_MASTER_WEBUI_PORT", "8080")),
        "LAKEHOUSE_MASTER_WEBUI_PORT",
    )


def worker_webui_endpoint() -> Endpoint:
    return Endpoint(
        master_endpoint().host,
        int(os.environ.get("LAKEHOUSE_WORKER_WEBUI_PORT", "8081")),
        "LAKEHOUSE_WORKER_WEBUI_PORT",
    )


def _ensure_java() -> None:
    if java_executable() is None:
        raise ServerError("Java not found: install a Java 17 runtime (e.g. apt-get install openjdk-17-jre-headless)")


def _submit(main_class: str, name: str, conf: dict[str, str], *arguments: str) -> list[str]:
    """spark-submit for a server class that ships inside Spark ("spark-internal": no application jar)."""
    conf_arguments = _settings("--conf", conf)
    return [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--class",
        main_class,
        "--name",
        name,
        *conf_arguments,
        "spark-internal",
        *arguments,
    ]


def _start(
    daemon: Daemon,
    endpoints: list[Endpoint],
    command: Callable[[], list[str]],
    ready: Callable[[], bool],
    env: dict[str, str] | None = None,
) -> None:
    """Check what can be checked cheaply (Java, a running copy, the ports) before building the command, which
    may check more (the metastore), then launch and wait until `ready`."""
    _ensure_java()
    if (pid := daemon.pid()) is not None:
        print(f"{daemon.title}: already running (pid {pid})")
        return
    for endpoint in endpoints:
        endpoint.ensure_free()
    host, port = endpoints[0].host, endpoints[0].port
    if daemon.exposes and (warning := exposure_warning(daemon.title, host, port, daemon.exposes)):
        print(warning, file=sys.stderr)
    # Spark's web UIs bind SPARK_LOCAL_IP, or every interface when it is unset.
    process = daemon.launch(command(), {"SPARK_LOCAL_IP": host, **(env or {})})
    daemon.wait_until_ready(process, ready, START_TIMEOUT_SECONDS)
    print(f"{daemon.title}: running (pid {process.pid}) on {endpoints[0]}, log {daemon.log_file}")


def _session_conf(target: str) -> dict[str, str]:
    """The session target's Spark configuration, for a server that will own the metastore."""
    ensure_delta_jars()
    ensure_metastore_free(grace_seconds=10)
    conf = spark_conf(target)
    conf.pop("spark.ui.enabled", None)  # a long-running server is worth a UI; Spark picks a free port
    return conf


def _thrift_answers(endpoint: Endpoint) -> bool:
    from pyhive import hive

    if not port_answers(endpoint.host, endpoint.port):
        return False
    try:
        with closing(hive.connect(host=endpoint.host, port=endpoint.port, username=getpass.getuser())) as connection:
            cursor = connection.cursor()
            cursor.execute("show schemas")  # boots the metastore, so the server holds it from now on
            cursor.fetchall()
        return True
    except Exception:  # noqa: BLE001 - any failure here means "not yet"; a dead server is caught by the caller
        return False


def _connect_answers(endpoint: Endpoint) -> bool:
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    if not port_answers(endpoint.host, endpoint.port):
        return False
    try:
        session = RemoteSparkSession.builder.remote(f"sc://{endpoint}").create()
        session.sql("show schemas").collect()
        session.stop()
        return True
    except Exception:  # noqa: BLE001 - as above
        return False


def _alive_workers(webui: Endpoint) -> int:
    try:
        with urllib.request.urlopen(f"http://{webui}/json/", timeout=5) as response:
            return int(json.load(response).get("aliveworkers", 0))
    except (OSError, ValueError):  # not up yet, or up with an empty page: CI once read "" from a just-started UI
        return 0


def start_thrift(target: str = "local") -> None:
    endpoint = thrift_endpoint()
    hive_conf = {"hive.server2.thrift.bind.host": endpoint.host, "hive.server2.thrift.port": endpoint.port}
    _start(
        THRIFT,
        [endpoint],
        lambda: _submit(
            "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            "nycflights Thrift server",
            _session_conf(target),
            *_settings("--hiveconf", hive_conf),
        ),
        lambda: _thrift_answers(endpoint),
    )


def start_connect(target: str = "local") -> None:
    endpoint = connect_endpoint()
    binding = {"spark.connect.grpc.binding.address": endpoint.host, "spark.connect.grpc.binding.port": endpoint.port}
    _start(
        CONNECT,
        [endpoint],
        lambda: _submit(
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "nycflights Connect server",
            {**_session_conf(target), **binding},
        ),
        lambda: _connect_answers(endpoint),
    )


def start_cluster() -> None:
    """A master and one worker on this machine, sized for two executors (cores and memory from the environment)."""
    master, master_ui, worker_ui = master_endpoint(), master_webui_endpoint(), worker_webui_endpoint()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master_options = {"--host": master.host, "--port": master.port, "--webui-port": master_ui.port}
    _start(
        MASTER,
        [master, master_ui],
        lambda: [spark_class, "org.apache.spark.deploy.master.Master", *_options(master_options)],
        lambda: port_answers(master.host, master.port) and port_answers(master_ui.host, master_ui.port),
    )
    local_dirs = scratch_dir()
    local_dirs.mkdir(parents=True, exist_ok=True)
    worker_options = {
        "--host": master.host,
        "--webui-port": worker_ui.port,
        "--cores": os.environ.get("LAKEHOUSE_WORKER_CORES", "2"),
        "--memory": os.environ.get("LAKEHOUSE_WORKER_MEMORY", "8g"),
        "--work-dir": WORKER.run_dir / "work",
    }
    _start(
        WORKER,
        [worker_ui],
        lambda: [spark_class, "org.apache.spark.deploy.worker.Worker", *_options(worker_options), f"spark://{master}"],
        lambda: _alive_workers(master_ui) > 0,
        env={"SPARK_LOCAL_DIRS": str(local_dirs)},  # executors' shuffle and spill files stay in the state folder
    )


def _settings(flag: str, settings: dict) -> list[str]:
    """`flag key=value` for each setting, as spark-submit takes --conf and the Thrift server --hiveconf."""
    return [part for key, value in settings.items() for part in (flag, f"{key}={value}")]


def _options(options: dict) -> list[str]:
    return [str(part) for option, value in options.items() for part in (option, value)]


def _stop(daemon: Daemon) -> None:
    print(f"{daemon.title}: {'stopped' if daemon.stop() else 'not running'}")


def _status(daemon: Daemon) -> bool:
    pid = daemon.pid()
    print(f"{daemon.title}: " + (f"running (pid {pid}), log {daemon.log_file}" if pid else "not running"))
    return pid is not None


SERVERS = {
    "thrift": (start_thrift, [THRIFT]),
    "connect": (start_connect, [CONNECT]),
    "cluster": (start_cluster, [MASTER, WORKER]),
}


def main(server: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"lakehouse {server}", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    if server != "cluster":
        parser.add_argument(
            "--target",
            default="local",
            choices=["local", "cluster"],
            help="the profiles.yml target whose Spark configuration the server runs with",
        )
    arguments = parser.parse_args(argv)
    start, daemons = SERVERS[server]
    if arguments.action == "start":
        start(*([arguments.target] if server != "cluster" else []))
    elif arguments.action == "stop":
        for daemon in reversed(daemons):
            _stop(daemon)
    elif not all([_status(daemon) for daemon in daemons]):
        sys.exit(3)  # LSB: "not running"
