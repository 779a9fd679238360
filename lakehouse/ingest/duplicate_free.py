"""A bronze table's proof that it holds each natural key once, so that staging can skip its deduplication.

Staging keeps one row per flight and per observation by ranking the rows of each key: a shuffle and sort of
every row, which at 100M flights is minutes of work that a load without duplicates does not need. The
loaders know: `lakehouse ingest` checks the table after each load, and `lakehouse scale` writes copies of a
table it has checked (copies of a duplicate-free year are duplicate-free: each copy has its own flight
numbers and dates). Either records the Delta version it vouches for in the table property below.
`macros/has_no_duplicate_loads.sql` trusts it only while no later commit has changed the table's data; any
append, overwrite or merge after it (another load, a stream) brings the deduplication back. The staging
models' unique tests run either way.
"""

from pyspark.sql import SparkSession

from lakehouse.ingest.bronze_tables import NATURAL_KEYS

PROPERTY = "lakehouse.duplicate_free_version"


def has_duplicates(spark: SparkSession, table: str, kind: str, version: int) -> bool:
    """Whether any natural key of a `kind` table (flights, weather) occurs twice at this Delta version."""
    key = ", ".join(NATURAL_KEYS[kind])
    repeated = spark.sql(
        f"select 1 from {table} version as of {version} group by {key} having count(*) > 1 limit 1"
    ).collect()
    return bool(repeated)


def record(spark: SparkSession, table: str, version: int | None) -> None:
    """Vouch for the table at this version, or (None) withdraw any earlier promise."""
    if version is None:
        spark.sql(f"alter table {table} unset tblproperties if exists ('{PROPERTY}')")
    else:
        spark.sql(f"alter table {table} set tblproperties ('{PROPERTY}' = '{version}')")
