"""The features' staging, weather join and 2-hour origin history in plain pandas (and numpy), for the benchmark.

    python -m benchmarks.pandas_features INPUT_DIR OUTPUT.parquet

The same semantics as the dbt models (see benchmarks/contract.py for the files), written as a pandas user
would, with three things pandas needs help with:

- Timestamps are `datetime64[s]`: pandas' default nanoseconds end in the year 2262, and the copies of the
  2013 year from about 250 on are past it. Every timedelta is cast to seconds too, or adding it would turn
  the instant back into nanoseconds (and overflow).
- New York wall-clock time to an instant goes through `zoneinfo`, as Spark's java.time does: pandas 2 resolves
  the string 'America/New_York' to pytz, whose rules stop in 2037 (later summers come out in standard time),
  and `tz_localize` with a ZoneInfo asks Python for every row (about 20 µs each). Clocks change on the hour, so
  one offset per distinct wall-clock hour, looked up once, is exact. Python's fold=0 resolves the skipped and
  the repeated hour the way java.time does: a skipped 02:30 is 03:30 daylight time, a repeated 01:30 is the
  first (daylight) one.
- The 2-hour window is two binary searches per flight in its origin's departures sorted by actual departure
  time, with prefix sums for the count, the delay total and the delayed count: a range join in O(n log n) and
  linear memory.
"""

import hashlib
import time
import zoneinfo
from datetime import UTC

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.contract import (
    COLUMNS,
    DELAY_THRESHOLD_MINUTES,
    ORIGIN_HISTORY_HOURS,
    PREDICTION_LEAD_MINUTES,
    SOURCE_TIMEZONE,
    WEATHER_COLUMNS,
    parse_args,
)

ZONE = zoneinfo.ZoneInfo(SOURCE_TIMEZONE)
SECOND = np.timedelta64(1, "s")
STRING = pd.StringDtype("pyarrow")
PANDAS_TYPES = {
    pa.string(): STRING,
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
}
KEY_CHUNK_ROWS = 1_000_000
FLIGHT_COLUMNS = [
    "year",
    "month",
    "day",
    "dep_time",
    "sched_dep_time",
    "dep_delay",
    "carrier",
    "flight",
    "origin",
    "dest",
    "distance",
    "_batch_id",
    "_loaded_at",
]
WEATHER_SOURCE_COLUMNS = {
    "origin": "airport_code",
    "temp": "temperature_f",
    "dewp": "dewpoint_f",
    "humid": "relative_humidity",
    "wind_dir": "wind_direction_degrees",
    "wind_speed": "wind_speed_mph",
    "wind_gust": "wind_gust_mph",
    "precip": "precipitation_inches",
    "pressure": "pressure_millibars",
    "visib": "visibility_miles",
    "time_hour": "observed_at",
    "_batch_id": "batch_id",
    "_loaded_at": "loaded_at",
}


def read_table(input_dir, table: str, columns: list[str]) -> pd.DataFrame:
    """A scaled bronze table: nullable integers and floats, Arrow-backed strings (pandas 3's default: a third of
    the memory of Python string objects), instants as naive UTC seconds."""
    return naive_seconds(pq.read_table(input_dir / table, columns=columns).to_pandas(types_mapper=PANDAS_TYPES.get))


def naive_seconds(frame: pd.DataFrame) -> pd.DataFrame:
    """Every UTC instant of the frame as a naive datetime64[s]."""
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert(None).astype("datetime64[s]")
    return frame


def minutes(values: pd.Series) -> pd.Series:
    return pd.to_timedelta(values.astype("float64"), unit="min").astype("timedelta64[s]")


def per_distinct_hour(instants: pd.Series, offset_of) -> np.ndarray:
    """offset_of(hour) in seconds for the hour of each instant (NaT gives 0), computed once per distinct hour."""
    codes, hours = pd.factorize(instants.dt.floor("h"))
    offsets = np.array([offset_of(hour) for hour in hours.to_pydatetime()] + [0], dtype="int64")
    return offsets[codes]  # code -1 (NaT) picks the trailing 0


def wall_clock_to_instant(wall_clock: pd.Series) -> pd.Series:
    offsets = per_distinct_hour(wall_clock, lambda hour: ZONE.utcoffset(hour).total_seconds())
    return wall_clock - offsets * SECOND


def local_hour(instants: pd.Series) -> pd.Series:
    offsets = per_distinct_hour(
        instants, lambda hour: hour.replace(tzinfo=UTC).astimezone(ZONE).utcoffset().total_seconds()
    )
    return (instants + offsets * SECOND).dt.hour


