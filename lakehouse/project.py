"""Settings the dbt project owns and the Python side must agree with (read from dbt_project.yml)."""

import yaml

from lakehouse.paths import PROJECT_ROOT


def _project() -> dict:
    with (PROJECT_ROOT / "dbt_project.yml").open() as project_file:
        return yaml.safe_load(project_file)


def project_var(name: str) -> str:
    return _project()["vars"][name]


PROJECT_NAME = _project()["name"]


def layer_schema(layer: str, copies: int | None = None) -> str:
    """A layer's schema (raw, staging, features, ...), or its twin built on K copies of the year: the rule of
    macros/generate_schema_name.sql and of the sources' schema, for the dbt var `copies`."""
    return f"{layer}_x{copies}" if copies else layer
