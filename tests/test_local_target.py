"""The `local` target as the README runs it: `dbt build` from the root of a throwaway copy of the project with
nothing set, its state in the copy's own `.lakehouse` (see `default_project`); and a state folder Spark could not
work in, refused in one line before a JVM starts."""

import os
import subprocess
import sys

import pytest

from lakehouse.jars import class_archive
from lakehouse.ml.features import features_table
from tests.conftest import venv_command

# What a Spark process leaves in its working folder when a path reaches it relative.
STRAYS = {"metastore_db", "derby.log", "spark-warehouse", "warehouse", "tmp", "eventlog"}


def test_the_default_build_keeps_every_file_in_the_project_s_state_folder(default_project, local_fingerprint):
    rows, _ = local_fingerprint
    assert rows > 0
    schema, table = features_table().split(".")
    assert (default_project.home / "warehouse" / f"{schema}.db" / table / "_delta_log").is_dir()
    assert (default_project.home / "metastore_db").is_dir()
    assert not STRAYS & {path.name for path in default_project.root.iterdir()}


# A Spark session as every entry point starts it, told by -Xshare:on to refuse to start without its class archive.
WITH_CLASS_ARCHIVE_OR_NOT_AT_ALL = """
from lakehouse.spark import spark_conf, start_session
conf = spark_conf()
conf["spark.driver.extraJavaOptions"] += " -Xshare:on"
print(start_session(conf, "class-archive-check", metastore=True).sql("show schemas").count())
"""


def test_a_spark_jvm_starts_from_the_class_archive_that_lakehouse_jars_wrote(default_project):
    assert (default_project.home / "jars" / class_archive().name).is_file()
    started = default_project.run(sys.executable, "-c", WITH_CLASS_ARCHIVE_OR_NOT_AT_ALL)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder no one can write to: a read-only tmpfs for root (whom permissions do not stop), else mode 0o500."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.fail(f"mounting a read-only tmpfs failed: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=True)


@pytest.fixture(params=["a file", "read-only", "a space"])
def unusable_home(request, tmp_path):
    if request.param == "a file":
        home = tmp_path / "state"
        home.write_text("not a folder\n")
        return (
            home,
            f"error: the state folder {home} is a file: set LAKEHOUSE_HOME to a folder you can write to, "
            "or move the file away",
        )
    if request.param == "read-only":
        home = request.getfixturevalue("read_only_folder") / "state"
        return home, (
            f"error: the state folder {home} cannot be written (Read-only file system): "
            "set LAKEHOUSE_HOME to a folder you can write to"
        )
    home = tmp_path / "my state"
    return home, (
        f"error: the state folder {home} has a space in its path, which Spark cannot pass on: "
        "set LAKEHOUSE_HOME to a folder you can write to, with no space in its path"
    )


def test_an_unusable_state_folder_is_refused_in_one_line_before_spark_starts(default_project, unusable_home):
    home, line = unusable_home
    if "Read-only" in line and os.geteuid() != 0:
        line = line.replace("Read-only file system", "Permission denied")
    env = {"LAKEHOUSE_HOME": str(home)}
    summary = default_project.run(venv_command("lakehouse"), "summary", env=env, timeout=120)
    assert (summary.returncode, summary.stderr.strip()) == (1, line)
    train = default_project.run(sys.executable, "ml/train.py", env=env, timeout=120)
    assert (train.returncode, train.stderr.strip()) == (1, line)
    dbt = default_project.run(venv_command("dbt"), "build", env=env, timeout=300)
    assert dbt.returncode != 0
    assert line.removeprefix("error: ") in dbt.stdout
    for output in (summary.stdout + summary.stderr, train.stdout + train.stderr, dbt.stdout + dbt.stderr):
        assert "Setting Spark log level" not in output and "Traceback" not in output
