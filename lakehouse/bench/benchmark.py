"""The benchmark: staging and features at K copies of the year, by this project, by the same SQL in a bare
Spark session, and by pandas, DuckDB and Dask.

    lakehouse bench [--copies 1 10 30] [--tools dbt spark-sql pandas duckdb dask] [--timeout 900]
                    [--memory-limit-gb 20]

For each K, smallest first: `lakehouse scale --copies K --export-dir` prepares the input, and `dbt compile`
renders the models' SQL for spark-sql (neither is timed; see lakehouse/ingest/scale.py), then each tool does the same
work in its own process, one at a time:

- dbt:       `dbt run --select +flight_features --full-refresh --vars '{copies: K}'`, the project's own models,
             from the scaled bronze Delta tables to features_x<K>.flight_features (Delta);
- spark-sql: `python -m benchmarks.spark_sql_features`, the same compiled SQL as temporary views in one bare
             Spark session, from the Parquet export of those tables to one Parquet file: the engine's own speed,
             so dbt ÷ spark-sql is what the project adds;
- pandas:    `python -m benchmarks.pandas_features`, from the Parquet export to a Parquet file;
- duckdb:    `python -m benchmarks.duckdb_features`, likewise;
- dask:      `python -m benchmarks.dask_features`, likewise, on a LocalCluster of one worker process per core.

Each run records its wall time and the peak resident memory of its whole process tree (JVMs included),
sampled every 0.1 s. A run is stopped when it passes --memory-limit-gb, or (pandas, DuckDB, Dask) --timeout, and a
tool that failed or was stopped is not run at larger K. At K=1 each baseline's output is checked against the
project's features (benchmarks/check_features.py), so the comparison is of the same work. Results, logs,
outputs and a chart land in <LAKEHOUSE_HOME>/bench/: results.json, logs/, out/, bench.png; the results of
earlier runs at other Ks stay in the table and chart.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from lakehouse.errors import LakehouseError
from lakehouse.ml.features import features_table
from lakehouse.paths import PROJECT_ROOT, bench_dir
from lakehouse.project import manifest
from lakehouse.spark import ensure_metastore_free

PROJECT = "dbt"
ENGINE = "spark-sql"
TOOLS = (PROJECT, ENGINE, "pandas", "duckdb", "dask")
BASELINE = "pandas"
# What earlier results.json files called a tool.
FORMER_NAMES = {"spark": PROJECT}
SAMPLE_SECONDS = 0.1
GB = 1e9


@dataclass
class Run:
    tool: str
    copies: int
    status: str  # ok, failed, timeout, memory, skipped
    wall_seconds: float | None = None
    peak_gb: float | None = None
    detail: str = ""


def input_dir(copies: int) -> Path:
    return bench_dir() / f"x{copies}"


def output_path(tool: str, copies: int) -> Path:
    return bench_dir() / "out" / f"{tool}_x{copies}.parquet"


def compiled_dir(copies: int) -> Path:
    return bench_dir() / "compiled" / f"x{copies}"


def dbt_command(verb: str, copies: int) -> list[str]:
    """dbt on flight_features and everything upstream of it, from scratch, on K copies."""
    dbt = Path(sys.executable).with_name("dbt")
    selection = ["--select", "+flight_features", "--full-refresh"]
    return [str(dbt), verb, *selection, "--vars", json.dumps({"copies": copies})]


def command(tool: str, copies: int) -> list[str]:
    if tool == PROJECT:
        return dbt_command("run", copies)
    module = f"benchmarks.{tool.replace('-', '_')}_features"
    argv = [sys.executable, "-m", module, str(input_dir(copies)), str(output_path(tool, copies))]
    if tool == ENGINE:
        argv += ["--manifest", str(compiled_dir(copies) / "manifest.json")]
    return argv


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (a vanished child counts as zero)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(argv: list[str], log: Path, timeout: float, memory_limit: float, env: dict | None = None) -> Run:
    """Run argv from the project root, its output to log; wall time, peak tree RSS, and how it ended."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        started = time.monotonic()
        child = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT, env=env)
        process, peak, status = psutil.Process(child.pid), 0, None
        while child.poll() is None:
            try:
                peak = max(peak, tree_rss(process))
            except psutil.Error:
                pass
            if time.monotonic() - started > timeout:
                status = "timeout"
            elif peak > memory_limit:
                status = "memory"
            if status:
                stop_tree(process)
                break
            time.sleep(SAMPLE_SECONDS)
        child.wait()
        wall = time.monotonic() - started
    if status is None:
        status = "ok" if child.returncode == 0 else "failed"
    return Run("", 0, status, round(wall, 1), round(peak / GB, 2), failure_detail(status, log, timeout, memory_limit))


