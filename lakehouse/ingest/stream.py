"""`lakehouse stream`: the feed's landing files into bronze Delta tables, exactly once, by Spark Structured Streaming.

A file source reads the landing folder (`lakehouse replay` writes it) as lines of text, a bounded number of files
per micro-batch, and each micro-batch is parsed against the schemas of the nycflights source's yml: flight events
append to `flight_events`, observations to `weather_events`, and every line that cannot land (not JSON, an
unknown event type, no event id or time, a value of the wrong type, an impossible date or value) to `event_quarantine`
with the raw line and the reason. An event already in bronze (the same event_id, delivered again, whenever) is
dropped, counted as a duplicate: the bronze table itself is the record of what has arrived, read for the
micro-batch's span of event time only. Late events land like any other; dbt's incremental build takes them
from their own day on.

Exactly once across restarts: the checkpoint records which files each micro-batch read before it runs, and
each of the three appends is an idempotent Delta write, keyed by the checkpoint's query id and the micro-batch
number (txnAppId, txnVersion), so a micro-batch that a kill interrupted runs again and writes only what it had
not committed. The job runs without the metastore, writing the tables by path where the metastore has them
(`<warehouse>/<schema>.db/<table>`), so `dbt build` can run beside it; it creates a missing table with the DDL
dbt would use.

    lakehouse stream [--available-now] [--max-files-per-trigger N] [--build]

`--available-now` processes what is in the landing folder and exits (for CI and cron); without it the job runs
until stopped, and SIGINT or SIGTERM stop it between micro-batches. One line per micro-batch says what landed,
how fast, how far behind the newest landing file it is, and the latency from landing to readable in Delta.

`--build` is the warm path: this process also runs `dbt build` (lakehouse/ingest/warm_build.py) whenever
micro-batches have landed since the last build began, on its own Spark session and with the project parsed once,
and says per build how long it took and how long the events it took waited from landing to flight_features. It
then holds the metastore, as a `dbt build` does, so no other dbt run can work beside it; a stop request waits
for the build in progress.
"""

import argparse
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse import faults
from lakehouse.errors import LakehouseError
from lakehouse.ingest.bronze_tables import EVENT_QUARANTINE_TABLE, EVENT_TABLES, KINDS, BronzeTable, bronze_table
from lakehouse.ingest.events import ENVELOPE, EVENT_TYPES, INSTANT_PATTERN
from lakehouse.ingest.warm_build import BuildReport, WarmBuild
from lakehouse.locks import sole_writer
from lakehouse.paths import events_landing_dir, stream_dir
from lakehouse.project import project_var
from lakehouse.spark import get_spark, is_remote, spark_conf, table_location

REASON = "_reason"
LANDING_GLOB = "*.ndjson"


def percentile(weighted: list[tuple[float, int]], share: float) -> float:
    """The value below which `share` of the weight lies, of (value, weight) pairs."""
    ordered = sorted(weighted)
    total, running = sum(weight for _, weight in ordered), 0
    for value, weight in ordered:
        running += weight
        if running >= share * total:
            return value
    return ordered[-1][0] if ordered else 0.0


@dataclass
class BatchReport:
    batch_id: int
    lines: int
    files: int
    landed: dict[str, int]
    duplicates: int
    quarantined: int
    seconds: float
    behind_files: int
    behind_seconds: float
    latencies: list[tuple[float, int]]  # (seconds from landing to readable, lines) per file

    def line(self) -> str:
        landed = ", ".join(f"{count:,} {kind}" for kind, count in self.landed.items())
        rate = self.lines / self.seconds if self.seconds else 0.0
        return (
            f"batch {self.batch_id}: {self.lines:,} lines from {self.files:,} files -> landed {landed},"
            f" {self.duplicates:,} duplicates dropped, {self.quarantined:,} quarantined; {rate:,.0f} lines/s;"
            f" {self.behind_files:,} files ({self.behind_seconds:.1f} s) behind the newest;"
            f" landing to readable p50 {percentile(self.latencies, 0.5):.2f} s,"
            f" p99 {percentile(self.latencies, 0.99):.2f} s"
        )


