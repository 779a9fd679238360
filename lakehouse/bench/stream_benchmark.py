"""`lakehouse bench-stream`: what the feed costs, end to end, in state folders of its own under the bench folder.

    lakehouse bench-stream [--copies 30] [--speed 3600] [--latency-days 2] [--throughput-days 31]
        [--warm-days 6] [--warm-backlog-days 153]

1. Latency: `lakehouse stream` runs while `lakehouse replay` delivers `--latency-days` of June at `--speed`
   simulated seconds per second; from each landing file's arrival to its rows being readable in Delta, per line
   (the stream's own metrics, stream/<schema>/metrics.jsonl), p50 and p99, at the event rate the replay kept.
2. Throughput: `--throughput-days` of January replayed at once, then `lakehouse stream --available-now`: lines
   per second from the first micro-batch's start to the last one's commit.
3. The warm path: `lakehouse stream --build` on a backlog of the year's days before June
   (`--warm-backlog-days` of them; on the fresh state folder its first build is the whole project), then
   `--warm-days` of June replayed at `--speed`: from each landing file's arrival to its flights being in
   flight_features, per line (the stream's build records, stream/<schema>/builds.jsonl), p50 and p99, and
   how long a build takes.
4. The year through the stream: every day but 31 December streamed and built, then 31 December streamed and
   `dbt build` again (incremental: what arrived), then `dbt build` with nothing new, then `dbt build
   --full-refresh`; and flight_features' fingerprint (`lakehouse summary --checksums`) against the batch path's
   (`lakehouse ingest`, `dbt build`) in a second state folder.
5. With --copies K, in a folder of its own: `lakehouse ingest`, `lakehouse scale --copies K`, `dbt build --vars
   '{copies: K}'`, one new day past the K copies streamed into raw_x<K> (`lakehouse replay --as-copy K`), `dbt
   build` again, and `dbt build --full-refresh`.

Each part starts from an empty state folder. Every time is a whole process (JVM start included), one process at
a time; dbt's own elapsed time is given beside it. Results in <LAKEHOUSE_HOME>/bench/stream/results.json, logs
beside them.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from lakehouse.bench.benchmark import measure
from lakehouse.errors import LakehouseError
from lakehouse.ingest.scale import COPY_SHIFT_DAYS
from lakehouse.ingest.stream import percentile
from lakehouse.paths import PROJECT_ROOT, STATE_HOME_VARIABLE, bench_dir, jar_dir
from lakehouse.project import project_var

YEAR_END = date(2013, 12, 31)
PARTS = ("latency", "throughput", "warm", "year")
LIVE_START = date(2013, 6, 3)
UNLIMITED = float("inf")


@dataclass
class Timing:
    step: str
    wall_seconds: float
    dbt_seconds: float | None = None


class Home:
    """A new, empty state folder of the benchmark's own (the user's Delta jars linked in), where each step runs
    as a child: what an earlier run left (a checkpoint, bronze rows) would make the feed's events duplicates."""

    def __init__(self, name: str):
        self.path = bench_dir() / "stream" / name
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        (self.path / "jars").symlink_to(jar_dir().resolve(), target_is_directory=True)
        self.env = {**os.environ, STATE_HOME_VARIABLE: str(self.path)}
        self.env.pop("DBT_TARGET", None)

    def log(self, name: str) -> Path:
        return self.path / "logs" / f"{name}.log"

    def run(self, name: str, *argv: str) -> Timing:
        done = measure(list(argv), self.log(name), UNLIMITED, UNLIMITED, self.env)
        if done.status != "ok":
            raise LakehouseError(f"{name} failed: {done.detail} (log: {self.log(name)})")
        print(f"  {name:<44} {done.wall_seconds:>8.1f} s", flush=True)
        return Timing(name, done.wall_seconds)

    def lakehouse(self, name: str, *args: str) -> Timing:
        return self.run(name, str(Path(sys.executable).with_name("lakehouse")), *args)

    def dbt(self, name: str, *args: str) -> Timing:
        target = self.path / "target"
        dbt = str(Path(sys.executable).with_name("dbt"))
        timing = self.run(name, dbt, *args, "--target-path", str(target), "--log-path", str(self.path / "logs" / "dbt"))
        timing.dbt_seconds = round(json.loads((target / "run_results.json").read_text())["elapsed_time"], 1)
        return timing

    def output(self, name: str) -> str:
        return self.log(name).read_text()

    def metrics(self, raw_schema: str) -> list[dict]:
        path = self.path / "stream" / raw_schema / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def fingerprint(self, name: str, relation: str) -> tuple[int, str]:
        self.lakehouse(name, "summary", "--checksums")
        for line in self.output(name).splitlines():
            fields = line.split()
            if fields and fields[0] == relation:
                return int(fields[2].replace(",", "")), fields[-1]
        raise LakehouseError(f"`lakehouse summary` lists no {relation} (log: {self.log(name)})")