def make_date(year: pd.Series, month: pd.Series, day: pd.Series) -> pd.Series:
    """Dates as datetime64[s] midnights, built in numpy (pd.to_datetime on parts would be nanoseconds). Bronze
    holds real dates only (ingest quarantines the rest), so there is no 30 February to turn into null."""
    months = ((year.to_numpy("int64") - 1970) * 12 + month.to_numpy("int64") - 1).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + (day.to_numpy("int64") - 1).astype("timedelta64[D]")
    return pd.Series(days.astype("datetime64[s]"), index=year.index)


def hhmm_to_instant(date: pd.Series, hhmm: pd.Series) -> pd.Series:
    """macros/hhmm_to_timestamp.sql: HHMM on a date as New York wall-clock time; 2400 is the next midnight."""
    valid = (hhmm.between(0, 2400) & (hhmm % 100 < 60)).fillna(False)
    hhmm = hhmm.where(valid)
    wall_clock = date + minutes(hhmm // 100 * 60 + hhmm % 100)
    return wall_clock_to_instant(wall_clock)


def surrogate_key(*parts: pd.Series) -> pd.Series:
    """macros/surrogate_key.sql: the first 64 bits of the md5 of the parts as strings ('<null>' for null, joined
    by '|'), as a signed integer. pandas has no vectorised md5: Python hashes each row, a chunk at a time, so
    that its string objects stay few."""
    texts = [part.astype(STRING).fillna("<null>") for part in parts]
    chunks = [np.array([], dtype=np.int64)]
    for start in range(0, len(texts[0]), KEY_CHUNK_ROWS):
        rows = zip(*[text.iloc[start : start + KEY_CHUNK_ROWS].to_numpy(dtype=object) for text in texts], strict=True)
        digests = [int.from_bytes(hashlib.md5("|".join(row).encode()).digest()[:8], "big") for row in rows]
        chunks.append(np.array(digests, dtype=np.uint64).view(np.int64))
    return pd.Series(np.concatenate(chunks), index=parts[0].index, dtype=pd.Int64Dtype())


def keep_latest_load(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Staging's deduplication: of rows with the same key, the latest load (then the smallest batch id)."""
    repeated = frame[frame.duplicated(key, keep=False)]
    if repeated.empty:
        return frame
    ranked = repeated.sort_values(["loaded_at", "batch_id"], ascending=[False, True], kind="stable")
    return frame.drop(ranked.index[ranked.duplicated(key)])


def stage_flights(source: pd.DataFrame) -> pd.DataFrame:
    """models/staging/nycflights/stg_nycflights__flights.sql, the columns the features need."""
    return latest_flights(stage_flight_rows(source))


def latest_flights(flights: pd.DataFrame) -> pd.DataFrame:
    """Staged flights, one row per flight_id, without the load metadata."""
    return keep_latest_load(flights, ["flight_id"]).drop(columns=["batch_id", "loaded_at"])


def stage_flight_rows(source: pd.DataFrame) -> pd.DataFrame:
    """Staging row by row: every column but the deduplication."""
    flight_date = make_date(source["year"], source["month"], source["day"])
    flights = pd.DataFrame(
        {
            "carrier_code": source["carrier"],
            "flight_number": source["flight"].astype(STRING),
            "origin_airport_code": source["origin"],
            "destination_airport_code": source["dest"],
            "route_code": source["origin"] + "-" + source["dest"],
            "departure_delay_minutes": source["dep_delay"],
            "distance_miles": source["distance"],
            "is_cancelled": source["dep_time"].isna(),
            "flight_date": flight_date,
            "scheduled_departure_at": hhmm_to_instant(flight_date, source["sched_dep_time"]),
            "batch_id": source["_batch_id"],
            "loaded_at": source["_loaded_at"],
        }
    )
    flights["actual_departure_at"] = flights["scheduled_departure_at"] + minutes(flights["departure_delay_minutes"])
    unix_seconds = ((flights["scheduled_departure_at"] - np.datetime64(0, "s")) // SECOND).astype("Int64")
    # An unreadable scheduled time keeps the date in the key, as in staging.
    when, unreadable = unix_seconds.astype(STRING), unix_seconds.isna()
    when[unreadable] = flights.loc[unreadable, "flight_date"].dt.strftime("%Y-%m-%d")
    flights.insert(
        0,
        "flight_id",
        surrogate_key(flights["carrier_code"], flights["flight_number"], flights["origin_airport_code"], when),
    )
    return flights


def stage_weather(source: pd.DataFrame) -> pd.DataFrame:
    """models/staging/nycflights/stg_nycflights__weather.sql."""
    weather = source.rename(columns=WEATHER_SOURCE_COLUMNS)
    return keep_latest_load(weather, ["airport_code", "observed_at"]).drop(columns=["batch_id", "loaded_at"])


def join_weather(flights: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    """int_flights_joined_weather: the instant the features are taken at (the scheduled departure less the lead)
    and the origin's observation in its hour (New York's offsets are whole hours, so the hour truncated in UTC is
    the hour truncated on New York clocks)."""
    as_of = flights["scheduled_departure_at"] - np.timedelta64(PREDICTION_LEAD_MINUTES * 60, "s")
    hour = as_of.dt.floor("h").rename("observed_at")
    return (
        flights.assign(features_as_of_at=as_of)
        .join(hour)
        .merge(
            weather,
            how="left",
            left_on=["origin_airport_code", "observed_at"],
            right_on=["airport_code", "observed_at"],
        )
    )


def origin_history(flights: pd.DataFrame) -> pd.DataFrame:
    """int_flights_prior_origin_departures: per flight, the departures from its origin that actually left in the
    window [as of - 2 h, as of), itself excluded: count, mean delay, share delayed."""
    window = np.timedelta64(ORIGIN_HISTORY_HOURS * 3600, "s")
    count = np.zeros(len(flights), dtype="int64")
    delay_total = np.zeros(len(flights), dtype="int64")
    delayed = np.zeros(len(flights), dtype="int64")
    for rows in flights.groupby("origin_airport_code", sort=False).indices.values():
        group = flights.iloc[rows]
        departed = group[group["actual_departure_at"].notna()].sort_values("actual_departure_at")
        left_at = departed["actual_departure_at"].to_numpy("datetime64[s]")
        delays = departed["departure_delay_minutes"].to_numpy("int64")
        delay_sums = np.concatenate([[0], np.cumsum(delays)])
        delayed_sums = np.concatenate([[0], np.cumsum(delays > DELAY_THRESHOLD_MINUTES)])

        as_of = group["features_as_of_at"].to_numpy("datetime64[s]")
        has_schedule = ~np.isnat(as_of)
        first = np.searchsorted(left_at, as_of - window, side="left")
        last = np.searchsorted(left_at, as_of, side="left")  # departures strictly before the as-of time
        first, last = np.where(has_schedule, first, 0), np.where(has_schedule, last, 0)

        # A flight that left early lies in its own window: take it back out.
        own_left_at = group["actual_departure_at"].to_numpy("datetime64[s]")
        own_delay = group["departure_delay_minutes"].fillna(0).to_numpy("int64")
        is_own = has_schedule & ~np.isnat(own_left_at) & (own_left_at >= as_of - window) & (own_left_at < as_of)

        count[rows] = last - first - is_own
        delay_total[rows] = delay_sums[last] - delay_sums[first] - np.where(is_own, own_delay, 0)
        delayed[rows] = delayed_sums[last] - delayed_sums[first] - (is_own & (own_delay > DELAY_THRESHOLD_MINUTES))

    with np.errstate(invalid="ignore", divide="ignore"):
        mean_delay = np.where(count > 0, delay_total / count, np.nan)
        delayed_share = np.where(count > 0, delayed / count, np.nan)
    return pd.DataFrame(
        {
            "origin_prior_departure_count": count,
            "origin_prior_mean_delay_minutes": mean_delay,
            "origin_prior_delayed_share": delayed_share,
        },
        index=flights.index,
    )


def features(flights: pd.DataFrame) -> pd.DataFrame:
    """flight_features' columns that staging, the weather join and the origin history give, departed flights."""
    departed_rows = ~flights["is_cancelled"]
    departed = flights.loc[departed_rows, [column for column in COLUMNS if column in flights.columns]]
    departed["month_of_year"] = departed["flight_date"].dt.month
    departed["day_of_week"] = (departed["flight_date"].dt.dayofweek + 1) % 7 + 1  # Spark's: Sunday is 1
    departed["scheduled_hour"] = local_hour(departed["scheduled_departure_at"])
    departed["is_delayed"] = flights.loc[departed_rows, "departure_delay_minutes"] > DELAY_THRESHOLD_MINUTES
    return departed[COLUMNS]


def flight_features(flights: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    """Staged flights and weather to the features: the weather join, the origin window, the departed flights."""
    flights = join_weather(flights, weather[["airport_code", "observed_at", *WEATHER_COLUMNS]])
    for column, values in origin_history(flights).items():
        flights[column] = values
    return features(flights)


def write_parquet(frame: pd.DataFrame, path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(
        table.schema.get_field_index("flight_date"), "flight_date", table["flight_date"].cast(pa.date32())
    )
    for column in ("scheduled_departure_at", "features_as_of_at"):
        instants = table[column].cast(pa.timestamp("s", tz="UTC"))
        table = table.set_column(table.schema.get_field_index(column), column, instants)
    pq.write_table(table, path)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    started = time.monotonic()
    flights = stage_flights(read_table(args.input_dir, "flights", FLIGHT_COLUMNS))
    weather = stage_weather(read_table(args.input_dir, "weather", list(WEATHER_SOURCE_COLUMNS)))
    output = flight_features(flights, weather)
    write_parquet(output, args.output)
    print(f"pandas: {len(output):,} flights -> {args.output} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
