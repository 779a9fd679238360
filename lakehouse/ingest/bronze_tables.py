"""The bronze tables as the nycflights source's yml declares them: columns and types, partitioning, and the DDL
that creates one that is missing, which is the DDL of macros/bronze_tables.sql.

The yml is the one home of the bronze schemas: the CSV reader, the stream's JSON parser and dbt's create read it
from the manifest. An event table (flight_events) carries the columns of the table it is a feed of (`payload_of`:
flights) first, then its own.
"""

from dataclasses import dataclass
from pathlib import Path

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
from lakehouse.project import manifest, project_var

SOURCE = "nycflights"
# What the CSV loader and the feed carry, and the table each kind's events land in.
KINDS = ("flights", "weather")
EVENT_TABLES = {"flights": "flight_events", "weather": "weather_events"}
QUARANTINE_TABLE = "quarantine"
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

    @property
    def data_columns(self) -> list[str]:
        """The source's own columns, without the loaders' metadata (`_source_file`, `_loaded_at`, ...)."""
        return [name for name in self.columns if not name.startswith("_")]

    def schema(self, names: list[str] | None = None) -> StructType:
        return StructType([StructField(name, spark_type(self.columns[name])) for name in names or self.columns])

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
    meta = {**node.get("meta", {}), **node.get("config", {}).get("meta", {})}
    columns = {column: spec["data_type"] for column, spec in node["columns"].items()}
    if "payload_of" in meta:
        payload = bronze_table(meta["payload_of"])
        columns = {**{column: payload.columns[column] for column in payload.data_columns}, **columns}
    schema = raw_schema or project_var("raw_schema")
    return BronzeTable(name, f"{schema}.{name}", columns, tuple(meta.get("partitioned_by", ())))


def csv_schema(kind: str) -> StructType:
    """The explicit schema of a kind's CSV: the columns of its bronze table before the metadata."""
    table = bronze_table(kind)
    return table.schema(table.data_columns)
