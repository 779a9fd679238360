"""A dbt plugin that checks the embedded metastore before dbt connects to it.

Without it, a `dbt build` on a session target while a Thrift or Connect server (or another dbt run, or a
notebook) holds the embedded Derby metastore ends in Derby's stack trace. dbt-core loads plugins from modules
named `dbt_*` (see dbt_lakehouse.py at the project root) right after it reads the project and profile, before
it opens a connection: the one place to say in one line what is wrong and what to do.
"""

import os
import sys
import warnings

from dbt.flags import get_flags
from dbt.plugins.manager import dbtPlugin

from lakehouse.project import project_name

# The dbt commands that open a connection; the rest (parse, ls, docs serve, clean, deps) never touch Spark.
CONNECTING_COMMANDS = {
    "build",
    "run",
    "test",
    "seed",
    "snapshot",
    "compile",
    "show",
    "run-operation",
    "generate",
    "freshness",
    "debug",
}


class MetastoreGuard(dbtPlugin):
    def initialize(self) -> None:
        if self.project_name != project_name() or get_flags().WHICH not in CONNECTING_COMMANDS:
            return
        if "pyspark.sql" in sys.modules and sys.modules["pyspark.sql"].SparkSession.getActiveSession() is not None:
            return  # dbt runs inside a process that already has the session (the tests): nothing to open
        from lakehouse.spark import ensure_metastore_free, is_remote, spark_conf, target_output

        target = get_flags().TARGET or os.environ.get("DBT_TARGET")
        if target_output(target)["method"] != "session":
            return
        if is_remote(spark_conf(target)):
            # dbt-spark asks for Hive support before every query; a Connect server has it from its start, and
            # the client warns on each query that a static setting cannot change.
            warnings.filterwarnings("ignore", message="Failed to set spark.sql.catalogImplementation")
        else:
            ensure_metastore_free()