def stop_tree(process: psutil.Process) -> None:
    members = [*process.children(recursive=True), process]
    for member in members:
        try:
            member.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(members, timeout=30)


def failure_detail(status: str, log: Path, timeout: float, memory_limit: float) -> str:
    if status == "timeout":
        return f"stopped after {timeout:.0f} s"
    if status == "memory":
        return f"stopped at {memory_limit / GB:.0f} GB"
    if status == "failed":
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        return (errors or lines or ["no output"])[-1][:200]
    return ""


def prepare(copies: int, seed: int, tools: list[str]) -> None:
    """The scaled bronze tables and their Parquet export (a re-run with the same K and seed is quick), and for
    spark-sql the models' SQL as dbt compiles it."""
    print(f"K={copies}: preparing the input (lakehouse scale --copies {copies})", flush=True)
    manifest()  # the baselines' columns come from it (benchmarks/contract.py): parsed here, untimed, if need be
    argv = [sys.executable, "-m", "lakehouse.ingest.scale", "--copies", str(copies), "--seed", str(seed)]
    argv += ["--export-dir", str(input_dir(copies))]
    untimed(argv, f"scale_x{copies}", f"lakehouse scale --copies {copies}")
    if ENGINE in tools:
        argv = [*dbt_command("compile", copies), "--target-path", str(compiled_dir(copies))]
        untimed(argv, f"compile_x{copies}", f"dbt compile --vars '{{copies: {copies}}}'")
    print(f"K={copies}: input ready", flush=True)


def untimed(argv: list[str], name: str, what: str) -> None:
    log = bench_dir() / "logs" / f"{name}.log"
    done = measure(argv, log, timeout=float("inf"), memory_limit=float("inf"))
    if done.status != "ok":
        raise LakehouseError(f"{what} failed: {done.detail} (log: {log})")


def check(tool: str, copies: int) -> None:
    """A baseline's output against the project's features of the same K: the same work, or no comparison."""
    argv = [sys.executable, "-m", "benchmarks.check_features", str(output_path(tool, copies))]
    argv += ["--features-table", features_table(copies)]
    log = bench_dir() / "logs" / f"check_{tool}_x{copies}.log"
    checked = measure(argv, log, timeout=float("inf"), memory_limit=float("inf"))
    if checked.status != "ok":
        raise LakehouseError(f"{tool}'s output differs from the project's features at K={copies}: see {log}")
    print(f"K={copies}: {tool} output matches {features_table(copies)}", flush=True)


def run_tool(tool: str, copies: int, timeout: float, memory_limit: float) -> Run:
    output_path(tool, copies).parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DBT_TARGET_PATH": str(bench_dir() / "dbt-target")}
    log = bench_dir() / "logs" / f"{tool}_x{copies}.log"
    spark_tool = tool in (PROJECT, ENGINE)  # the two Spark tools finish at any K; the ratio needs both
    run = measure(command(tool, copies), log, float("inf") if spark_tool else timeout, memory_limit, env)
    run.tool, run.copies = tool, copies
    print(f"K={copies}: {tool:<9} {run.status:<7} {run.wall_seconds:>8.1f} s {run.peak_gb:>6.2f} GB {run.detail}")
    return run


def benchmark(copies_list: list[int], tools: list[str], seed: int, timeout: float, memory_limit: float) -> list[Run]:
    runs: list[Run] = []
    stopped: dict[str, int] = {}
    for copies in sorted(copies_list):
        prepare(copies, seed, tools)
        for tool in tools:
            if tool in stopped:
                detail = f"not run: {runs_status(runs, tool)} at K={stopped[tool]}"
                runs.append(Run(tool, copies, "skipped", detail=detail))
                continue
            run = run_tool(tool, copies, timeout, memory_limit)
            runs.append(run)
            if run.status != "ok":
                stopped[tool] = copies
        if copies == 1 and PROJECT in tools:
            for tool in tools:
                if tool != PROJECT and runs_status(runs, tool) == "ok":
                    check(tool, copies)
    return runs


def runs_status(runs: list[Run], tool: str) -> str:
    return [run.status for run in runs if run.tool == tool][-1]


def flights(copies: int) -> int:
    """Rows in the scaled flights table (from its export's Parquet footers)."""
    import pyarrow.dataset as dataset

    return dataset.dataset(input_dir(copies) / "flights", format="parquet").count_rows()


def ratio(value: float | None, baseline: float | None) -> str:
    return f"{value / baseline:.2f}" if value and baseline else "-"


