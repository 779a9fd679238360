"""Where a dbt build's time goes, per model and per stage, from Spark's event log and dbt's run_results.json.

    lakehouse profile [--copies K] [--select +flight_features] [--build] [--stages N]

Runs `dbt run --select SELECTION --full-refresh --vars '{copies: K}'` (with --build: `dbt build` as it is,
tests and all, incremental models merging what arrived) with Spark's event log on (LAKEHOUSE_EVENT_LOG=true, read by
profiles.yml), then splits each node's wall time (run_results.json) into:

- query:  time while a Spark job of the model's own query ran (reading, joining, writing the table);
- delta:  time while a job of Delta's own bookkeeping ran: state reconstruction of the log, file listing for
          the overwrite, the snapshot after the commit, checkpoints (any job whose plan reads `_delta_log`);
- driver: the rest: dbt (compiling, the relation cache, `describe`/`show` queries), Spark planning, the
          metastore, the commit itself; time in which no Spark job ran.

and the query's task time (summed over tasks, so up to twice the wall time on 2 cores) into Spark's own SQL
metrics: scan, shuffle write and fetch wait, sort, hash aggregation, and the rest of the tasks' time (projection,
windows, joins, writing Parquet and its statistics). The N costliest stages of the run follow, with their
operators, rows and bytes. The report is printed and kept in <LAKEHOUSE_HOME>/bench/profile_run_x<K>.txt
(with --build: profile_build_x<K>.txt); the event log in <LAKEHOUSE_HOME>/eventlog/.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lakehouse.errors import LakehouseError
from lakehouse.paths import PROJECT_ROOT, bench_dir, eventlog_dir
from lakehouse.spark import ensure_metastore_free

EVENT_LOG_VARIABLE = "LAKEHOUSE_EVENT_LOG"
# SQL metrics (name -> report column, and the unit Spark counts them in, as a divisor to seconds).
TASK_METRICS = {
    "scan time": ("scan", 1e3),
    "shuffle write time": ("shuffle", 1e9),
    "fetch wait time": ("shuffle", 1e3),
    "sort time": ("sort", 1e3),
    "time in aggregation build": ("aggregate", 1e3),
}
TASK_COLUMNS = ["scan", "shuffle", "sort", "aggregate", "other"]


@dataclass
class Stage:
    stage_id: int
    execution_id: int | None
    submitted: int
    completed: int
    tasks: int
    run_seconds: float
    metrics: dict[str, float]
    accumulator_ids: set[int]
    input_rows: int = 0
    shuffle_bytes: int = 0
    spill_bytes: int = 0


@dataclass
class Execution:
    execution_id: int
    root_id: int
    is_delta_log: bool
    operators: dict[int, str] = field(default_factory=dict)  # accumulator id -> operator name


def plan_operators(plan: dict, operators: dict[int, str]) -> None:
    for metric in plan.get("metrics", []):
        operators[metric["accumulatorId"]] = plan["nodeName"]
    for child in plan.get("children", []):
        plan_operators(child, operators)


def read_event_log(directory: Path) -> tuple[dict[int, Execution], list[Stage], list[tuple[int, int, int | None]]]:
    """SQL executions, completed stages and jobs (start, end, execution id) of one application's event log."""
    executions: dict[int, Execution] = {}
    stages: list[Stage] = []
    jobs: dict[int, list] = {}
    stage_execution: dict[int, int | None] = {}
    files = sorted(directory.glob("events_*"), key=lambda path: int(path.name.split("_")[1]))
    for path in files:
        with path.open() as log:
            for line in log:
                event = json.loads(line)
                kind = event["Event"]
                if kind.endswith("SQLExecutionStart"):
                    execution_id = event["executionId"]
                    text = event.get("physicalPlanDescription", "") + event.get("description", "")
                    is_log = "_delta_log" in text or event.get("description", "").startswith("Delta:")
                    root = event.get("rootExecutionId", execution_id)
                    executions[execution_id] = Execution(execution_id, root, is_log)
                    plan_operators(event["sparkPlanInfo"], executions[execution_id].operators)
                elif kind.endswith("SQLAdaptiveExecutionUpdate"):
                    plan_operators(event["sparkPlanInfo"], executions[event["executionId"]].operators)
                elif kind == "SparkListenerJobStart":
                    execution = event.get("Properties", {}).get("spark.sql.execution.id")
                    execution_id = int(execution) if execution is not None else None
                    jobs[event["Job ID"]] = [event["Submission Time"], None, execution_id]
                    for stage in event["Stage Infos"]:
                        stage_execution[stage["Stage ID"]] = execution_id
                elif kind == "SparkListenerJobEnd":
                    jobs[event["Job ID"]][1] = event["Completion Time"]
                elif kind == "SparkListenerStageCompleted":
                    stages.append(completed_stage(event["Stage Info"], stage_execution))
    return executions, stages, [tuple(job) for job in jobs.values() if job[1] is not None]


