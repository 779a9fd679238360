"""What the dbt project says, read by the Python side instead of copied: its vars (dbt_project.yml), and from
its manifest (`dbt parse`) the relation of every model and source, and the columns of a model with their meta.

The manifest comes from an in-process `dbt parse` with the same `--vars` (no Spark, no connection), cached
under the state folder and keyed on the project's files, the vars and dbt's version: the first call after a
change costs a parse, every later one reads a JSON file. DBT_PROJECT_DIR, which dbt reads too, points both at
another copy of the project.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path

import yaml

from lakehouse.errors import LakehouseError
from lakehouse.paths import PROJECT_ROOT, manifest_cache_dir

# The model ml/ learns from and the benchmark checks against.
FEATURES_MODEL = "flight_features"
# What a flight_features column can be to the model (its meta `role` in the yml): the roles exactly one column
# has, then the others.
SINGLE_ROLES = ("key", "label", "split_time", "scheduled_time", "as_of")
ROLES = (*SINGLE_ROLES, "categorical", "numeric", "unused")
# The folders and files that a parse reads (dbt_project.yml's paths) besides dbt_project.yml itself.
PARSED_PATHS = ("model-paths", "seed-paths", "macro-paths", "test-paths")


def project_dir() -> Path:
    return Path(os.environ.get("DBT_PROJECT_DIR") or PROJECT_ROOT)


def _project() -> dict:
    with (project_dir() / "dbt_project.yml").open() as project_file:
        return yaml.safe_load(project_file)


def project_var(name: str) -> str:
    return _project()["vars"][name]


def project_vars() -> dict:
    return dict(_project()["vars"])


def project_name() -> str:
    return _project()["name"]


def _parse_inputs() -> list[Path]:
    project = _project()
    roots = [project_dir() / folder for key in PARSED_PATHS for folder in project.get(key, [])]
    files = [project_dir() / "dbt_project.yml", PROJECT_ROOT / "profiles.yml"]
    return files + sorted(path for root in roots if root.is_dir() for path in root.rglob("*") if path.is_file())


def _cache_key(vars_json: str) -> str:
    digest = hashlib.sha256(f"{package_version('dbt-core')}\n{vars_json}\n".encode())
    for path in _parse_inputs():
        digest.update(f"{path.relative_to(project_dir()) if path.is_relative_to(project_dir()) else path}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def manifest(copies: int | None = None, **dbt_vars) -> dict:
    """target/manifest.json of `dbt parse --vars '{copies: K, ...}'` (copies unset: the year), from the cache when
    the project has not changed since."""
    vars_json = json.dumps({**({"copies": copies} if copies else {}), **dbt_vars}, sort_keys=True)
    return _manifest(str(project_dir()), vars_json, _cache_key(vars_json))


@cache
def _manifest(project: str, vars_json: str, key: str) -> dict:
    cached = manifest_cache_dir() / key / "manifest.json"
    if not cached.exists():
        _parse(Path(project), vars_json, cached.parent)
    return json.loads(cached.read_text())


def _parse(project: Path, vars_json: str, target: Path) -> None:
    from dbt.cli.main import dbtRunner

    argv = ["parse", "--project-dir", str(project), "--profiles-dir", str(PROJECT_ROOT), "--quiet"]
    argv += ["--target-path", str(target), "--log-path", str(target / "logs"), "--vars", vars_json]
    result = dbtRunner().invoke(argv)
    if not result.success:
        raise LakehouseError(f"`dbt parse` of {project} failed: {result.exception}; run `dbt parse` to see why")


def _node(manifest_: dict, resource: str, name: str) -> dict:
    project = manifest_["metadata"]["project_name"]
    key = f"{resource}.{project}.{name}"
    found = manifest_["nodes" if resource != "source" else "sources"].get(key)
    if found is None:
        raise LakehouseError(f"the dbt project has no {resource} {name}: run `dbt parse` and check its name")
    return found


def model_relation(model: str, copies: int | None = None) -> str:
    """schema.table of a model as dbt builds it with these vars (its schema rule applied)."""
    return _node(manifest(copies), "model", model)["relation_name"]


def model_checksum(model: str, copies: int | None = None) -> str:
    """dbt's checksum of the model's SQL file: which version of the model a table was built by."""
    return _node(manifest(copies), "model", model)["checksum"]["checksum"]


def source_relation(source: str, table: str, copies: int | None = None, **dbt_vars) -> str:
    """schema.table of a source as the models read it with these vars."""
    return _node(manifest(copies, **dbt_vars), "source", f"{source}.{table}")["relation_name"]


def source_columns(source: str, table: str, copies: int | None = None) -> dict[str, str]:
    """A source table's declared columns and their data_type, in yml order (for a table Python writes)."""
    columns = _node(manifest(copies), "source", f"{source}.{table}")["columns"]
    return {name: column["data_type"] for name, column in columns.items()}


