"""The `cluster` target: a standalone master and worker from `lakehouse cluster`, driven by dbt and ml/."""

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from lakehouse.ml.features import features_table
from tests.conftest import MODELS_AND_SEEDS, SLICE_SPLIT, dbt_command, run_child, running, venv_command

TRAIN = [sys.executable, "ml/train.py", *SLICE_SPLIT]


def features_fingerprint(env: dict[str, str]) -> tuple[int, int]:
    """flight_features' row count and checksum, from `lakehouse summary --checksums` on the given target."""
    summary = run_child([venv_command("lakehouse"), "summary", "--checksums"], env)
    assert summary.returncode == 0, summary.stderr[-3000:]
    row = next(line.split() for line in summary.stdout.splitlines() if line.startswith(features_table()))
    return int(row[2].replace(",", "")), int(row[4])


def saved_test_metrics(env: dict[str, str], version: int) -> dict[str, float]:
    path = Path(env["LAKEHOUSE_HOME"]) / "models" / "flight_delay" / f"v{version}" / "metadata.json"
    metrics = json.loads(path.read_text())["test_metrics"]
    return {f"{model} {name}": value for model, values in metrics.items() for name, value in values.items()}


def applications(env: dict[str, str]) -> list[str]:
    url = f"http://127.0.0.1:{env['LAKEHOUSE_MASTER_WEBUI_PORT']}/json/"
    with urllib.request.urlopen(url, timeout=10) as response:
        return [app["name"] for app in json.load(response)["completedapps"]]


@pytest.fixture(scope="module")
def cluster(server_env):
    with running("cluster", server_env):
        yield {**server_env, "DBT_TARGET": "cluster"}


def test_cluster_target_builds_the_same_features_and_trains_the_same_model(cluster, local_fingerprint, tmp_path):
    built = run_child(dbt_command("build", *MODELS_AND_SEEDS, artifacts=tmp_path), cluster)
    assert built.returncode == 0, built.stdout[-3000:]
    assert features_fingerprint(cluster) == local_fingerprint

    on_cluster = run_child(TRAIN, cluster)
    assert on_cluster.returncode == 0, on_cluster.stderr[-3000:]
    assert "ml-train" in applications(cluster), "training did not run on the cluster"

    on_this_machine = run_child(TRAIN, {**cluster, "DBT_TARGET": "local"})
    assert on_this_machine.returncode == 0, on_this_machine.stderr[-3000:]
    assert saved_test_metrics(cluster, 1) == pytest.approx(saved_test_metrics(cluster, 2), rel=1e-9)