@contextmanager
def running_stream(home: Home, name: str, *args: str, env: dict[str, str] | None = None):
    """`lakehouse stream ARGS` in the background, its output in the log `name`; SIGTERM on the way out."""
    log = home.log(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(Path(sys.executable).with_name("lakehouse")), "stream", *args]
    with log.open("w") as output:
        stream = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env or home.env, stdout=output, stderr=output)
        try:
            yield stream, log
        finally:
            stream.send_signal(signal.SIGTERM)
            stream.wait(timeout=300)


def live_replay(home: Home, name: str, speed: float, days: int, *args: str) -> tuple[Timing, int]:
    """`days` from LIVE_START replayed at `speed` in 15-minute files: its timing and the lines it delivered."""
    span = ("--start", str(LIVE_START), "--end", str(LIVE_START + timedelta(days=days)))
    replayed = home.lakehouse(name, "replay", *span, "--speed", str(speed), "--file-minutes", "15", *args)
    return replayed, replayed_lines(home, name)


def replayed_lines(home: Home, name: str) -> int:
    """The lines a `lakehouse replay` step says it delivered."""
    return int(re.search(r"as ([\d,]+) lines", home.output(name)).group(1).replace(",", ""))


def latency(home: Home, speed: float, days: int) -> dict:
    """Lines from landing to readable while the stream keeps up with a replay at `speed`."""
    landing, schema = home.path / "landing" / "latency", "raw_latency"
    with running_stream(home, "latency_stream", "--raw-schema", schema, "--landing-dir", str(landing)) as (stream, log):
        while "stream:" not in log.read_text():
            if stream.poll() is not None:
                raise LakehouseError(f"the stream stopped before it started (log: {log})")
            time.sleep(0.5)
        time.sleep(10)  # its first (empty) micro-batches: the JVM warm, as a stream that has been running
        replayed, lines = live_replay(home, "latency_replay", speed, days, "--landing-dir", str(landing))
        deadline = time.monotonic() + 300
        while sum(batch["lines"] for batch in home.metrics(schema)) < lines and time.monotonic() < deadline:
            time.sleep(1)
    per_line = [(seconds, count) for batch in home.metrics(schema) for seconds, count in batch["latencies"]]
    return {**waited(days, speed, lines, replayed, per_line), "micro_batches": len(home.metrics(schema))}


def waited(days: int, speed: float, lines: int, replayed: Timing, per_line: list[tuple[float, int]]) -> dict:
    """What a live replay's lines waited, from landing to where they were measured."""
    return {
        "days": days,
        "speed": speed,
        "lines": lines,
        "lines_per_second": round(lines / replayed.wall_seconds, 1),
        "p50_seconds": round(percentile(per_line, 0.5), 2),
        "p99_seconds": round(percentile(per_line, 0.99), 2),
    }


