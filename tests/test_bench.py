"""The benchmark's measuring and reporting, on real child processes (the tools' runs themselves are what
`lakehouse bench` measures; running them here would take minutes)."""

import json
import sys
from dataclasses import asdict

from lakehouse.bench import profile
from lakehouse.bench.benchmark import GB, Run, chart, measure, table, with_earlier_results

# A child that starts a grandchild holding about 300 MB, so only the whole tree's memory reaches it.
GRANDCHILD_HOLDS_300_MB = """
import subprocess, sys
subprocess.run([sys.executable, "-c", "import time; block = bytearray(300 * 2**20); time.sleep(1.5)"], check=True)
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_peak_memory_is_that_of_the_whole_process_tree(tmp_path):
    run = measure(python(GRANDCHILD_HOLDS_300_MB), tmp_path / "tree.log", timeout=60, memory_limit=20 * GB)
    assert run.status == "ok"
    assert 0.3 <= run.peak_gb < 1.0
    assert run.wall_seconds >= 1.5


def test_a_run_past_its_time_is_stopped(tmp_path):
    run = measure(python("import time; time.sleep(60)"), tmp_path / "slow.log", timeout=1, memory_limit=20 * GB)
    assert run.status == "timeout"
    assert run.wall_seconds < 30
    assert run.detail == "stopped after 1 s"


def test_a_run_past_its_memory_is_stopped_with_its_children(tmp_path):
    run = measure(python(GRANDCHILD_HOLDS_300_MB), tmp_path / "big.log", timeout=60, memory_limit=0.2 * GB)
    assert run.status == "memory"
    assert run.detail == "stopped at 0 GB"


def test_a_failed_run_reports_its_error_line(tmp_path):
    code = "import sys; print('loading'); print('MemoryError: Unable to allocate 8 GiB'); sys.exit(1)"
    run = measure(python(code), tmp_path / "failed.log", timeout=60, memory_limit=20 * GB)
    assert run.status == "failed"
    assert run.detail == "MemoryError: Unable to allocate 8 GiB"


def test_table_gives_ratios_to_spark_sql_and_pandas_at_the_same_k_and_chart_draws(tmp_path):
    runs = [
        Run("dbt", 1, "ok", 40.0, 4.0),
        Run("spark-sql", 1, "ok", 20.0, 2.0),
        Run("pandas", 1, "ok", 4.0, 0.5),
        Run("duckdb", 1, "ok", 2.0, 1.0),
        Run("dbt", 300, "ok", 900.0, 12.0),
        Run("spark-sql", 300, "ok", 600.0, 10.0),
        Run("pandas", 300, "memory", 120.0, 20.1, "stopped at 20 GB"),
        Run("duckdb", 300, "skipped", detail="not run: timeout at K=30"),
    ]
    flights_at = {1: 336_776, 300: 101_032_800}
    lines = table(runs, flights_at).splitlines()
    assert lines[2].split()[:8] == ["1", "336,776", "dbt", "40.0", "4.00", "2.00", "10.00", "8.00"]
    assert lines[3].split()[2:6] == ["spark-sql", "20.0", "2.00", "1.00"]
    assert lines[5].split()[5:8] == ["0.10", "0.50", "2.00"]
    assert lines[6].split()[5:9] == ["1.50", "-", "-", "ok"]  # no pandas to compare with at K=300
    assert lines[8].endswith("memory: stopped at 20 GB")
    assert lines[9].split()[3:6] == ["-", "-", "-"]
    chart(runs, flights_at, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").stat().st_size > 10_000


def test_earlier_results_at_other_ks_are_kept_and_a_rerun_k_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    (tmp_path / "bench").mkdir()
    earlier = {"flights": {"1": 336_776, "30": 10_103_280}, "runs": [asdict(Run("pandas", 1, "ok", 3.0, 0.5))]}
    earlier["runs"].append(asdict(Run("pandas", 30, "ok", 75.0, 7.5)))
    (tmp_path / "bench" / "results.json").write_text(json.dumps(earlier))
    earlier["runs"].append(asdict(Run("spark", 1, "ok", 83.0, 3.2)))  # what the dbt tool was called before
    (tmp_path / "bench" / "results.json").write_text(json.dumps(earlier))
    flights_at, runs = with_earlier_results({30: 10_103_280}, [Run("pandas", 30, "ok", 70.0, 7.4)])
    assert flights_at == {1: 336_776, 30: 10_103_280}
    assert [(run.tool, run.copies, run.wall_seconds) for run in runs] == [
        ("pandas", 1, 3.0),
        ("dbt", 1, 83.0),
        ("pandas", 30, 70.0),
    ]


def test_profile_splits_a_node_into_its_query_delta_bookkeeping_and_driver_time(tmp_path):
    """A made-up event log: a node of 10 s whose query ran 6 s (one stage: 8 task-seconds, 3 of them sorting)
    and whose Delta log work ran 1 s; the 3 s in which no job ran are the driver's."""
    plan = {"nodeName": "Sort", "metrics": [{"accumulatorId": 7}], "children": []}
    events = [
        {"Event": "SparkListenerSQLExecutionStart", "executionId": 1, "description": "create table",
         "physicalPlanDescription": "Scan parquet", "sparkPlanInfo": plan},
        {"Event": "SparkListenerSQLExecutionStart", "executionId": 2, "description": "Delta: Compute snapshot",
         "physicalPlanDescription": "Scan json _delta_log", "sparkPlanInfo": {"nodeName": "Scan", "children": []}},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": 1_000,
         "Properties": {"spark.sql.execution.id": "1"}, "Stage Infos": [{"Stage ID": 0}]},
        {"Event": "SparkListenerStageCompleted", "Stage Info": {
            "Stage ID": 0, "Number of Tasks": 4, "Submission Time": 1_000, "Completion Time": 7_000,
            "Accumulables": [{"ID": 1, "Name": "internal.metrics.executorRunTime", "Value": 8_000},
                             {"ID": 7, "Name": "sort time", "Value": 3_000}]}},
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 7_000},
        {"Event": "SparkListenerJobStart", "Job ID": 1, "Submission Time": 8_000,
         "Properties": {"spark.sql.execution.id": "2"}, "Stage Infos": [{"Stage ID": 1}]},
        {"Event": "SparkListenerJobEnd", "Job ID": 1, "Completion Time": 9_000},
    ]  # fmt: skip
    (tmp_path / "events_1_local-1").write_text("\n".join(json.dumps(event) for event in events) + "\n")
    run_results = {
        "results": [
            {
                "unique_id": "model.nycflights.stg_nycflights__flights",
                "execution_time": 10.0,
                "timing": [{"started_at": "1970-01-01T00:00:00.500Z", "completed_at": "1970-01-01T00:00:10.500Z"}],
            }
        ]
    }
    line = next(line for line in profile.report(run_results, tmp_path, 1).splitlines() if "stg_nycflights" in line)
    assert line.split()[1:] == ["10.0", "6.0", "1.0", "3.0", "|", "0.0", "0.0", "3.0", "0.0", "5.0"]