class EventSink:
    """Writes each micro-batch of landing lines to the bronze tables: the foreachBatch function."""

    def __init__(self, spark: SparkSession, raw_schema: str, checkpoint: Path, landing: Path, metrics: Path):
        self.spark, self.checkpoint, self.landing, self.metrics = spark, checkpoint, landing, metrics
        self.tables = {kind: bronze_table(EVENT_TABLES[kind], raw_schema) for kind in KINDS}
        self.quarantine = bronze_table(EVENT_QUARANTINE_TABLE, raw_schema)
        for table in [*self.tables.values(), self.quarantine]:
            spark.sql(table.create_at_path_sql(table_location(table.relation)))
        self.event_schema = self._event_schema()
        self.loaded_at = datetime.now()
        # The newest event time each table holds: a micro-batch whose events all come later holds no duplicate.
        self.newest_event_at = {
            kind: spark.read.format("delta").load(str(table_location(table.relation))).agg(F.max("event_at")).first()[0]
            for kind, table in self.tables.items()
        }
        self.totals = {"lines": 0, "landed": 0, "duplicates": 0, "quarantined": 0}
        # --build: (landed at, lines) per file committed since the last build began; None without a builder
        self.unbuilt: list[tuple[float, int]] | None = None
        self.unbuilt_lock = threading.Lock()

    def take_unbuilt(self) -> list[tuple[float, int]]:
        """The files committed since this was last asked, for a build about to begin."""
        with self.unbuilt_lock:
            taken, self.unbuilt = self.unbuilt, []
        return taken

    def give_back_unbuilt(self, files: list[tuple[float, int]]) -> None:
        """Files a failed build did not take: the next build takes them (they are in bronze)."""
        with self.unbuilt_lock:
            self.unbuilt = files + self.unbuilt

    def _event_schema(self) -> StructType:
        """Every field an event can carry: the envelope and each kind's payload, with their bronze types."""
        fields = {}
        for table in self.tables.values():
            for name in table.data_columns:
                fields.setdefault(name, table.columns[name])
        return BronzeTable("event", "event.event", fields, ()).schema()

    def query_id(self) -> str:
        """The id Spark keeps in the checkpoint: a new checkpoint is a new id, so its batch numbers start afresh."""
        return json.loads((self.checkpoint / "metadata").read_text())["id"]

    def rejection_reason(self) -> Column:
        """Why a line cannot land, or null when it can; the first problem found."""
        raw, event = F.col("raw_line"), F.col("event")
        event_type, event_at = event["event_type"], event["event_at"]
        known_types = [event_type for kind in KINDS for event_type in EVENT_TYPES[kind]]
        raw_event_at = F.get_json_object(raw, "$.event_at")
        reasons = [
            F.when(
                F.get_json_object(raw, "$").isNull() | ~F.ltrim(raw).startswith("{"),
                F.lit("not a whole JSON object"),
            ),
            F.when(event_type.isNull(), F.lit("no event_type")),
            F.when(~event_type.isin(known_types), F.format_string("unknown event_type '%s'", event_type)),
            F.when(event["event_id"].isNull() | (event["event_id"] == ""), F.lit("no event_id")),
            F.when(
                event_at.isNull() & raw_event_at.isNotNull(),
                F.format_string("event_at: cannot read '%s' as timestamp", raw_event_at),
            ),
            F.when(event_at.isNull(), F.lit("no event_at")),
        ]
        for kind, table in self.tables.items():
            of_kind = event_type.isin(list(EVENT_TYPES[kind]))
            for name in table.data_columns:
                if name in ENVELOPE:
                    continue
                raw_value = F.get_json_object(raw, f"$.{name}")
                reasons.append(
                    F.when(
                        of_kind & raw_value.isNotNull() & event[name].isNull(),
                        F.format_string(f"{name}: cannot read '%s' as {table.columns[name]}", raw_value),
                    )
                )
        reasons.append(
            F.when(
                F.make_date(event["year"], event["month"], event["day"]).isNull(),
                F.lit("year, month and day do not form a date"),
            )
        )
        for kind, table in self.tables.items():
            of_kind = event_type.isin(list(EVENT_TYPES[kind]))
            reasons.extend(F.when(of_kind, reason) for reason in table.impossible_value_reasons(event.getField))
        return F.coalesce(*reasons)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.time()
        query_id = self.query_id()
        # Later than every row before it, so that dbt's incremental read by _loaded_at never skips one.
        self.loaded_at = max(datetime.now(), self.loaded_at)
        stamp = {"_batch_id": F.lit(f"{query_id}/{batch_id}"), "_loaded_at": F.lit(self.loaded_at)}
        kind = F.lit(None)
        for name in reversed(KINDS):
            kind = F.when(F.col("event.event_type").isin(list(EVENT_TYPES[name])), F.lit(name)).otherwise(kind)
        lines = (
            batch.select(
                F.col("value").alias("raw_line"),
                F.element_at(F.split("file_path", "/"), -1).alias("_source_file"),
                F.col("file_modification_time").alias("_landed_at"),
                F.from_json("value", self.event_schema, {"timestampFormat": INSTANT_PATTERN}).alias("event"),
            )
            .withColumn(REASON, self.rejection_reason())
            .withColumn("_kind", F.when(F.col(REASON).isNull(), kind))
            .persist()
        )
        # One job for both summaries: lines per landing file, and per kind its events, their distinct ids and span.
        lines.createOrReplaceTempView("landing_lines")
        summary = batch.sparkSession.sql(
            f"""
            select _source_file, _landed_at, _kind,
                count(1) as lines, count_if({REASON} is not null) as rejected,
                count(distinct event.event_id) as distinct_ids,
                min(event.event_at) as first_at, max(event.event_at) as last_at
            from landing_lines
            group by grouping sets ((_source_file, _landed_at), (_kind))
            """
        ).collect()
        files = [row for row in summary if row["_source_file"] is not None]
        offered = {row["_kind"]: row for row in summary if row["_source_file"] is None and row["_kind"] is not None}
        write = {"txnAppId": query_id, "txnVersion": str(batch_id)}
        appends = [
            partial(self._append_events, lines, name, table, offered.get(name), write, stamp)
            for name, table in self.tables.items()
        ]
        if any(row["rejected"] for row in files):
            appends.append(partial(self._append_rejected, lines, write, stamp))
        # The appends go to different tables and wait mostly on Delta's commit, not on the cores: side by side.
        with ThreadPoolExecutor(len(appends)) as pool:
            outcomes = list(pool.map(lambda append: append(), appends))
        landed = {name: count for name, count, _ in outcomes[: len(self.tables)]}
        duplicates = sum(dropped for _, _, dropped in outcomes[: len(self.tables)])
        lines.unpersist()
        self._report(batch_id, files, landed, duplicates, started, time.time())

    def _append_events(self, lines: DataFrame, name: str, table: BronzeTable, summary, write: dict, stamp: dict):
        """Append a kind's new events; (kind, events landed, duplicates dropped)."""
        if summary is None:
            return name, 0, 0
        events, newest = lines.where(F.col("_kind") == name), self.newest_event_at[name]
        if summary["distinct_ids"] == summary["lines"] and (newest is None or summary["first_at"] > newest):
            landed = summary["lines"]  # every id once, and all after the newest stored: all new
        else:
            # Counted before the write, which changes what the anti-join finds; the write reads the cached rows.
            events = self._new_events(events, table, summary["first_at"], summary["last_at"]).persist()
            landed = events.count()
        faults.pause_point(f"stream:before {table.name}")
        if landed:
            rows = events.select(
                *[F.col(f"event.{column}").alias(column) for column in table.data_columns],
                "_source_file",
                "_landed_at",
                *stamp.values(),
            ).toDF(*table.columns)
            rows.write.format("delta").mode("append").options(**write).save(str(table_location(table.relation)))
        events.unpersist()
        self.newest_event_at[name] = max(filter(None, [newest, summary["last_at"]]))
        return name, landed, summary["lines"] - landed

    def _append_rejected(self, lines: DataFrame, write: dict, stamp: dict) -> None:
        faults.pause_point(f"stream:before {self.quarantine.name}")
        rejected = lines.where(F.col(REASON).isNotNull()).select(
            "raw_line", F.col(REASON).alias("reason"), "_source_file", "_landed_at", *stamp.values()
        )
        rejected.toDF(*self.quarantine.columns).write.format("delta").mode("append").options(**write).save(
            str(table_location(self.quarantine.relation))
        )

    def _new_events(self, events: DataFrame, table: BronzeTable, first_at: datetime, last_at: datetime) -> DataFrame:
        """One of each event_id, without those the table holds already (read for the events' span of time only)."""
        once = events.withColumn("event_id", F.col("event.event_id")).dropDuplicates(["event_id"])
        stored = (
            self.spark.read.format("delta")
            .load(str(table_location(table.relation)))
            .where(F.col("event_at").between(first_at, last_at))
            .select("event_id")
        )
        return once.join(stored, "event_id", "left_anti").drop("event_id")

    def _report(self, batch_id: int, files: list, landed: dict, duplicates: int, started: float, done: float) -> None:
        newest = max((row["_landed_at"].timestamp() for row in files), default=done)
        waiting = [entry.stat().st_mtime for entry in self.landing.glob(LANDING_GLOB)]
        behind = [mtime for mtime in waiting if mtime > newest + 0.001]  # Spark keeps milliseconds
        report = BatchReport(
            batch_id=batch_id,
            lines=sum(row["lines"] for row in files),
            files=len(files),
            landed=landed,
            duplicates=duplicates,
            quarantined=sum(row["rejected"] for row in files),
            seconds=done - started,
            behind_files=len(behind),
            behind_seconds=max(behind, default=newest) - newest,
            latencies=[(done - row["_landed_at"].timestamp(), row["lines"]) for row in files],
        )
        print(report.line(), flush=True)
        with self.metrics.open("a") as metrics:
            metrics.write(json.dumps({**report.__dict__, "committed_at": done}) + "\n")
        self.totals["lines"] += report.lines
        self.totals["landed"] += sum(landed.values())
        self.totals["duplicates"] += duplicates
        self.totals["quarantined"] += report.quarantined
        if self.unbuilt is not None:
            with self.unbuilt_lock:
                self.unbuilt += [(row["_landed_at"].timestamp(), row["lines"]) for row in files]


