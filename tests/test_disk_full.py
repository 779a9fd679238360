"""A state folder on a small disk (a tmpfs of a few MB): a load that runs out of space ends in one line that names
the fix, and every bronze table is still readable, through the metastore, at its last complete version."""

import errno
import itertools
import os
import re
import shutil
import subprocess

import pytest
from deltalake import DeltaTable

from lakehouse.entry import run
from lakehouse.ingest.bronze_tables import QUARANTINE_TABLE
from lakehouse.paths import STATE_HOME_VARIABLE
from lakehouse.project import project_var
from tests.conftest import run_child, venv_command

# Room for the first load's state (metastore 4 MB, tables and Spark's scratch well under 1 MB); the filler then
# leaves LEFT_FREE, and the second load (the slice's 80,789 flights, about 3 MB of Parquet) cannot fit in it.
# The flights alone: each table loaded costs seconds of Spark and proves nothing more here.
DISK_MB = 32
LEFT_FREE = 1 << 20
FIRST_ROWS = 300
LOAD = [venv_command("lakehouse"), "ingest", "--tables", "flights", "--source-dir"]
BRONZE = ["flights", QUARANTINE_TABLE]
FIX = (
    "ran out of space, {free} MB free now: free space on it, or set LAKEHOUSE_HOME to a folder on a larger disk, "
    "and run again; the Delta tables keep their last complete version"
)
# The last line the JVM prints of its own as it starts, on every run (its log level from profiles.yml).
SPARK_BANNER_END = re.compile(r'Setting Spark log level to "\w+"\.')


def disk_full_line(home) -> re.Pattern:
    fix = re.escape(FIX).replace(re.escape("{free}"), r"[\d,]+\.\d")
    return re.compile(re.escape(f"error: the disk that holds the state folder {home} ") + fix)


def mount_small_disk(mount_point) -> None:
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount_point)]
    mounted = subprocess.run(command, capture_output=True, text=True)
    if mounted.returncode != 0:
        reason = mounted.stderr.strip()
        if os.geteuid() != 0 or re.search(r"permission denied|not permitted|superuser|only root", reason, re.I):
            pytest.skip(f"mounting a {DISK_MB} MB tmpfs is not permitted here (root with CAP_SYS_ADMIN is): {reason}")
        pytest.fail(f"`{' '.join(command)}` failed: {reason}")


def fill(disk, leave: int):
    """A file that takes all the disk's free space but `leave` bytes."""
    filler = disk / "filler"
    with filler.open("wb") as space:
        os.posix_fallocate(space.fileno(), 0, shutil.disk_usage(disk).free - leave)
    return filler


def head(source, target, rows: int) -> None:
    with source.open() as lines:
        target.write_text("".join(itertools.islice(lines, rows + 1)))


def bronze_versions(home) -> dict[str, tuple[int, int]]:
    """Each bronze table's Delta version and row count, read from its log by delta-rs (no JVM, no metastore)."""
    schema = project_var("raw_schema")
    versions = {}
    for table in BRONZE:
        delta = DeltaTable(home / "warehouse" / f"{schema}.db" / table)
        versions[f"{schema}.{table}"] = (delta.version(), delta.to_pyarrow_dataset().count_rows())
    return versions


def summary_versions(stdout: str, tables) -> dict[str, tuple[int, int]]:
    """The same, as `lakehouse summary` prints it (table, format, rows, version)."""
    rows = (line.split() for line in stdout.splitlines())
    return {row[0]: (int(row[3]), int(row[2].replace(",", ""))) for row in rows if row and row[0] in tables}


@pytest.fixture(scope="module")
def out_of_space(lakehouse_home, slice_dir, tmp_path_factory):
    """A first load that fits, then the disk filled but 1 MB and the whole slice loaded; then the filler deleted
    and `lakehouse summary` run by a fresh Spark process."""
    home = tmp_path_factory.mktemp("disk_full") / "small_disk"
    mount_small_disk(home)
    try:
        # The jars (13 MB) and dbt's parse (a cache keyed on the project's files) stay on the session's disk.
        for shared in ("jars", "manifests"):
            (lakehouse_home / shared).mkdir(exist_ok=True)
            (home / shared).symlink_to((lakehouse_home / shared).resolve(), target_is_directory=True)
        env = {
            **{key: value for key, value in os.environ.items() if key != "DBT_TARGET"},
            STATE_HOME_VARIABLE: str(home),
        }
        first = tmp_path_factory.mktemp("first_load")
        head(slice_dir / "flights.csv", first / "flights.csv", FIRST_ROWS)
        loaded = run_child([*LOAD, str(first)], env)
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        before = bronze_versions(home)

        filler = fill(home, LEFT_FREE)
        failed = run_child([*LOAD, str(slice_dir)], env)
        filler.unlink()
        summary = run_child([venv_command("lakehouse"), "summary"], env)
        yield {"home": home, "before": before, "failed": failed, "summary": summary}
    finally:
        subprocess.run(["umount", "--lazy", str(home)], check=True)  # lazy: a JVM may still be exiting


def test_a_load_that_runs_out_of_space_ends_in_one_line_naming_the_fix(out_of_space):
    failed = out_of_space["failed"]

    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert disk_full_line(out_of_space["home"]).fullmatch(failed.stderr.strip().splitlines()[-1]), failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr


def test_every_bronze_table_is_still_readable_at_its_last_complete_version(out_of_space):
    before, summary = out_of_space["before"], out_of_space["summary"]

    assert before[f"{project_var('raw_schema')}.flights"][1] == FIRST_ROWS
    assert summary.returncode == 0, summary.stderr[-3000:]
    assert summary_versions(summary.stdout, before) == before


def test_spark_prints_nothing_of_its_own_before_that_line(out_of_space):
    lines = out_of_space["failed"].stderr.strip().splitlines()
    banner_end = max((number for number, line in enumerate(lines) if SPARK_BANNER_END.fullmatch(line)), default=-1)

    assert len(lines[banner_end + 1 :]) == 1, "\n".join(lines[banner_end + 1 :][:20])


def test_python_running_out_of_space_ends_in_the_same_line(lakehouse_home, capsys):
    def command(argv):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(lakehouse_home / "manifests"))

    with pytest.raises(SystemExit) as exit_:
        run(command)

    assert exit_.value.code == 1
    assert disk_full_line(lakehouse_home).fullmatch(capsys.readouterr().err.strip())