def model_columns(model: str) -> dict[str, dict]:
    """A model's documented columns in yml order, each with its description and meta."""
    return _node(manifest(), "model", model)["columns"]


def node_meta(entry: dict) -> dict:
    """A manifest node's or column's meta: the yml may put it at the top level or under config."""
    return {**entry.get("meta", {}), **entry.get("config", {}).get("meta", {})}


def column_meta(model: str) -> dict[str, dict]:
    """Each documented column's meta, in yml order."""
    return {name: node_meta(column) for name, column in model_columns(model).items()}


def columns_from(model: str, *origins: str) -> list[str]:
    """A model's columns whose meta `from` is one of these (for flight_features: staging, weather, ...)."""
    return [name for name, meta in column_meta(model).items() if meta.get("from") in origins]


# What the model reads for a null categorical (ml/ in Spark, the scoring service in ONNX): a category of its own.
UNKNOWN_CATEGORY = "unknown"


@dataclass(frozen=True)
class FeatureRoles:
    """flight_features' columns by what the model does with them, in the yml's order."""

    key: str
    label: str
    split_time: str
    scheduled_time: str  # the flight's scheduled departure
    as_of: str  # the instant its features were taken at: scheduled_time less the prediction lead
    categorical: list[str]
    numeric: list[str]
    zero_when_null: list[str]  # numerics whose null means "none yet" (0), not "unknown" (the median)
    tried: list[str]  # unused numerics the feature ablation tried and left out (meta tried_as: numeric)

    @property
    def numeric_inputs(self) -> list[str]:
        """The numerics as model_input() passes them to the pipeline's Imputer, which writes the plain names."""
        return [f"{name}_value" for name in self.numeric]

    def as_metadata(self) -> dict:
        return asdict(self)

    def with_tried(self, names: list[str] | None = None) -> "FeatureRoles":
        """The same roles with these tried features (default: all of them) back among the numerics."""
        back = self.tried if names is None else names
        return replace(self, numeric=self.numeric + back, tried=[name for name in self.tried if name not in back])

    def without(self, names: list[str]) -> "FeatureRoles":
        """The same roles with these features left out (an ablation)."""
        return replace(
            self,
            categorical=[name for name in self.categorical if name not in names],
            numeric=[name for name in self.numeric if name not in names],
        )


def feature_roles() -> FeatureRoles:
    by_role: dict[str, list[str]] = {role: [] for role in ROLES}
    zero_when_null, tried = [], []
    for name, meta in column_meta(FEATURES_MODEL).items():
        if meta.get("role") not in ROLES:
            raise LakehouseError(
                f"{FEATURES_MODEL}.{name} has no meta role in its yml: give it one of {', '.join(ROLES)}"
            )
        by_role[meta["role"]].append(name)
        if meta.get("when_null") == 0:
            zero_when_null.append(name)
        if meta["role"] == "unused" and meta.get("tried_as") == "numeric":
            tried.append(name)
    for role in SINGLE_ROLES:
        if len(by_role[role]) != 1:
            raise LakehouseError(
                f"{FEATURES_MODEL} needs exactly one column with meta role {role}, not {by_role[role]}"
            )
    return FeatureRoles(
        **{role: by_role[role][0] for role in SINGLE_ROLES},
        categorical=by_role["categorical"],
        numeric=by_role["numeric"],
        zero_when_null=zero_when_null,
        tried=tried,
    )