def completed_stage(info: dict, stage_execution: dict[int, int | None]) -> Stage:
    values: dict[str, float] = defaultdict(float)
    ids = set()
    for accumulable in info.get("Accumulables", []):
        ids.add(accumulable["ID"])
        try:
            values[accumulable["Name"]] += float(accumulable["Value"])
        except (TypeError, ValueError):
            pass
    metrics: dict[str, float] = defaultdict(float)
    for name, (column, per_second) in TASK_METRICS.items():
        metrics[column] += values.get(name, 0.0) / per_second
    return Stage(
        stage_id=info["Stage ID"],
        execution_id=stage_execution.get(info["Stage ID"]),
        submitted=info.get("Submission Time", 0),
        completed=info.get("Completion Time", 0),
        tasks=info["Number of Tasks"],
        run_seconds=values.get("internal.metrics.executorRunTime", 0.0) / 1e3,
        metrics=dict(metrics),
        accumulator_ids=ids,
        input_rows=int(values.get("internal.metrics.input.recordsRead", 0)),
        shuffle_bytes=int(values.get("internal.metrics.shuffle.write.bytesWritten", 0)),
        spill_bytes=int(values.get("internal.metrics.diskBytesSpilled", 0)),
    )


def covered_seconds(intervals: list[tuple[int, int]], start: int, end: int) -> float:
    """Seconds of [start, end] (ms) covered by at least one interval."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in intervals if b > start and a < end)
    total, reach = 0, start
    for a, b in clipped:
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total / 1e3


def node_windows(run_results: dict) -> list[tuple[str, float, int, int]]:
    """(node name, dbt's execution seconds, first ms, last ms) per node, in the order dbt ran them."""
    windows = []
    for result in run_results["results"]:
        timing = [entry for entry in result["timing"] if entry.get("started_at")]
        if not timing:
            continue
        first = min(epoch_ms(entry["started_at"]) for entry in timing)
        last = max(epoch_ms(entry["completed_at"]) for entry in timing)
        windows.append((result["unique_id"].split(".")[-1], result["execution_time"], first, last))
    return sorted(windows, key=lambda window: window[2])


def epoch_ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def is_delta_log(executions: dict[int, Execution], execution_id: int | None) -> bool:
    execution = executions.get(execution_id)
    return bool(execution and execution.is_delta_log)


def stage_operators(stage: Stage, executions: dict[int, Execution]) -> str:
    execution = executions.get(stage.execution_id)
    if execution is None:
        return "-"
    names = {execution.operators[i] for i in stage.accumulator_ids if i in execution.operators}
    order = ["Scan", "Filter", "Project", "Window", "Sort", "HashAggregate", "Join", "Union", "Exchange", "Write"]
    ranked = sorted(names, key=lambda name: next((i for i, key in enumerate(order) if key in name), len(order)))
    return ", ".join(ranked) or "-"


def report(run_results: dict, directory: Path, top_stages: int) -> str:
    executions, stages, jobs = read_event_log(directory)
    query_jobs = [(a, b) for a, b, execution in jobs if not is_delta_log(executions, execution)]
    log_jobs = [(a, b) for a, b, execution in jobs if is_delta_log(executions, execution)]
    header = f"{'node':<46}{'wall s':>8}{'query':>8}{'delta':>8}{'driver':>8}  |" + "".join(
        f"{column:>10}" for column in TASK_COLUMNS
    )
    lines = ["wall-clock seconds per node | task seconds of its query's stages", header, "-" * len(header)]
    totals: dict[str, float] = defaultdict(float)
    stage_node: dict[int, str] = {}
    for name, seconds, first, last in node_windows(run_results):
        query = covered_seconds(query_jobs, first, last)
        delta = covered_seconds(log_jobs, first, last)
        driver = max(0.0, seconds - query - delta)
        tasks: dict[str, float] = defaultdict(float)
        for stage in stages:
            if first <= stage.submitted <= last and not is_delta_log(executions, stage.execution_id):
                stage_node[stage.stage_id] = name
                named = sum(stage.metrics.values())
                for column, value in stage.metrics.items():
                    tasks[column] += value
                tasks["other"] += max(0.0, stage.run_seconds - named)
        for column, value in {"wall": seconds, "query": query, "delta": delta, "driver": driver, **tasks}.items():
            totals[column] += value
        lines.append(
            f"{name[:45]:<46}{seconds:>8.1f}{query:>8.1f}{delta:>8.1f}{driver:>8.1f}  |"
            + "".join(f"{tasks.get(column, 0.0):>10.1f}" for column in TASK_COLUMNS)
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'all nodes':<46}{totals['wall']:>8.1f}{totals['query']:>8.1f}{totals['delta']:>8.1f}"
        f"{totals['driver']:>8.1f}  |" + "".join(f"{totals[column]:>10.1f}" for column in TASK_COLUMNS)
    )
    lines += ["", f"the {top_stages} costliest stages (task seconds)"]
    lines.append(f"{'stage':>6} {'node':<40}{'tasks':>6}{'task s':>8}{'rows in':>13}{'shuffle MB':>11}  operators")
    for stage in sorted(stages, key=lambda stage: -stage.run_seconds)[:top_stages]:
        lines.append(
            f"{stage.stage_id:>6} {stage_node.get(stage.stage_id, '-')[:39]:<40}{stage.tasks:>6}"
            f"{stage.run_seconds:>8.1f}{stage.input_rows:>13,}{stage.shuffle_bytes / 1e6:>11.1f}  "
            f"{stage_operators(stage, executions)}"
        )
    return "\n".join(lines)


