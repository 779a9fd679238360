"""The features' staging, weather join and 2-hour origin history in Dask, for the benchmark.

    python -m benchmarks.dask_features INPUT_DIR OUTPUT.parquet

The pandas baseline's logic (benchmarks/pandas_features.py), run the way a Dask user would: dask.dataframe over
the same Parquet export, on the distributed scheduler's LocalCluster with one single-threaded worker process per
core (the flight key hashes in Python, which holds the GIL, so threads would take turns) and a memory limit per
worker, beyond which Dask spills to its scratch folder under the state folder and then pauses the worker.

- Staging is row by row, so each input partition is staged where it is read (`map_partitions`).
- The weather is small (26,000 rows a copy): it is staged once in pandas and joined to every partition.
- The origin window needs every departure from the same airport, so the flights are shuffled by origin (the
  flight key includes the origin, so the deduplication happens in the same partitions); each origin is then
  the pandas baseline's work on one worker: deduplication, weather join, window, departed flights.
- The output is one Parquet dataset (a folder, one file per partition), with the types the pandas baseline writes.
"""

import time
from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd
import psutil
import pyarrow as pa
from dask.distributed import Client, LocalCluster

from benchmarks.contract import parse_args
from benchmarks.pandas_features import (
    FLIGHT_COLUMNS,
    WEATHER_SOURCE_COLUMNS,
    flight_features,
    latest_flights,
    naive_seconds,
    read_table,
    stage_flight_rows,
    stage_weather,
)
from lakehouse.paths import scratch_dir

WORKERS = psutil.cpu_count(logical=True) or 1
# Two fifths of the machine's memory per worker (2 workers: 19 GB of 24), under the benchmark's 20 GB limit.
MEMORY_PER_WORKER = int(psutil.virtual_memory().total * 0.4)
OUTPUT_TYPES = {
    "flight_date": pd.ArrowDtype(pa.date32()),
    "scheduled_departure_at": pd.ArrowDtype(pa.timestamp("s", "UTC")),
    "features_as_of_at": pd.ArrowDtype(pa.timestamp("s", "UTC")),
}


def read_parquet(input_dir: Path, table: str, columns) -> dd.DataFrame:
    return dd.read_parquet(input_dir / table, columns=list(columns), dtype_backend="numpy_nullable")


def read_weather(input_dir: Path) -> pd.DataFrame:
    return stage_weather(read_table(input_dir, "weather", list(WEATHER_SOURCE_COLUMNS)))


def staged(partition: pd.DataFrame) -> pd.DataFrame:
    return stage_flight_rows(naive_seconds(partition))


def origin_features(flights: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    """The features of every origin in one shuffled partition (an origin is never split across two)."""
    flights = latest_flights(flights.reset_index(drop=True))
    return flight_features(flights, weather).astype(OUTPUT_TYPES)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    started = time.monotonic()
    cluster = LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=1,
        memory_limit=MEMORY_PER_WORKER,
        local_directory=scratch_dir() / "dask",
        dashboard_address=None,
    )
    with cluster, Client(cluster):
        source = read_parquet(args.input_dir, "flights", FLIGHT_COLUMNS)
        flights = source.map_partitions(staged, meta=staged(source._meta))
        by_origin = flights.shuffle("origin_airport_code")
        # Read and staged once, by a worker, and handed to every partition's task.
        weather = dask.delayed(read_weather)(args.input_dir)
        weather_meta = stage_weather(
            naive_seconds(read_parquet(args.input_dir, "weather", WEATHER_SOURCE_COLUMNS)._meta)
        )
        output = by_origin.map_partitions(origin_features, weather, meta=origin_features(flights._meta, weather_meta))
        output.to_parquet(args.output, write_index=False, overwrite=True)
        rows = len(dd.read_parquet(args.output))
    print(f"dask: {rows:,} flights -> {args.output} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
