"""The bronze tables as the nycflights source's yml declares them: columns and types, partitioning, and the DDL
that creates one that is missing, which is the DDL of macros/bronze_tables.sql.

The yml is the one home of the bronze schemas: the CSV reader, the stream's JSON parser and dbt's create read it
from the manifest. An event table (flight_events) carries the columns of the table it is a feed of (`payload_of`:
flights) first, then its own.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.errors import LakehouseError
from lakehouse.project import manifest, node_meta, project_var

SOURCE = "nycflights"
# What the CSV loader and the feed carry, and the table each kind's events land in.
KINDS = ("flights", "weather")
EVENT_TABLES = {"flights": "flight_events", "weather": "weather_events"}
QUARANTINE_TABLE = "quarantine"
LOADS_TABLE = "loads"
EVENT_QUARANTINE_TABLE = "event_quarantine"
# What makes a row one flight or one observation: a second row with the same key is a second load of it, which
# staging removes. The flights' is the source's own key, before staging turns date and clock into an instant.
NATURAL_KEYS = {
    "flights": ["carrier", "flight", "origin", "year", "month", "day", "sched_dep_time"],
    "weather": ["origin", "time_hour"],
}
SPARK_TYPES: dict[str, DataType] = {
    "string": StringType(),
    "int": IntegerType(),
    "bigint": LongType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "timestamp": TimestampType(),
}


@dataclass(frozen=True)
class BronzeTable:
    name: str
    relation: str
    columns: dict[str, str]  # name -> data_type, in the table's order
    partitioned_by: tuple[str, ...]
    # column -> what the yml says a possible value is (meta valid_range: [min, max], either may be null; clock_hhmm)
    possible: dict[str, dict] = field(default_factory=dict)

    @property
    def data_columns(self) -> list[str]:
        """The source's own columns, without the loaders' metadata (`_source_file`, `_loaded_at`, ...)."""
        return [name for name in self.columns if not name.startswith("_")]

    def schema(self, names: list[str] | None = None) -> StructType:
        return StructType([StructField(name, spark_type(self.columns[name])) for name in names or self.columns])

    def impossible_value_reasons(self, value: Callable[[str], Column]) -> list[Column]:
        """Per checked column, why its value (`value(name)`) is impossible, or null; a missing value is not."""
        reasons = []
        for name, possible in self.possible.items():
            column = value(name)
            low, high = possible.get("valid_range", (None, None))
            if low is not None and high is not None:
                reasons.append(F.when(~column.between(low, high), _impossible(name, column, f"{low} to {high}")))
            elif low is not None:
                reasons.append(F.when(column < low, _impossible(name, column, f"at least {low}")))
            elif high is not None:
                reasons.append(F.when(column > high, _impossible(name, column, f"at most {high}")))
            if possible.get("clock_hhmm"):
                reasons.append(
                    F.when(column % 100 > 59, F.format_string(f"{name}: %s is not a clock time HHMM", column))
                )
        return reasons

    def create_sql(self, location: Path | str) -> str:
        """`create table if not exists` at `location`, registered in the metastore under its relation."""
        return f"create table if not exists {self.relation} {self._definition()} location '{location}'"

    def create_at_path_sql(self, location: Path | str) -> str:
        """The same table at `location`, without the metastore (the stream runs without one)."""
        return f"create table if not exists delta.`{location}` {self._definition()}"

    def _definition(self) -> str:
        columns = ", ".join(f"{name} {data_type}" for name, data_type in self.columns.items())
        partitioning = f" partitioned by ({', '.join(self.partitioned_by)})" if self.partitioned_by else ""
        return f"({columns}) using delta{partitioning}"


def _impossible(name: str, value: Column, valid: str) -> Column:
    return F.format_string(f"{name}: %s is impossible (valid: {valid})", value)


def spark_type(data_type: str) -> DataType:
    if data_type not in SPARK_TYPES:
        raise LakehouseError(f"data_type {data_type!r} in the {SOURCE} source's yml: use one of {sorted(SPARK_TYPES)}")
    return SPARK_TYPES[data_type]


def _source_node(name: str) -> dict:
    found = manifest()["sources"].get(f"source.{manifest()['metadata']['project_name']}.{SOURCE}.{name}")
    if found is None:
        raise LakehouseError(f"the {SOURCE} source has no table {name}: check models/staging/nycflights")
    return found


def bronze_table(name: str, raw_schema: str | None = None) -> BronzeTable:
    """A bronze table of `raw_schema` (default: dbt's raw schema, var raw_schema) as the yml declares it."""
    node = _source_node(name)
    table_meta = node_meta(node)
    columns = {column: spec["data_type"] for column, spec in node["columns"].items()}
    possible = {column: _column_meta(spec) for column, spec in node["columns"].items() if _column_meta(spec)}
    if "payload_of" in table_meta:
        payload = bronze_table(table_meta["payload_of"])
        columns = {**{column: payload.columns[column] for column in payload.data_columns}, **columns}
        possible = {**payload.possible, **possible}
    schema = raw_schema or project_var("raw_schema")
    return BronzeTable(name, f"{schema}.{name}", columns, tuple(table_meta.get("partitioned_by", ())), possible)


def _column_meta(spec: dict) -> dict:
    """What a column's meta says a possible value is, when it says it."""
    column = node_meta(spec)
    return {key: column[key] for key in ("valid_range", "clock_hhmm") if key in column}


def csv_schema(kind: str) -> StructType:
    """The explicit schema of a kind's CSV: the columns of its bronze table before the metadata."""
    table = bronze_table(kind)
    return table.schema(table.data_columns)
