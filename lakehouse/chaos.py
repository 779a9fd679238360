"""`lakehouse chaos`: kill the writers on purpose, at seeded moments, and check that nothing was lost.

    lakehouse chaos [--seed 1] [--kills 20] [--kinds ingest build] [--months 1]

It works in a state folder of its own (LAKEHOUSE_HOME/chaos), on the flights and weather of the first --months of
2013. A clean run of each kind of writer gives the reference: every table with its rows and a checksum of its
data, and how long the kind takes. Then, for each kill, it runs one kind again on the same input, so every table
must come out with the same rows (the tables that record runs only grow), and SIGKILLs its whole process group
(the JVM with it), either at a named pause point between two commits that belong together or at a seeded moment
of the clean run's duration.
A kill survives when
  1. every Delta table of the reference is readable by an independent reader (the deltalake package) at a whole
     version, with the reference's rows;
  2. Spark, through the metastore, still has every table of the reference, with the same rows and checksum;
  3. the killed command, run again, succeeds, and after it every table has the reference's rows and checksum.
One line per kill, then the totals per kind; the results go to LAKEHOUSE_HOME/reports/chaos.json.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lakehouse.errors import LakehouseError
from lakehouse.ingest import dataset
from lakehouse.ingest.bronze_tables import KINDS as LOADED_KINDS
from lakehouse.ingest.bronze_tables import LOADS_TABLE, QUARANTINE_TABLE
from lakehouse.paths import PROJECT_ROOT, STATE_HOME_VARIABLE, jar_dir, reports_dir, state_home
from lakehouse.project import project_var

# The columns that differ between two clean runs on the same input (a load's id and time, in bronze and as staging
# renames them), left out of checksums.
RUN_STAMPS = ("_batch_id", "_loaded_at", "_landed_at", "batch_id", "loaded_at")
# Tables that record runs, so grow with each: the load log. It must stay readable, with at least the rows of the
# clean run.
RUN_RECORDS = (f"{project_var('raw_schema')}.{LOADS_TABLE}",)
TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Writer:
    """A kind of process that writes tables, as the user runs it, and where it can be stopped between commits."""

    name: str
    argv: tuple[str, ...]
    pause_points: tuple[str, ...] = ()


def writers(input_dir: Path) -> dict[str, Writer]:
    dbt = str(Path(sys.executable).parent / "dbt")
    return {
        writer.name: writer
        for writer in [
            Writer(
                "ingest",
                (sys.executable, "-m", "lakehouse.ingest", "--source-dir", str(input_dir)),
                tuple(f"ingest:between {table} and {QUARANTINE_TABLE}" for table in LOADED_KINDS),
            ),
            Writer("build", (dbt, "build", "--full-refresh")),
        ]
    }


@dataclass
class Kill:
    writer: str
    moment: str  # a pause point, or seconds after the start
    survived: bool = False
    problems: list[str] = field(default_factory=list)
    rerun_seconds: float = 0.0


class Campaign:
    def __init__(self, home: Path, months: set[int]):
        self.home = home
        self.input_dir = home / "input"
        self.env = {
            **os.environ,
            STATE_HOME_VARIABLE: str(home),
            "DBT_TARGET_PATH": str(home / "dbt" / "target"),
            "DBT_LOG_PATH": str(home / "dbt" / "logs"),
        }
        self.env.pop("DBT_TARGET", None)  # the embedded session: the one process the kill takes down
        self.writers = writers(self.input_dir)
        self.months = months

    def prepare(self) -> dict[str, float]:
        """A fresh state folder with the user's jars, the input, and one clean run of each writer (timed)."""
        if self.home.exists():
            shutil.rmtree(self.home)
        self.input_dir.mkdir(parents=True)
        (self.home / "jars").symlink_to(jar_dir().resolve(), target_is_directory=True)
        for table in LOADED_KINDS:
            dataset.write_slice(table, self.input_dir / f"{table}.csv", self.months)
        durations = {}
        for writer in self.writers.values():
            started = time.monotonic()
            self.run(writer)
            durations[writer.name] = time.monotonic() - started
        return durations

    def run(self, writer: Writer, extra_env: dict[str, str] | None = None) -> None:
        finished = subprocess.run(
            writer.argv,
            env={**self.env, **(extra_env or {})},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
        if finished.returncode != 0:
            last_lines = "\n".join((finished.stdout + finished.stderr).strip().splitlines()[-15:])
            raise LakehouseError(f"`{' '.join(writer.argv)}` failed in {self.home}:\n{last_lines}")

    def fingerprint(self) -> dict[str, dict]:
        """Every stored table the metastore knows: its folder, format, rows and checksum (a Spark child process)."""
        out = self.home / "fingerprint.json"
        out.unlink(missing_ok=True)
        finished = subprocess.run(
            [sys.executable, "-m", "lakehouse.chaos", "--fingerprint-to", str(out)],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
        if finished.returncode != 0:
            raise LakehouseError(f"Spark could not read the tables: {finished.stderr.strip()[-500:]}")
        return json.loads(out.read_text())

    def kill(self, writer: Writer, moment: str | float) -> None:
        """Start the writer and SIGKILL its process group at the moment: a pause point or seconds after its start."""
        extra = {"LAKEHOUSE_PAUSE_AT": moment} if isinstance(moment, str) else {}
        with subprocess.Popen(
            writer.argv,
            env={**self.env, **extra},
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        ) as process:
            if isinstance(moment, str):
                for line in process.stdout:
                    if line.startswith(f"paused at {moment}"):
                        break
            else:
                try:
                    process.wait(timeout=moment)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def deltalake_problems(reference: dict[str, dict]) -> list[str]:
    """What the independent reader finds wrong with the reference's Delta tables, as they are now."""
    from deltalake import DeltaTable

    problems = []
    for name, table in reference.items():
        if table["format"] != "delta":
            continue
        try:
            rows = DeltaTable(table["location"]).to_pyarrow_dataset().count_rows()
        except Exception as error:  # any failure to read is the finding
            problems.append(f"deltalake cannot read {name}: {str(error).splitlines()[0][:200]}")
            continue
        if rows < table["rows"] if name in RUN_RECORDS else rows != table["rows"]:
            problems.append(f"deltalake reads {rows} rows in {name}, not {table['rows']}")
    return problems


def fingerprint_problems(reference: dict[str, dict], now: dict[str, dict], when: str) -> list[str]:
    problems = []
    for name, table in reference.items():
        if name not in now:
            problems.append(f"{when}: {name} is missing")
        elif name in RUN_RECORDS:
            if now[name]["rows"] < table["rows"]:
                problems.append(f"{when}: {name} has {now[name]['rows']} rows, fewer than the clean run's")
        elif (now[name]["rows"], now[name]["checksum"]) != (table["rows"], table["checksum"]):
            problems.append(
                f"{when}: {name} has {now[name]['rows']} rows, checksum {now[name]['checksum']}"
                f" (clean run: {table['rows']}, {table['checksum']})"
            )
    return problems


def moments(writers: dict[str, Writer], durations: dict[str, float], kills: int, seed: int) -> list[tuple]:
    """The campaign's (writer, moment) pairs: round robin over the writers; each writer's pause points first,
    then seeded moments between 5% and 95% of its clean run."""
    chosen = random.Random(seed)
    names = list(writers)
    planned, used_points = [], {name: 0 for name in names}
    for index in range(kills):
        writer = writers[names[index % len(names)]]
        if used_points[writer.name] < len(writer.pause_points):
            planned.append((writer, writer.pause_points[used_points[writer.name]]))
            used_points[writer.name] += 1
        else:
            planned.append((writer, round(chosen.uniform(0.05, 0.95) * durations[writer.name], 1)))
    return planned


def run_campaign(seed: int, kills: int, kinds: list[str], months: set[int], home: Path) -> list[Kill]:
    campaign = Campaign(home, months)
    campaign.writers = {name: campaign.writers[name] for name in kinds}
    durations = campaign.prepare()
    reference = campaign.fingerprint()
    print(
        f"clean run in {home}: {len(reference)} tables; "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items()),
        flush=True,
    )
    results = []
    for number, (writer, moment) in enumerate(moments(campaign.writers, durations, kills, seed), start=1):
        kill = Kill(writer.name, moment if isinstance(moment, str) else f"{moment} s")
        campaign.kill(writer, moment)
        kill.problems += deltalake_problems(reference)
        kill.problems += fingerprint_problems(reference, campaign.fingerprint(), "after the kill")
        started = time.monotonic()
        try:
            campaign.run(writer)
        except LakehouseError as error:
            kill.problems.append(f"the re-run failed: {error}")
        kill.rerun_seconds = round(time.monotonic() - started, 1)
        kill.problems += fingerprint_problems(reference, campaign.fingerprint(), "after the re-run")
        kill.survived = not kill.problems
        results.append(kill)
        verdict = "survived" if kill.survived else "FAILED: " + "; ".join(kill.problems)
        where = f"kill {number:>2}/{kills} {writer.name:<7} at {kill.moment:<38}"
        print(f"{where} re-run {kill.rerun_seconds:>5.0f} s  {verdict}", flush=True)
    return results


def report(results: list[Kill]) -> list[str]:
    lines = []
    for name in dict.fromkeys(kill.writer for kill in results):
        own = [kill for kill in results if kill.writer == name]
        survived = sum(kill.survived for kill in own)
        longest = max(kill.rerun_seconds for kill in own)
        lines.append(f"{name:<7} kills tried {len(own):>3}, survived {survived:>3}; longest re-run {longest:.0f} s")
    survived = sum(kill.survived for kill in results)
    lines.append(f"all     kills tried {len(results):>3}, survived {survived:>3}")
    return lines


def write_fingerprint(out: Path) -> None:
    """(child process) Every stored table of every schema: folder, format, rows, checksum of its data columns."""
    from lakehouse.spark import get_spark
    from lakehouse.summary import stored_tables

    spark = get_spark("lakehouse-chaos-check")
    tables = {}
    for schema in sorted(row[0] for row in spark.sql("show schemas").collect()):
        for name in stored_tables(spark, schema):
            detail = spark.sql(f"describe detail {name}").first()
            columns = [f"`{column}`" for column in spark.table(name).columns if column not in RUN_STAMPS]
            rows, checksum = spark.sql(
                f"select count(*), sum(cast(xxhash64({', '.join(columns)}) as decimal(38, 0))) from {name}"
            ).first()
            location = detail["location"].removeprefix("file:")
            tables[name] = {"format": detail["format"], "location": location, "rows": rows, "checksum": str(checksum)}
    out.write_text(json.dumps(tables, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--kinds", nargs="+", choices=["ingest", "build"], default=["ingest", "build"])
    parser.add_argument("--months", type=int, default=1, help="the first N months of 2013 as input (default 1)")
    parser.add_argument("--fingerprint-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fingerprint_to:
        write_fingerprint(args.fingerprint_to)
        return
    results = run_campaign(args.seed, args.kills, args.kinds, set(range(1, args.months + 1)), state_home() / "chaos")
    lines = report(results)
    print("\n".join(lines))
    out = reports_dir() / "chaos.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seed": args.seed, "kills": [asdict(kill) for kill in results]}, indent=1))
    print(f"results: {out}")
    if not all(kill.survived for kill in results):
        sys.exit(1)


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
