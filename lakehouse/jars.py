"""The Delta Lake jars: resolved once from Maven Central by Spark's own Ivy, then read from a folder; and the
class archive every Spark JVM of the project starts from.

Resolving `spark.jars.packages` at every start prints a page of Ivy output into every dbt run and needs the
network each time; a folder of jars under the state directory starts fast and works offline. profiles.yml
puts this folder on the class path.

The class archive is Java's own class data sharing (AppCDS): the classes a Spark session with Delta and the
metastore loads, listed by a JVM that ran a small build's kinds of SQL and archived once by `java -Xshare:dump`,
then mapped by every later JVM that names it (profiles.yml's `-XX:SharedArchiveFile`) instead of being read from
the jars and verified again. It is written again when a jar is newer than it (a new pyspark or Delta).

    python -m lakehouse.jars      # or: lakehouse jars
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

from lakehouse.errors import DeltaJarsMissingError, LakehouseError
from lakehouse.paths import STATE_HOME_VARIABLE, delta_jar_present, ivy_dir, jar_dir, state_home
from lakehouse.spark import java_executable, spark_conf, start_session

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


def fetch_delta_jars() -> list[Path]:
    """Resolve the Delta jars with Spark's Ivy into the state folder; a no-op when they are there. Ivy's page of
    output (every module, every download, every repository it could not reach) goes to a log, not the terminal."""
    if delta_jar_present():
        return sorted(jar_dir().glob("*.jar"))
    log = ivy_dir() / "resolve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"fetching {DELTA_PACKAGE} from Maven Central (Ivy's output: {log})", flush=True)
    with log.open("w") as output:
        command = [sys.executable, "-m", "lakehouse.jars", "--resolve"]
        subprocess.run(command, stdout=output, stderr=subprocess.STDOUT)
    resolved = sorted((ivy_dir() / "jars").glob("*.jar"))
    if not any(jar.name.startswith("io.delta_delta-spark_") for jar in resolved):
        raise DeltaJarsMissingError(
            f"Ivy did not resolve {DELTA_PACKAGE} (its output: {log}): check access to Maven Central and rerun"
        )
    staging = jar_dir().with_name("jars.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for jar in resolved:
        shutil.copy2(jar, staging / jar.name)
    staging.replace(jar_dir())
    return sorted(jar_dir().glob("*.jar"))


def resolve() -> None:
    """(child process) A session that resolves DELTA_PACKAGE into the Ivy folder, and stops."""
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


SHARED_ARCHIVE = re.compile(r"-XX:SharedArchiveFile=(\S+)")
# The kinds of SQL a build runs, on a few rows: what loads the classes that a dbt build, a load or a training loads.
WARM_UP = [
    "create schema if not exists warm_up",
    "create table warm_up.rows using delta as select id, id % 7 as k, timestamp_seconds(id * 600) as at"
    " from range(5000)",
    "create or replace table warm_up.windows using delta as select id, k, count(*) over (partition by k order by at"
    " range between interval 2 hours preceding and current row) as recent from warm_up.rows",
    "merge into warm_up.rows as target using (select id, k + 1 as k, at from warm_up.rows where id < 10) as source"
    " on target.id = source.id when matched then update set * when not matched then insert *",
    "delete from warm_up.rows where id < 5",
    "alter table warm_up.rows set tblproperties ('warm_up' = 'true')",
    "describe history warm_up.rows",
    "select w.k, count(*), avg(r.id) from warm_up.rows as r join warm_up.windows as w using (id) group by w.k",
]


def class_archive() -> Path | None:
    """The archive profiles.yml names (None when its Java options name none)."""
    named = SHARED_ARCHIVE.search(spark_conf("local").get("spark.driver.extraJavaOptions", ""))
    return Path(named.group(1)) if named else None


def write_class_archive() -> Path | None:
    """Write the class archive unless it is newer than every jar on the class path: a child JVM runs WARM_UP in a
    throwaway state folder (its own metastore and warehouse) and lists the classes it loaded, then `java
    -Xshare:dump` archives them for the class path that JVM had. Lambda forms and lambda proxies are left out of
    the list: archiving them is what JDK 17 gets wrong (a sporadic InternalError in a lambda form when a dynamic
    archive, -XX:ArchiveClassesAtExit, held them)."""
    archive = class_archive()
    if archive is None:
        return None
    jars = [*jar_dir().glob("*.jar"), *(Path(pyspark.__file__).parent / "jars").glob("*.jar")]
    if archive.exists() and archive.stat().st_mtime >= max(jar.stat().st_mtime for jar in jars):
        return archive
    with tempfile.TemporaryDirectory(dir=state_home(), prefix="class-archive-") as scratch:
        (Path(scratch) / "jars").symlink_to(jar_dir().resolve(), target_is_directory=True)
        loaded, class_path = Path(scratch) / "loaded.lst", Path(scratch) / "class_path.txt"
        warmed = subprocess.run(
            [sys.executable, "-m", "lakehouse.jars", "--warm-up", str(loaded), str(class_path)],
            env={**os.environ, STATE_HOME_VARIABLE: scratch, "DBT_TARGET": "local"},
            capture_output=True,
            text=True,
        )
        if warmed.returncode != 0:
            raise LakehouseError(f"the class archive could not be written: {warmed.stderr[-500:]}")
        listed = Path(scratch) / "classes.lst"
        listed.write_text("".join(line for line in loaded.open() if not line.startswith("@")))
        partial = archive.with_name(f"{archive.name}.partial")
        dumped = subprocess.run(
            [java_executable(), "-Xshare:dump", f"-XX:SharedClassListFile={listed}", f"-XX:SharedArchiveFile={partial}"]
            + ["-Xlog:cds=off", "-cp", class_path.read_text()],
            capture_output=True,
            text=True,
        )
    if dumped.returncode != 0:
        partial.unlink(missing_ok=True)
        raise LakehouseError(f"the class archive could not be written: {(dumped.stderr or dumped.stdout)[-500:]}")
    partial.replace(archive)
    return archive


def warm_up(loaded: Path, class_path: Path) -> None:
    """Run WARM_UP in a JVM that lists the classes it loads, with the jars of the user's state folder on its class
    path (the archive keeps the paths of the jars it was written from); write that class path down."""
    conf = spark_conf("local")
    options = SHARED_ARCHIVE.sub("", conf["spark.driver.extraJavaOptions"])
    conf["spark.driver.extraJavaOptions"] = f"{options} -XX:DumpLoadedClassList={loaded}"
    conf["spark.driver.extraClassPath"] = f"{jar_dir().resolve()}/*"
    spark = start_session(conf, "lakehouse-class-archive", metastore=True)
    for statement in WARM_UP:
        spark.sql(statement).collect()
    class_path.write_text(spark.sparkContext._jvm.java.lang.System.getProperty("java.class.path"))
    spark.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse jars", description=__doc__.splitlines()[0])
    parser.add_argument("--warm-up", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--resolve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.resolve:
        resolve()
        return
    if args.warm_up:
        warm_up(*args.warm_up)
        return
    jars = fetch_delta_jars()
    print(f"{len(jars)} jars in {jar_dir()} ({sum(jar.stat().st_size for jar in jars) / 1e6:.1f} MB)")
    if archive := write_class_archive():
        print(f"class archive {archive} ({archive.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