def warm(home: Home, speed: float, days: int, backlog_days: int) -> dict:
    """Lines from landing to built into flight_features while `lakehouse stream --build` keeps up with a replay."""
    backlog_start = LIVE_START - timedelta(days=backlog_days)
    backlog = ("--start", str(backlog_start), "--end", str(LIVE_START), "--file-minutes", "1440")
    home.lakehouse("warm_backlog_replay", "replay", *backlog)
    backlog_lines = replayed_lines(home, "warm_backlog_replay")
    builds_file = home.path / "stream" / project_var("raw_schema") / "builds.jsonl"

    def builds() -> list[dict]:
        return [json.loads(line) for line in builds_file.read_text().splitlines()] if builds_file.exists() else []

    dbt_paths = {"DBT_TARGET_PATH": str(home.path / "target"), "DBT_LOG_PATH": str(home.path / "logs" / "dbt")}
    with running_stream(home, "warm_stream", "--build", env={**home.env, **dbt_paths}) as (stream, log):
        deadline = time.monotonic() + 1200
        # the backlog built (on a fresh state the first build is the whole project; what lands meanwhile takes more)
        while sum(count for build in builds() for _, count in build["latencies"]) < backlog_lines:
            if stream.poll() is not None or time.monotonic() > deadline:
                raise LakehouseError(f"the stream's builds of the backlog did not finish (log: {log})")
            time.sleep(1)
        backlog_builds = len(builds())
        replayed, lines = live_replay(home, "warm_replay", speed, days)
        deadline = time.monotonic() + 600
        while sum(count for build in builds()[backlog_builds:] for _, count in build["latencies"]) < lines:
            if stream.poll() is not None or time.monotonic() > deadline:
                raise LakehouseError(f"the warm builds did not take every replayed line (log: {log})")
            time.sleep(1)
    live = builds()[backlog_builds:]
    per_line = [(seconds, count) for build in live for seconds, count in build["latencies"]]
    return {
        **waited(days, speed, lines, replayed, per_line),
        "backlog_days": backlog_days,
        "builds": len(live),
        "build_p50_seconds": round(percentile([(build["seconds"], 1) for build in live], 0.5), 1),
        "build_nodes": live[-1]["nodes"],
    }


def throughput(home: Home, days: int) -> dict:
    """Lines per second through `lakehouse stream --available-now` from a backlog of `days` days."""
    landing, schema = home.path / "landing" / "throughput", "raw_throughput"
    end = date(2013, 1, 1) + timedelta(days=days)
    home.lakehouse("throughput_replay", "replay", "--end", str(end), "--landing-dir", str(landing))
    stream = ("stream", "--available-now", "--raw-schema", schema, "--landing-dir", str(landing))
    timing = home.lakehouse("throughput_stream", *stream, "--max-files-per-trigger", "200")
    batches = home.metrics(schema)
    lines = sum(batch["lines"] for batch in batches)
    began = batches[0]["committed_at"] - batches[0]["seconds"]
    return {
        "days": days,
        "lines": lines,
        "micro_batches": len(batches),
        "lines_per_second": round(lines / (batches[-1]["committed_at"] - began), 1),
        "process_seconds": timing.wall_seconds,
    }


def year(streamed: Home, batch: Home) -> tuple[list[Timing], dict]:
    """The year through the stream, the last day incremental; its features against the batch path's."""
    timings = [
        streamed.lakehouse("year_replay", "replay", "--end", str(YEAR_END)),
        streamed.lakehouse("year_stream", "stream", "--available-now"),
        streamed.dbt("year_first_build", "build"),
        streamed.lakehouse("day_replay", "replay", "--start", str(YEAR_END)),
        streamed.lakehouse("day_stream", "stream", "--available-now"),
        streamed.dbt("day_incremental_build", "build"),
        streamed.dbt("nothing_new_build", "build"),
        streamed.dbt("full_refresh_build", "build", "--full-refresh"),
    ]
    relation = "features.flight_features"
    batch.lakehouse("batch_ingest", "ingest")
    batch.dbt("batch_build", "build")
    fingerprints = {"stream": streamed.fingerprint("stream_summary", relation)}
    fingerprints["batch"] = batch.fingerprint("batch_summary", relation)
    return timings, fingerprints


