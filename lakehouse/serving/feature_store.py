"""flight_features for GET /flights/{flight_id}, read without Spark: the Delta table's current snapshot (its file
list from delta-rs, the `deltalake` package) read by pyarrow, the model's columns only, held in memory by key.

The year is 330,000 flights and about 60 MB here; a K-copies table grows with K (start the service with
`--no-flights` to skip it).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as parquet
from deltalake import DeltaTable

from lakehouse.errors import TableMissingError


@dataclass(frozen=True)
class FeatureSnapshot:
    table: str
    delta_version: int
    rows: dict[int, int]  # flight_id: row position
    columns: dict[str, list]  # each model field's values, None for null

    @classmethod
    def read(cls, table: str, location: Path, key: str, fields: list[str]) -> "FeatureSnapshot":
        if not (location / "_delta_log").is_dir():
            raise TableMissingError(f"{table} has no Delta table at {location}: run `dbt build` first")
        snapshot = DeltaTable(str(location))
        if snapshot.metadata().partition_columns:
            raise TableMissingError(f"{table} is partitioned; the service reads unpartitioned feature tables only")
        data = parquet.read_table(snapshot.file_uris(), columns=[key, *fields])
        keys = data.column(key).to_numpy()
        return cls(
            table,
            snapshot.version(),
            {int(flight): position for position, flight in enumerate(keys)},
            {name: data.column(name).to_pylist() for name in fields},
        )

    def flight(self, flight_id: int) -> dict | None:
        """The flight's model fields as a request would send them, or None if the table does not have it."""
        position = self.rows.get(flight_id)
        if position is None:
            return None
        return {name: values[position] for name, values in self.columns.items()}

    def __len__(self) -> int:
        return len(self.rows)

    def sample_ids(self, count: int, seed: int = 0) -> list[int]:
        """Some flight ids, for the load test."""
        ids = np.fromiter(self.rows, dtype=np.int64)
        return np.random.default_rng(seed).choice(ids, size=min(count, len(ids)), replace=False).tolist()
