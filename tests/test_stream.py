"""The feed, end to end on January of the slice, as a user runs it: `lakehouse replay` with duplicates, late
and malformed events, `lakehouse stream --available-now`, `dbt build`, each a child process on a state folder of
its own (this session's JVM holds the other one's metastore; the stream needs none, dbt does).

The feed arrives in two parts, each streamed and built before the next (the second by the warm path, `lakehouse
stream --build`): the second part's late events belong to the first part's days, so the second build must
recompute them across the boundary. The features equal the
batch path's January (CSV ingest and `dbt build` on the slice; a feature looks back, never ahead), row for row.
The same events replayed again add nothing; a stream killed between the commits of one micro-batch loses and
repeats nothing when it restarts."""

import csv
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.ingest import replay
from lakehouse.ingest.bronze_tables import NATURAL_KEYS
from lakehouse.ingest.events import flight_event
from lakehouse.project import project_var
from lakehouse.summary import fingerprint_query
from tests.conftest import MODELS_AND_SEEDS, dbt_command, run_child, venv_command

DUPLICATES, LATE, MALFORMED = 0.02, 0.05, 0.01
# The feed's second part: landing files from this simulated instant on are held back until the first is built.
SPLIT_AT = "20130116T000000"
REASONS = {
    "not a whole JSON object",
    "unknown event_type 'flight_diverted'",
    "no event_id",
    "year, month and day do not form a date",
}