def profile(copies: int | None, selection: str, top_stages: int, build: bool = False) -> str:
    ensure_metastore_free()
    logs = eventlog_dir()
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    target = bench_dir() / "profile-target"
    dbt = str(Path(sys.executable).with_name("dbt"))
    argv = [dbt, "build"] if build else [dbt, "run", "--select", selection, "--full-refresh"]
    argv += ["--target-path", str(target)]
    if copies:
        argv += ["--vars", json.dumps({"copies": copies})]
    print(f"running {' '.join(argv[1:])} with Spark's event log on", flush=True)
    done = subprocess.run(argv, cwd=PROJECT_ROOT, env={**os.environ, EVENT_LOG_VARIABLE: "true"})
    if done.returncode != 0:
        raise LakehouseError("the profiled dbt run failed: see its output above")
    applications = sorted(logs.iterdir())
    if not applications:
        raise LakehouseError(f"Spark wrote no event log to {logs}: check spark.eventLog.* in profiles.yml")
    run_results = json.loads((target / "run_results.json").read_text())
    return report(run_results, applications[-1], top_stages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse profile", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, help="profile the build on K copies (after `lakehouse scale`)")
    parser.add_argument("--select", default="+flight_features", help="dbt's selection (default +flight_features)")
    parser.add_argument("--build", action="store_true", help="profile a plain `dbt build` instead")
    parser.add_argument("--stages", type=int, default=12, help="how many of the costliest stages to list")
    args = parser.parse_args(argv)
    text = profile(args.copies, args.select, args.stages, args.build)
    output = bench_dir() / f"profile_{'build' if args.build else 'run'}_x{args.copies or 1}.txt"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    print(text)
    print(f"(kept in {output})")


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
