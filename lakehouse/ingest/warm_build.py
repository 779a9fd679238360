"""`lakehouse stream --build`: dbt's build run inside the stream's process, so that a landed event reaches
flight_features without a JVM start or a parse.

dbt is invoked programmatically (dbtRunner), on the Spark session this process already has (dbt-spark's session
method takes over the running session), with the project parsed once: the manifest of the first invocation is
handed to every later one. Each build is `dbt build --select +flight_features` without the seeds and unit tests,
which no event can change: what leads to the features, data tests included (with dbt's default, eager, test
selection). Only on a state folder where a table of the project is still missing is the first build the whole
`dbt build`, as the user types it: a data test of staging may also read a table off the features' path (the
relationships tests read stg_nycflights__airports). Incremental models
read what arrived since their last build (macros/arrivals.sql), so each build takes the micro-batches landed since
the one before.

dbt's artifacts go where a `dbt build` puts them (target/ and logs/, or DBT_TARGET_PATH and DBT_LOG_PATH).
"""

import time
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from lakehouse.errors import LakehouseError
from lakehouse.paths import PROJECT_ROOT

PROJECT_FLAGS = ["--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT)]
FEATURES_PATH = ["--select", "+flight_features", "--exclude", "resource_type:seed", "resource_type:unit_test"]


@dataclass
class BuildReport:
    number: int
    succeeded: bool
    seconds: float
    nodes: int
    failed: list[str]
    latencies: list[tuple[float, int]] = field(default_factory=list)  # (landing to built, lines) per file


class WarmBuild:
    """dbt's build of the project in this process: parsed once, then invoked again and again."""

    def __init__(self, spark: SparkSession, dbt_vars: str | None = None):
        from dbt.cli.main import dbtRunner

        self.catalog = spark.catalog

        self.vars = ["--vars", dbt_vars] if dbt_vars else []
        parsed = dbtRunner().invoke(["parse", "--quiet", *PROJECT_FLAGS, *self.vars])
        if not parsed.success:
            raise LakehouseError(f"dbt could not parse the project ({parsed.exception}): run `dbt parse` to see why")
        self.manifest = parsed.result
        self.runner = dbtRunner(manifest=self.manifest)
        self.builds = 0

    def __call__(self) -> BuildReport:
        # The macros keep what a run has looked up in dbt's `graph` (macros/arrivals.sql): each build starts afresh.
        self.manifest.build_flat_graph()
        selection = FEATURES_PATH if self.builds or self._project_built() else []
        self.builds += 1
        started = time.monotonic()
        result = self.runner.invoke(["build", "--quiet", *PROJECT_FLAGS, *self.vars, *selection])
        seconds = time.monotonic() - started
        if result.exception is not None:
            raise LakehouseError(f"dbt build could not run: {result.exception}")
        outcomes = result.result.results
        failed = [outcome.node.name for outcome in outcomes if outcome.status in ("error", "fail")]
        return BuildReport(self.builds, result.success, seconds, len(outcomes), failed)

    def _project_built(self) -> bool:
        """Whether every model and seed of the project has its table (or view) in the metastore."""
        return all(
            self.catalog.tableExists(f"{node.schema}.{node.alias}")
            for node in self.manifest.nodes.values()
            if node.resource_type in ("model", "seed") and node.config.materialized != "ephemeral"
        )
