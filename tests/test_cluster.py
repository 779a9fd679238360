"""The `cluster` target: a standalone master and worker from `lakehouse cluster`, driven by dbt and ml/, in a
throwaway copy of the project at the default settings (see `default_project`): the relative `.lakehouse` that
executors once resolved against their own working folders."""

import json
import sys
import urllib.request

import pytest

from tests.conftest import MODELS_AND_SEEDS, TRAINED_ARGS, features_fingerprint, running, venv_command

TRAIN = [sys.executable, "ml/train.py", *TRAINED_ARGS]


def saved_test_metrics(project, version: int) -> dict[str, float]:
    path = project.home / "models" / "flight_delay" / f"v{version}" / "metadata.json"
    metrics = json.loads(path.read_text())["test_metrics"]
    return {f"{model} {name}": value for model, values in metrics.items() for name, value in values.items()}


def applications(project) -> list[str]:
    url = f"http://127.0.0.1:{project.env['LAKEHOUSE_MASTER_WEBUI_PORT']}/json/"
    with urllib.request.urlopen(url, timeout=10) as response:
        return [app["name"] for app in json.load(response)["completedapps"]]


@pytest.fixture(scope="module")
def cluster(default_project):
    with running("cluster", default_project):
        yield default_project


def test_cluster_target_builds_the_same_features_and_trains_the_same_model(cluster, local_fingerprint):
    on_cluster = {"DBT_TARGET": "cluster"}
    built = cluster.run(venv_command("dbt"), "build", "--full-refresh", *MODELS_AND_SEEDS, env=on_cluster)
    assert built.returncode == 0, built.stdout[-3000:]
    assert "Completed successfully" in built.stdout
    # Read back in a local session (no application, no executors to start): the same Delta table, the same folder.
    assert features_fingerprint(cluster) == local_fingerprint

    # A relative LAKEHOUSE_HOME through a symlink: the same folder, which the executors must find as well.
    (cluster.root / "state").symlink_to(cluster.home, target_is_directory=True)
    trained = cluster.run(*TRAIN, env={**on_cluster, "LAKEHOUSE_HOME": "state"})
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "ml-train" in applications(cluster), "training did not run on the cluster"

    on_this_machine = cluster.run(*TRAIN, env={"DBT_TARGET": "local"})
    assert on_this_machine.returncode == 0, on_this_machine.stderr[-3000:]
    assert saved_test_metrics(cluster, 1) == pytest.approx(saved_test_metrics(cluster, 2), rel=1e-9)
