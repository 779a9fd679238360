"""A dbt plugin that opens the Spark session of a session target before dbt connects, with lakehouse.spark.

dbt-core loads plugins from modules named `dbt_*` (see dbt_lakehouse.py at the project root) right after it reads
the project and profile, before it opens a connection. Two things need that moment:
- profiles.yml as dbt renders it has LAKEHOUSE_HOME as the user set it, `.lakehouse` by default: relative, which
  a cluster's executors resolve against their own working folders (and find no Delta jars there). The session
  started here has every state path absolute, and dbt-spark's builder.getOrCreate() takes it over.
- a `dbt build` while a Thrift or Connect server (or another dbt run, or a notebook) holds the embedded Derby
  metastore would end in Derby's stack trace; this says in one line what is wrong and what to do.
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
        from lakehouse.spark import is_remote, spark_conf, start_dbt_session, target_output

        target = get_flags().TARGET or os.environ.get("DBT_TARGET")
        if target_output(target)["method"] != "session":
            return
        if is_remote(spark_conf(target)):
            # dbt-spark asks for Hive support before every query; a Connect server has it from its start, and
            # the client warns on each query that a static setting cannot change.
            warnings.filterwarnings("ignore", message="Failed to set spark.sql.catalogImplementation")
        else:
            start_dbt_session(target)
