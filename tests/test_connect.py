"""The `connect` target: dbt-spark's session method, as a Spark Connect client of `lakehouse connect`, in a
throwaway copy of the project at the default settings (see `default_project`)."""

import pytest
from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

from lakehouse.ml.features import features_table
from lakehouse.summary import fingerprint_query
from tests.conftest import MODELS_AND_SEEDS, running, venv_command

LAKEHOUSE = venv_command("lakehouse")


@pytest.fixture(scope="module")
def connect(default_project, local_fingerprint):
    """The server, started once the local reference is taken: it takes the metastore from every local session."""
    with running("connect", default_project):
        yield default_project


def test_connect_target_builds_the_same_features_as_the_local_target(connect, local_fingerprint):
    built = connect.run(venv_command("dbt"), "build", "--target", "connect", "--full-refresh", *MODELS_AND_SEEDS)
    assert built.returncode == 0, built.stdout[-3000:]
    assert "Failed to set" not in built.stdout + built.stderr  # the plugin quiets the client's per-query warning

    remote = RemoteSparkSession.builder.remote(f"sc://127.0.0.1:{connect.env['LAKEHOUSE_CONNECT_PORT']}").create()
    try:
        assert tuple(remote.sql(fingerprint_query(features_table())).first()) == local_fingerprint
        assert remote.sql(f"describe detail {features_table()}").first()["format"] == "delta"
    finally:
        remote.stop()


def test_stop_is_idempotent(default_project):
    with running("connect", default_project):
        pass
    stopped_again = default_project.run(LAKEHOUSE, "connect", "stop")
    assert stopped_again.returncode == 0 and "not running" in stopped_again.stdout
    status = default_project.run(LAKEHOUSE, "connect", "status")
    assert status.returncode == 3 and "not running" in status.stdout
