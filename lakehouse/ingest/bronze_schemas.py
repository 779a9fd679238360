"""The explicit schemas of the bronze tables: the CSV reader infers nothing."""

from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType, TimestampType


def _fields(*columns: tuple[str, object]) -> StructType:
    return StructType([StructField(name, data_type, nullable=True) for name, data_type in columns])


FLIGHTS = _fields(
    ("year", IntegerType()),
    ("month", IntegerType()),
    ("day", IntegerType()),
    ("dep_time", IntegerType()),
    ("sched_dep_time", IntegerType()),
    ("dep_delay", IntegerType()),
    ("arr_time", IntegerType()),
    ("sched_arr_time", IntegerType()),
    ("arr_delay", IntegerType()),
    ("carrier", StringType()),
    ("flight", IntegerType()),
    ("tailnum", StringType()),
    ("origin", StringType()),
    ("dest", StringType()),
    ("air_time", IntegerType()),
    ("distance", IntegerType()),
    ("hour", IntegerType()),
    ("minute", IntegerType()),
    ("time_hour", TimestampType()),
)

WEATHER = _fields(
    ("origin", StringType()),
    ("year", IntegerType()),
    ("month", IntegerType()),
    ("day", IntegerType()),
    ("hour", IntegerType()),
    ("temp", DoubleType()),
    ("dewp", DoubleType()),
    ("humid", DoubleType()),
    ("wind_dir", IntegerType()),
    ("wind_speed", DoubleType()),
    ("wind_gust", DoubleType()),
    ("precip", DoubleType()),
    ("pressure", DoubleType()),
    ("visib", DoubleType()),
    ("time_hour", TimestampType()),
)

BRONZE_TABLES = {"flights": FLIGHTS, "weather": WEATHER}
# What makes a row one flight or one observation: a second row with the same key is a second load of it, which
# staging removes. The flights' is the source's own key, before staging turns date and clock into an instant.
NATURAL_KEYS = {
    "flights": ["carrier", "flight", "origin", "year", "month", "day", "sched_dep_time"],
    "weather": ["origin", "time_hour"],
}