class StopRequest:
    """SIGINT or SIGTERM: stop between micro-batches rather than in the middle of one."""

    def __init__(self):
        self.event = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.event.set())


def run_until_stopped(query, stop: StopRequest, between=None, grace_seconds: float = 120.0) -> None:
    """Wait for the query to end or a stop; `between()`, when given, runs every half second meanwhile."""
    while query.isActive and not stop.event.is_set():
        query.awaitTermination(0.5)
        if between is not None:
            between()
    if query.isActive:
        deadline = time.monotonic() + grace_seconds
        while query.status["isTriggerActive"] and time.monotonic() < deadline:
            time.sleep(0.1)
        query.stop()
    if query.exception() is not None:
        raise query.exception()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lakehouse stream", description=__doc__.splitlines()[0])
    parser.add_argument("--available-now", action="store_true", help="process what has landed, then exit")
    parser.add_argument("--max-files-per-trigger", type=int, default=100, help="landing files per micro-batch")
    parser.add_argument("--landing-dir", type=Path, help="where the feed lands (default: the state folder's)")
    parser.add_argument("--raw-schema", help="the bronze schema to write (default: dbt's, var raw_schema)")
    parser.add_argument(
        "--build", action="store_true", help="also run dbt build in this process whenever events have landed"
    )
    args = parser.parse_args(argv)
    if args.max_files_per_trigger < 1:
        raise LakehouseError("--max-files-per-trigger must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raw_schema = args.raw_schema or project_var("raw_schema")
    home = stream_dir() / raw_schema
    # One stream per set of tables: two would commit the same Delta versions and share one checkpoint.
    with sole_writer(
        home / "writer.lock", f"the event tables of {raw_schema}", "stop it (Ctrl-C, or kill -TERM {pid})"
    ):
        run_stream(args, raw_schema, home)


def run_stream(args: argparse.Namespace, raw_schema: str, home: Path) -> None:
    landing = args.landing_dir or events_landing_dir()
    landing.mkdir(parents=True, exist_ok=True)
    checkpoint = home / "checkpoint"
    # With --build, dbt takes over this session (dbt-spark's getOrCreate): the stream's settings below go to a
    # session of its own, which shares the JVM and the catalog but not the SQL settings.
    if args.build and is_remote(spark_conf()):
        raise LakehouseError("--build runs dbt on the stream's own Spark session: set DBT_TARGET to local or cluster")
    session = get_spark("lakehouse-stream", metastore=args.build)
    spark = session.newSession() if args.build else session
    stop = StopRequest()  # after the SparkContext, whose own SIGINT handler cancels every job mid-batch
    # A micro-batch is thousands of lines, not the millions the shared setting is sized for: a shuffle into 64
    # partitions doubles the time of its dedup.
    spark.conf.set("spark.sql.shuffle.partitions", str(spark.sparkContext.defaultParallelism))
    # Delta's checksum file after each commit speeds up a reader's first look at a big table, and costs every
    # micro-batch's append about 0.25 of its 1 s on this 2-core machine; the stream is all appends.
    spark.conf.set("spark.databricks.delta.writeChecksumFile.enabled", "false")
    sink = EventSink(spark, raw_schema, checkpoint, landing, home / "metrics.jsonl")
    writer = (
        spark.readStream.format("text")
        .option("maxFilesPerTrigger", args.max_files_per_trigger)
        .option("pathGlobFilter", LANDING_GLOB)
        .load(str(landing))
        .select("value", "_metadata.file_path", "_metadata.file_modification_time")
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(checkpoint))
    )
    writer = writer.trigger(availableNow=True) if args.available_now else writer.trigger(processingTime="1 second")
    tables = ", ".join(table.relation for table in [*sink.tables.values(), sink.quarantine])
    print(f"stream: {landing} -> {tables} (checkpoint {checkpoint}); Ctrl-C stops it", flush=True)
    builder = Builder(sink, raw_schema, home / "builds.jsonl") if args.build else None
    run_until_stopped(writer.start(), stop, between=builder)
    if builder is not None and not stop.event.is_set():
        builder()  # what the last micro-batches landed
    totals = sink.totals
    print(
        f"stream stopped: {totals['lines']:,} lines -> {totals['landed']:,} events landed,"
        f" {totals['duplicates']:,} duplicates dropped, {totals['quarantined']:,} quarantined",
        flush=True,
    )
    if builder is not None and builder.last is not None and not builder.last.succeeded:
        raise LakehouseError(
            f"the last build failed ({', '.join(builder.last.failed) or 'see dbt above'}): fix it and run `dbt build`"
        )