def copies(home: Home, k: int) -> list[Timing]:
    """One new day past K copies of the year, streamed and built, against the full build."""
    dbt_vars = ("--vars", json.dumps({"copies": k}))
    new_day = date(2013, 1, 2) + timedelta(days=k * COPY_SHIFT_DAYS)  # copy K's 2 January: past the timeline
    landing, schema = home.path / "landing" / f"x{k}", f"{project_var('raw_schema')}_x{k}"
    home.lakehouse(f"x{k}_ingest", "ingest")
    home.lakehouse(f"x{k}_scale", "scale", "--copies", str(k))
    return [
        home.dbt(f"x{k}_first_build", "build", *dbt_vars),
        home.lakehouse(
            f"x{k}_day_replay",
            *("replay", "--as-copy", str(k), "--start", str(new_day), "--end", str(new_day + timedelta(days=1))),
            *("--landing-dir", str(landing)),
        ),
        home.lakehouse(
            f"x{k}_day_stream", "stream", "--available-now", "--raw-schema", schema, "--landing-dir", str(landing)
        ),
        home.dbt(f"x{k}_day_incremental_build", "build", *dbt_vars),
        home.dbt(f"x{k}_full_refresh_build", "build", *dbt_vars, "--full-refresh"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse bench-stream", description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=3600.0, help="the latency run's simulated seconds per second")
    parser.add_argument("--latency-days", type=int, default=2)
    parser.add_argument("--throughput-days", type=int, default=31)
    parser.add_argument("--warm-days", type=int, default=6, help="the warm path's days replayed at --speed")
    parser.add_argument(
        "--warm-backlog-days", type=int, default=153, help="the warm path's days before, at once (153: from 1 January)"
    )
    parser.add_argument("--copies", type=int, help="also one new day past K copies of the year")
    parser.add_argument(
        "--parts", nargs="*", choices=PARTS, default=list(PARTS), help="run only these parts (none: only --copies)"
    )
    args = parser.parse_args(argv)
    results_file = bench_dir() / "stream" / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}

    def keep(part: str, value) -> None:
        results[part] = value
        results_file.write_text(json.dumps(results, indent=2) + "\n")  # each part as it ends, whatever comes after

    if "latency" in args.parts:
        print("latency", flush=True)
        keep("latency", latency(Home("latency"), args.speed, args.latency_days))
    if "throughput" in args.parts:
        print("throughput", flush=True)
        keep("throughput", throughput(Home("throughput"), args.throughput_days))
    if "warm" in args.parts:
        print("warm path", flush=True)
        keep("warm", warm(Home("warm"), args.speed, args.warm_days, args.warm_backlog_days))
    if "year" in args.parts:
        print("the year", flush=True)
        timings, fingerprints = year(Home("streamed"), Home("batch"))
        keep("fingerprints", fingerprints)
        keep("timings", [asdict(timing) for timing in timings])
    if args.copies:
        print(f"K={args.copies}", flush=True)
        keep(f"x{args.copies}", [asdict(timing) for timing in copies(Home(f"x{args.copies}"), args.copies)])
    print(report(results))


def report(results: dict) -> str:
    """The results as lines: latency, throughput, then each timed step, an incremental build against the full one."""
    lines = []
    if "latency" in results:
        found = results["latency"]
        lines.append(
            f"latency at {found['lines_per_second']} lines/s: p50 {found['p50_seconds']} s,"
            f" p99 {found['p99_seconds']} s from landing to readable ({found['micro_batches']} micro-batches)"
        )
    if "throughput" in results:
        found = results["throughput"]
        lines.append(f"throughput: {found['lines_per_second']:,} lines/s over {found['lines']:,} lines")
    if "warm" in results:
        found = results["warm"]
        lines.append(
            f"warm path after {found['backlog_days']} days, at {found['lines_per_second']} lines/s:"
            f" p50 {found['p50_seconds']} s, p99 {found['p99_seconds']} s from landing to flight_features"
            f" ({found['builds']} builds of {found['build_nodes']} nodes, {found['build_p50_seconds']} s each at the"
            " median)"
        )
    for steps in [results[key] for key in results if key == "timings" or re.fullmatch(r"x\d+", key)]:
        by_step = {timing["step"]: timing for timing in steps}
        full = next((timing for step, timing in by_step.items() if step.endswith("full_refresh_build")), None)
        for step, timing in by_step.items():
            dbt = f" (dbt {timing['dbt_seconds']} s)" if timing["dbt_seconds"] is not None else ""
            share = ""
            if full and step.endswith("_build") and timing is not full:
                share = f", {timing['wall_seconds'] / full['wall_seconds']:.0%} of the full build"
            lines.append(f"{step:<28} {timing['wall_seconds']:>8.1f} s{dbt}{share}")
    if "fingerprints" in results:
        streamed, batch = results["fingerprints"]["stream"], results["fingerprints"]["batch"]
        verdict = "equal" if streamed == batch else "DIFFERENT"
        lines.append(f"flight_features streamed {streamed} vs batch {batch}: {verdict}")
    return "\n".join(lines)


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
