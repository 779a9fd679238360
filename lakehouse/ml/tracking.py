"""MLflow tracking in the state folder: a SQLite store and an artifact folder that `mlflow ui` can open.

Open it with:
    mlflow ui --backend-store-uri sqlite:///.lakehouse/mlflow/mlflow.db
"""

import os

# No usage telemetry from a machine that may not reach the internet.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402

from lakehouse.paths import tracking_dir  # noqa: E402

EXPERIMENT = "flight_delay"


def tracking_uri() -> str:
    return f"sqlite:///{tracking_dir() / 'mlflow.db'}"


def use_project_store() -> str:
    """Point MLflow at the project's store and experiment; returns the experiment id."""
    tracking_dir().mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(EXPERIMENT, artifact_location=(tracking_dir() / "artifacts").as_uri())