class Builder:
    """--build: a warm `dbt build` whenever micro-batches have committed since the last one began."""

    def __init__(self, sink: EventSink, raw_schema: str, metrics: Path):
        dbt_vars = None if raw_schema == project_var("raw_schema") else json.dumps({"raw_schema": raw_schema})
        self.sink, self.metrics, self.build = sink, metrics, WarmBuild(sink.spark, dbt_vars)
        sink.unbuilt = []  # the sink keeps what it commits for the builds from now on
        self.last: BuildReport | None = None

    def __call__(self) -> None:
        files = self.sink.take_unbuilt()
        if not files:
            return
        report = self.build()
        done = time.time()
        if report.succeeded:
            report.latencies = [(done - landed_at, lines) for landed_at, lines in files]
        else:
            self.sink.give_back_unbuilt(files)
        self.last = report
        outcome = "ok" if report.succeeded else f"FAILED: {', '.join(report.failed) or 'see dbt above'}"
        waited = (
            f"; landing to flight_features p50 {percentile(report.latencies, 0.5):.1f} s,"
            f" p99 {percentile(report.latencies, 0.99):.1f} s over {len(files):,} files"
            if report.succeeded
            else ""
        )
        print(f"build {report.number}: {report.nodes} nodes in {report.seconds:.1f} s, {outcome}{waited}", flush=True)
        with self.metrics.open("a") as metrics:
            metrics.write(json.dumps({**report.__dict__, "done_at": done}) + "\n")


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
