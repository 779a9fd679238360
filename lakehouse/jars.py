"""The Delta Lake jars: resolved once from Maven Central by Spark's own Ivy, then read from a folder.

Resolving `spark.jars.packages` at every start prints a page of Ivy output into every dbt run and needs the
network each time; a folder of jars under the state directory starts fast and works offline. profiles.yml
points `spark.jars` at this folder.

    python -m lakehouse.jars      # or: lakehouse jars
"""

import argparse
import shutil
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.errors import DeltaJarsMissingError
from lakehouse.paths import ivy_dir, jar_dir

# delta-spark for Spark 4.2 / Scala 2.13; the newest on Maven Central is 4.4.0 (pip's delta-spark is pinned equal).
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
# Delta's pom pulls libraries that Spark already ships in newer versions; two copies on one classpath invite
# conflicts, so Spark's win by leaving these out.
PROVIDED_BY_SPARK = [
    "com.fasterxml.jackson.core:jackson-annotations",
    "com.fasterxml.jackson.core:jackson-core",
    "com.fasterxml.jackson.core:jackson-databind",
    "com.github.luben:zstd-jni",
    "com.google.code.findbugs:jsr305",
    "commons-pool:commons-pool",
    "io.airlift:aircompressor",
    "org.apache.hadoop:hadoop-client-api",
    "org.apache.hadoop:hadoop-client-runtime",
    "org.apache.logging.log4j:log4j-api",
    "org.apache.logging.log4j:log4j-core",
    "org.apache.logging.log4j:log4j-slf4j2-impl",
    "org.apache.parquet:parquet-hadoop",
    "org.locationtech.jts:jts-core",
    "org.roaringbitmap:RoaringBitmap",
    "org.slf4j:slf4j-api",
    "org.xerial.snappy:snappy-java",
]


def delta_jar_present() -> bool:
    return any(jar_dir().glob("io.delta_delta-spark_*.jar"))


def ensure_delta_jars() -> None:
    if not delta_jar_present():
        raise DeltaJarsMissingError(f"Delta jars not found in {jar_dir()}: run `make jars` (or `lakehouse jars`)")


def fetch_delta_jars() -> list[Path]:
    """Resolve the Delta jars with Spark's Ivy into the state folder; a no-op when they are there."""
    if delta_jar_present():
        return sorted(jar_dir().glob("*.jar"))
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("lakehouse-fetch-jars")
        .config("spark.jars.packages", DELTA_PACKAGE)
        .config("spark.jars.excludes", ",".join(PROVIDED_BY_SPARK))
        .config("spark.jars.ivy", str(ivy_dir()))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()
    resolved = sorted((ivy_dir() / "jars").glob("*.jar"))
    if not any(jar.name.startswith("io.delta_delta-spark_") for jar in resolved):
        raise DeltaJarsMissingError(f"Ivy did not resolve {DELTA_PACKAGE}: check access to Maven Central and rerun")
    staging = jar_dir().with_name("jars.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for jar in resolved:
        shutil.copy2(jar, staging / jar.name)
    staging.replace(jar_dir())
    return sorted(jar_dir().glob("*.jar"))


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(prog="lakehouse jars", description=__doc__.splitlines()[0]).parse_args(argv)
    jars = fetch_delta_jars()
    print(f"{len(jars)} jars in {jar_dir()} ({sum(jar.stat().st_size for jar in jars) / 1e6:.1f} MB)")


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
