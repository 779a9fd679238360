"""The `connect` target: dbt-spark's session method, as a Spark Connect client of `lakehouse connect`."""

import pytest
from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

from lakehouse.ml.features import features_table
from lakehouse.summary import fingerprint_query
from tests.conftest import MODELS_AND_SEEDS, dbt_command, run_child, running, venv_command


@pytest.fixture(scope="module")
def connect(server_env):
    with running("connect", server_env):
        yield server_env


def test_connect_target_builds_the_same_features_as_the_local_target(connect, local_fingerprint, tmp_path):
    built = run_child(dbt_command("build", "--target", "connect", *MODELS_AND_SEEDS, artifacts=tmp_path), connect)
    assert built.returncode == 0, built.stdout[-3000:]
    assert "Failed to set" not in built.stdout + built.stderr  # the plugin quiets the client's per-query warning

    remote = RemoteSparkSession.builder.remote(f"sc://127.0.0.1:{connect['LAKEHOUSE_CONNECT_PORT']}").create()
    try:
        assert tuple(remote.sql(fingerprint_query(features_table())).first()) == local_fingerprint
        assert remote.sql(f"describe detail {features_table()}").first()["format"] == "delta"
    finally:
        remote.stop()


def test_stop_is_idempotent(server_env):
    with running("connect", server_env):
        pass
    stopped_again = run_child([venv_command("lakehouse"), "connect", "stop"], server_env)
    assert stopped_again.returncode == 0 and "not running" in stopped_again.stdout
    status = run_child([venv_command("lakehouse"), "connect", "status"], server_env)
    assert status.returncode == 3 and "not running" in status.stdout