@pytest.fixture(scope="module")
def stream_env(lakehouse_home, tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("stream_home")
    (home / "jars").symlink_to((lakehouse_home / "jars").resolve(), target_is_directory=True)
    return {**{name: value for name, value in os.environ.items() if name != "DBT_TARGET"}, "LAKEHOUSE_HOME": str(home)}


def lakehouse(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    finished = run_child([venv_command("lakehouse"), *args], env, timeout)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout


def table_path(env: dict[str, str], relation: str) -> Path:
    schema, name = relation.split(".")
    return Path(env["LAKEHOUSE_HOME"]) / "warehouse" / f"{schema}.db" / name


def delta_table(spark, env, relation):
    """A table of the stream's state folder, read by path: this session's metastore is the other folder's."""
    return spark.read.format("delta").load(str(table_path(env, relation)))


def stopped(output: str) -> dict[str, int]:
    """The totals of the stream's last line."""
    line = output.strip().splitlines()[-1]
    found = re.fullmatch(
        r"stream stopped: ([\d,]+) lines -> ([\d,]+) events landed, ([\d,]+) duplicates dropped,"
        r" ([\d,]+) quarantined",
        line,
    )
    assert found, line
    names = ("lines", "landed", "duplicates", "quarantined")
    return {name: int(count.replace(",", "")) for name, count in zip(names, found.groups(), strict=True)}


def first_build_nodes(output: str) -> int:
    """How many nodes the first build of `lakehouse stream --build` ran; it must have succeeded."""
    built = re.search(r"^build 1: (\d+) nodes in [\d.]+ s, ok; landing to flight_features p50 ", output, re.M)
    assert built, output
    return int(built.group(1))


def newest_version(spark, env, relation) -> int:
    return spark.sql(f"describe history delta.`{table_path(env, relation)}` limit 1").first()["version"]


def replayed_counts(output: str) -> dict[str, int]:
    """What `lakehouse replay` says it wrote: events of each kind, and the duplicate, late and malformed lines."""
    counts = re.search(
        r"\(([\d,]+) flights, ([\d,]+) weather\).* ([\d,]+) delivered twice, ([\d,]+) late, ([\d,]+) malformed", output
    ).groups()
    names = ("flights", "weather", "duplicates", "late", "malformed")
    return {name: int(count.replace(",", "")) for name, count in zip(names, counts, strict=True)}


def source_rows(source_dir: Path, kind: str) -> int:
    with (source_dir / f"{kind}.csv").open(newline="") as source:
        return len({tuple(row[key] for key in NATURAL_KEYS[kind]) for row in csv.DictReader(source)})


@pytest.fixture(scope="module")
def january_dir(slice_dir, tmp_path_factory) -> Path:
    """The slice's January: the flights of January days (some leave after midnight on 1 February) and weather."""
    directory = tmp_path_factory.mktemp("nycflights13_january")
    for kind in NATURAL_KEYS:
        with (slice_dir / f"{kind}.csv").open(newline="") as source, (directory / f"{kind}.csv").open("w") as kept:
            rows = csv.reader(source)
            header = next(rows)
            writer = csv.writer(kept, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(row for row in rows if row[header.index("month")] == "1")
    return directory


@pytest.fixture(scope="module")
def streamed(stream_env, january_dir, tmp_path_factory):
    """The slice's feed streamed and built in two parts; what replay and the stream printed."""
    landing = Path(stream_env["LAKEHOUSE_HOME"]) / "landing" / "events"
    held = tmp_path_factory.mktemp("held_back")
    replayed = lakehouse(
        stream_env,
        "replay",
        *("--source-dir", str(january_dir), "--seed", "7", "--file-minutes", "180", "--late-minutes", "120"),
        *("--duplicates", str(DUPLICATES), "--late", str(LATE), "--malformed", str(MALFORMED)),
    )
    second_part = [path for path in landing.glob("*.ndjson") if path.name.split("-")[1] >= SPLIT_AT]
    for path in second_part:
        path.rename(held / path.name)
    streams = [lakehouse(stream_env, "stream", "--available-now")]
    artifacts = tmp_path_factory.mktemp("stream_dbt")
    build = dbt_command("build", *MODELS_AND_SEEDS, artifacts=artifacts)
    finished = run_child(build, stream_env)
    assert finished.returncode == 0, finished.stdout[-3000:]
    for path in second_part:
        (held / path.name).rename(path)
    # The second part through the warm path: the stream runs `dbt build` itself once the events have landed.
    warm_env = {**stream_env, "DBT_TARGET_PATH": str(artifacts / "warm"), "DBT_LOG_PATH": str(artifacts / "warm")}
    streams.append(lakehouse(warm_env, "stream", "--available-now", "--build"))
    return {"replayed": replayed, "streams": streams, "build": build}


def test_the_streamed_features_equal_the_batch_path_s(spark, built, stream_env, streamed):
    batch = "(select * from features.flight_features where flight_date < date '2013-02-01') as january"
    delta_table(spark, stream_env, "features.flight_features").createOrReplaceTempView("streamed_flight_features")
    streamed_fingerprint = spark.sql(fingerprint_query("streamed_flight_features")).first()
    assert tuple(streamed_fingerprint) == tuple(spark.sql(fingerprint_query(batch)).first())
    # ...and the second build merged the flights from the late events' days on, not the whole table again.
    history = spark.sql(f"describe history delta.`{table_path(stream_env, 'features.flight_features')}`")
    writes = [
        row["operation"] for row in history.orderBy("version").collect() if row["operation"] != "SET TBLPROPERTIES"
    ]
    assert writes[-1] == "MERGE" and writes[0].startswith("CREATE")
    # The first warm build is the whole project: part one built the features' path alone, not every table.
    assert first_build_nodes(streamed["streams"][-1]) > 100


def test_every_event_lands_once_and_every_malformed_line_is_quarantined_with_its_reason(
    spark, stream_env, streamed, january_dir
):
    injected = replayed_counts(streamed["replayed"])
    assert delta_table(spark, stream_env, "raw.flight_events").count() == source_rows(january_dir, "flights")
    assert delta_table(spark, stream_env, "raw.weather_events").count() == source_rows(january_dir, "weather")
    dropped = sum(int(stopped(out)["duplicates"]) for out in streamed["streams"])
    assert dropped == injected["duplicates"] > 0

    quarantine = delta_table(spark, stream_env, "raw.event_quarantine")
    reasons = {row["reason"] for row in quarantine.select("reason").distinct().collect()}
    assert quarantine.count() == injected["malformed"] > 0
    assert REASONS <= reasons
    assert any(re.fullmatch(r"(dep_delay|temp): cannot read 'n/a' as (int|double)", reason) for reason in reasons)


def test_late_events_of_the_first_part_arrived_with_the_second(spark, stream_env, streamed):
    """What makes the second build's equality with the batch path mean something: flights that departed before
    the split, delivered in landing files after it, whose origin windows reach into the first part's days."""
    flights = delta_table(spark, stream_env, "raw.flight_events")
    delivered = F.to_timestamp(F.regexp_extract("_source_file", r"events-(\d{8}T\d{6})-", 1), "yyyyMMdd'T'HHmmss")
    split = F.to_timestamp(F.lit(SPLIT_AT), "yyyyMMdd'T'HHmmss")
    across = flights.where((delivered >= split) & (F.col("event_at") < split))
    assert replayed_counts(streamed["replayed"])["late"] > 0
    assert across.count() > 0


# The feature columns each window gives, and which flights (f) one more departure (late) falls in through it.
WINDOWS = {
    "the origin's departures in the hours before the as-of instant": (
        ["origin_prior_departure_count", "origin_prior_mean_delay_minutes", "origin_prior_delayed_share"],
        "f.origin_airport_code = late.origin_airport_code"
        f" and late.actual_departure_at >= f.features_as_of_at - interval {project_var('origin_history_hours')} hours"
        " and late.actual_departure_at < f.features_as_of_at",
    ),
    "the flights scheduled around it, the same day": (
        ["origin_scheduled_departure_count"],
        "f.origin_airport_code = late.origin_airport_code and f.flight_date = late.flight_date"
        " and abs(unix_seconds(f.scheduled_departure_at) - unix_seconds(late.scheduled_departure_at))"
        f" <= {int(project_var('congestion_minutes')) * 60}",
    ),
    "the carrier's days at the origin before the as-of day": (
        ["carrier_origin_prior_departure_count", "carrier_origin_prior_delayed_share"],
        "f.carrier_code = late.carrier_code and f.origin_airport_code = late.origin_airport_code and"
        " to_date(f.features_as_of_at) between date_add(late.flight_date, 1)"
        f" and date_add(late.flight_date, {project_var('carrier_history_days')})",
    ),
    "the route's months before the as-of month": (
        ["route_prior_departure_count", "route_prior_delayed_share"],
        "f.route_code = late.route_code and trunc(to_date(f.features_as_of_at), 'MM') > trunc(late.flight_date, 'MM')",
    ),
}


def test_a_late_departure_changes_exactly_the_flights_whose_windows_it_falls_in(
    spark, stream_env, streamed, january_dir, tmp_path
):
    """One more departure of 22 January, delivered on the 25th and built by the warm path, changes the features
    of the flights whose windows it falls in, only the columns of those windows, and nothing else."""
    relation = "features.flight_features"
    version = newest_version(spark, stream_env, relation)
    template = next(
        row
        for row in replay.source_rows("flights", january_dir)
        if (row["origin"], row["day"]) == ("EWR", 22) and row["dep_time"] is not None
    )
    departure = {
        **template,
        **{"flight": 9999, "tailnum": None, "sched_dep_time": 1000, "dep_time": 1045, "dep_delay": 45},
        **{"hour": 10, "minute": 0, "time_hour": "2013-01-22T15:00:00Z"},
        **{"arr_time": None, "arr_delay": None, "air_time": None},
    }
    _, event = flight_event(departure)
    landing = Path(stream_env["LAKEHOUSE_HOME"]) / "landing" / "events"
    replay.write_file(landing, "events-20130125T000000-late-000000.ndjson", [json.dumps(event)])
    warm_env = {**stream_env, "DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    warm = lakehouse(warm_env, "stream", "--available-now", "--build")
    # Every table of the project is there now: the first build is the features' path alone.
    assert first_build_nodes(warm) < first_build_nodes(streamed["streams"][-1])

    features = table_path(stream_env, relation)
    spark.read.format("delta").option("versionAsOf", version).load(str(features)).createOrReplaceTempView("before")
    spark.read.format("delta").load(str(features)).createOrReplaceTempView("after")
    added = spark.sql("select * from after left anti join before using (flight_id)").collect()
    assert len(added) == 1 and (added[0]["carrier_code"], added[0]["flight_date"].day) == (template["carrier"], 22)
    spark.sql(
        "select *, scheduled_departure_at + make_dt_interval(0, 0, 45, 0) as actual_departure_at"
        f" from after where flight_id = {added[0]['flight_id']}"
    ).createOrReplaceTempView("late")
    window_columns = {name for names, _ in WINDOWS.values() for name in names}
    others = [name for name in spark.table("before").columns if name not in window_columns]
    unchanged = spark.sql(
        "select count_if(" + " or ".join(f"not (f.{name} <=> a.{name})" for name in others) + ")"
        " from before f join after a using (flight_id)"
    )
    assert unchanged.first()[0] == 0  # outside the windows' columns, no flight changed
    for window, (names, falls_in) in WINDOWS.items():
        changed = " or ".join(f"not (f.{name} <=> a.{name})" for name in names)
        found = spark.sql(
            f"select count_if({changed}) as changed, count_if({falls_in}) as expected,"
            f" count_if(({changed}) != ({falls_in})) as wrong"
            " from before f join after a using (flight_id) cross join late"
        ).first()
        assert found["wrong"] == 0, (window, found)
        assert found["expected"] > 0 or window.startswith("the route"), (window, found)


def test_events_replayed_again_add_nothing_a_second_stream_is_refused_and_ctrl_c_stops_the_first(
    spark, stream_env, streamed, january_dir
):
    tables = ["raw.flight_events", "raw.weather_events", "raw.event_quarantine"]
    versions = {table: newest_version(spark, stream_env, table) for table in tables}
    lakehouse(stream_env, "replay", "--source-dir", str(january_dir), "--end", "2013-01-08", "--file-minutes", "1440")
    running = subprocess.Popen(
        [venv_command("lakehouse"), "stream"],
        env=stream_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(600, os.killpg, (running.pid, signal.SIGKILL))  # a stream that never says a word
    watchdog.start()
    said = []
    try:
        for line in running.stdout:  # the week's seven files fit one micro-batch
            said.append(line)
            if line.startswith("batch "):
                break
        second = run_child([venv_command("lakehouse"), "stream", "--available-now"], stream_env, 120)
        assert second.returncode == 1 and "is already writing the event tables of raw" in second.stderr, second.stderr
        running.send_signal(signal.SIGINT)  # Ctrl-C: pyspark's own handler would cancel the micro-batch's jobs
        said += running.stdout.readlines()
        assert running.wait(timeout=120) == 0, said
    finally:
        watchdog.cancel()
        if running.poll() is None:
            os.killpg(running.pid, signal.SIGKILL)

    totals = stopped("".join(said))
    assert totals["landed"] == totals["quarantined"] == 0 and totals["duplicates"] == totals["lines"] > 0
    assert {table: newest_version(spark, stream_env, table) for table in tables} == versions  # nothing committed


def test_a_stream_killed_between_the_commits_of_a_micro_batch_loses_and_repeats_nothing(
    spark, stream_env, slice_dir, tmp_path
):
    landing = tmp_path / "landing"
    schema = "raw_killed"
    replayed = lakehouse(
        stream_env,
        "replay",
        *("--source-dir", str(slice_dir), "--end", "2013-01-04", "--landing-dir", str(landing)),
        *("--malformed", "0.05", "--seed", "3"),
    )
    stream = [venv_command("lakehouse"), "stream", "--available-now", "--raw-schema", schema]
    stream += ["--landing-dir", str(landing), "--max-files-per-trigger", "10"]
    paused = subprocess.Popen(
        stream,
        env={**stream_env, "LAKEHOUSE_PAUSE_AT": "stream:before event_quarantine"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its JVM too: SIGKILL to the process group, as a crash takes both
    )
    try:
        said = []
        for line in paused.stdout:
            said.append(line)
            if line.startswith("paused at"):
                break
        assert said and said[-1].startswith("paused at"), said
        flights_log = table_path(stream_env, f"{schema}.flight_events") / "_delta_log"
        deadline = time.monotonic() + 120
        while not (flights_log / "00000000000000000001.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # the flights of the micro-batch committed; its quarantine rows not yet
        assert (flights_log / "00000000000000000001.json").exists()
    finally:
        os.killpg(paused.pid, signal.SIGKILL)
        paused.wait()

    lakehouse(stream_env, *stream[1:])
    flights = delta_table(spark, stream_env, f"{schema}.flight_events")
    assert flights.count() == flights.select("event_id").distinct().count()
    assert flights.count() == replayed_counts(replayed)["flights"] > 0
    quarantine = delta_table(spark, stream_env, f"{schema}.event_quarantine")
    assert quarantine.count() == replayed_counts(replayed)["malformed"]