def table(runs: list[Run], flights_at: dict[int, int]) -> str:
    """One line per tool and K; wall time as a multiple of spark-sql's (for dbt: the project's overhead over
    the engine) and of pandas', peak memory as a multiple of pandas', all at the same K."""
    header = (
        f"{'K':>4} {'flights':>12}  {'tool':<10}{'wall s':>9}{'peak GB':>9}"
        f"{'wall/sql':>9}{'wall/pd':>9}{'mem/pd':>8}  status"
    )
    lines = [header, "-" * len(header)]
    for copies in sorted({run.copies for run in runs}):
        at_k = [run for run in runs if run.copies == copies]
        engine = next((run for run in at_k if run.tool == ENGINE and run.status == "ok"), None)
        baseline = next((run for run in at_k if run.tool == BASELINE and run.status == "ok"), None)
        for run in at_k:
            wall = f"{run.wall_seconds:.1f}" if run.wall_seconds is not None else "-"
            peak = f"{run.peak_gb:.2f}" if run.peak_gb is not None else "-"
            ok = run.status == "ok"
            engine_ratio = ratio(run.wall_seconds, engine and engine.wall_seconds) if ok else "-"
            wall_ratio = ratio(run.wall_seconds, baseline and baseline.wall_seconds) if ok else "-"
            memory_ratio = ratio(run.peak_gb, baseline and baseline.peak_gb) if ok else "-"
            status = run.status + (f": {run.detail}" if run.detail else "")
            measured = f"{wall:>9}{peak:>9}{engine_ratio:>9}{wall_ratio:>9}{memory_ratio:>8}"
            lines.append(f"{copies:>4} {flights_at[copies]:>12,}  {run.tool:<10}{measured}  {status}")
    return "\n".join(lines)


def chart(runs: list[Run], flights_at: dict[int, int], path: Path) -> None:
    """Wall time and peak memory against flights, one line per tool, a cross where a tool was stopped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, field, label in ((axes[0], "wall_seconds", "wall time (s)"), (axes[1], "peak_gb", "peak memory (GB)")):
        for tool in TOOLS:
            done = [run for run in runs if run.tool == tool and run.status == "ok"]
            stopped = [run for run in runs if run.tool == tool and run.status in ("failed", "timeout", "memory")]
            (line,) = axis.plot([flights_at[r.copies] / 1e6 for r in done], [getattr(r, field) for r in done], "o-")
            line.set_label(tool)
            if stopped:
                axis.plot(
                    [flights_at[r.copies] / 1e6 for r in stopped],
                    [getattr(r, field) for r in stopped],
                    "x",
                    color=line.get_color(),
                    markersize=10,
                )
        axis.set(xscale="log", yscale="log", xlabel="flights (millions)", ylabel=label)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(title="x = stopped or failed")
    figure.suptitle("staging + features: dbt-on-Spark, the same SQL in bare Spark, pandas, DuckDB, Dask (one machine)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse bench", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10, 30], help="the Ks to run (default 1 10 30)")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the scale jitter")
    parser.add_argument(
        "--timeout", type=float, default=900, help="stop a pandas, DuckDB or Dask run after this many seconds (900)"
    )
    parser.add_argument("--memory-limit-gb", type=float, default=20, help="stop a run above this peak RSS (20)")
    args = parser.parse_args(argv)
    ensure_metastore_free()
    runs = benchmark(args.copies, args.tools, args.seed, args.timeout, args.memory_limit_gb * GB)
    flights_at, runs = with_earlier_results({copies: flights(copies) for copies in args.copies}, runs)
    results = bench_dir() / "results.json"
    results.write_text(json.dumps({"flights": flights_at, "runs": [asdict(run) for run in runs]}, indent=2) + "\n")
    print(table(runs, flights_at))
    chart(runs, flights_at, bench_dir() / "bench.png")
    print(f"results in {results}, chart in {bench_dir() / 'bench.png'}")


def with_earlier_results(flights_at: dict[int, int], runs: list[Run]) -> tuple[dict[int, int], list[Run]]:
    """This run's results plus the last run's at the Ks this one did not run (`make bench COPIES=300` after
    `make bench`): a K's lines always come from one run, so its ratios compare tools measured side by side."""
    results = bench_dir() / "results.json"
    if not results.exists():
        return flights_at, runs
    earlier = json.loads(results.read_text())
    kept = {int(copies): count for copies, count in earlier["flights"].items() if int(copies) not in flights_at}
    kept_runs = [
        Run(**{**run, "tool": FORMER_NAMES.get(run["tool"], run["tool"])})
        for run in earlier["runs"]
        if run["copies"] in kept
    ]
    return {**kept, **flights_at}, kept_runs + runs


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
