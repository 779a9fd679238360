"""`lakehouse bench-serve`: single-flight requests on loopback against `lakehouse serve`, and against MLflow's own
`mlflow models serve` on the same model version (its spark flavor: a Spark job per request), in one run.

Each load is bounded in requests and in seconds: C connections (keep-alive HTTP/1.1, written with asyncio
streams so that the client costs little of the 2 cores) each send one request at a time. It prints throughput
and p50/p95/p99 latency per concurrency, the cold start (process start to the first answer) and the memory of
each server's process tree, and writes them to the state folder's bench/serve/results.json.

Run with:
    lakehouse bench-serve [--model-version vN] [--concurrency 1 4 16 64] [--requests 20000] [--seconds 30]
                          [--mlflow-concurrency 1 4] [--mlflow-requests 200] [--skip-mlflow]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

from lakehouse.bench.benchmark import tree_rss
from lakehouse.errors import ServerError
from lakehouse.paths import bench_dir
from lakehouse.servers.daemons import free_port
from lakehouse.serving.app import LOOPBACK
from lakehouse.serving.feature_store import FeatureSnapshot
from lakehouse.serving.online_model import OnlineModel
from lakehouse.spark import table_location

SAMPLE_FLIGHTS = 2000


async def request(reader, writer, path: str, body: bytes) -> int:
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def load(port: int, path: str, bodies: list[bytes], concurrency: int, requests: int, seconds: float) -> dict:
    """`requests` requests (or as many as `seconds` allow) from `concurrency` connections; their latencies."""
    latencies, failures, sent = [], 0, 0
    deadline = time.monotonic() + seconds

    async def connection(index: int) -> None:
        nonlocal failures, sent
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        while sent < requests and time.monotonic() < deadline:
            body = bodies[sent % len(bodies)]
            sent += 1
            started = time.perf_counter()
            status = await request(reader, writer, path, body)
            latencies.append(time.perf_counter() - started)
            failures += status != 200
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection(index) for index in range(concurrency)))
    elapsed = time.monotonic() - started
    milliseconds = np.array(latencies) * 1000
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "failures": failures,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        **{f"p{q}_ms": round(float(np.percentile(milliseconds, q)), 2) for q in (50, 95, 99)},
    }


def start(command: list[str], port: int, path: str, body: bytes, timeout: float, log: Path) -> tuple:
    """The server started, and the seconds from its start to its first 200 answer to `body`."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise ServerError(f"{command[0]} exited with {process.returncode}: see {log}")
        try:
            if asyncio.run(first_answer(port, path, body)) == 200:
                return process, time.monotonic() - started
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise ServerError(f"{' '.join(command[:3])} did not answer within {timeout:.0f} s: see {log}")


async def first_answer(port: int, path: str, body: bytes) -> int:
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        return await request(reader, writer, path, body)
    finally:
        writer.close()


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)


def bench(name: str, command, port, path, bodies, concurrencies, requests, seconds, log) -> dict:
    process, cold_start = start(command, port, path, bodies[0], 300, log)
    try:
        asyncio.run(load(port, path, bodies, 4, min(200, requests), seconds))  # warm up
        runs = []
        for concurrency in concurrencies:
            runs.append(asyncio.run(load(port, path, bodies, concurrency, requests, seconds)))
            print(f"  {name}: {format_run(runs[-1])}", flush=True)
        return {
            "cold_start_seconds": round(cold_start, 2),
            "rss_gb": round(tree_rss(psutil.Process(process.pid)) / 1e9, 3),
            "runs": runs,
        }
    finally:
        stop(process)


def format_run(run: dict) -> str:
    return (
        f"concurrency {run['concurrency']:>3}: {run['requests_per_second']:>8,.0f} requests/s, p50"
        f" {run['p50_ms']:.2f} ms, p95 {run['p95_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms"
        f" ({run['requests']:,} requests, {run['failures']} failed)"
    )


def mlflow_model_uri(version: str) -> str:
    """The MLflow run ml/train.py logged for this model version (its run name)."""
    import mlflow

    from lakehouse.ml.tracking import tracking_uri, use_project_store

    experiment = use_project_store()
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri()  # for the server, which resolves runs:/ itself
    # and starts `uvicorn` by name, from the PATH, where make's commands (no virtualenv activated) lack it
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    runs = mlflow.search_runs([experiment], filter_string=f"attributes.run_name = '{version}'", output_format="list")
    if not runs:
        raise ServerError(f"no MLflow run for model {version}: train it again with `python ml/train.py`")
    return f"runs:/{runs[0].info.run_id}/model"


def mlflow_bodies(model: OnlineModel, flights: list[dict]) -> list[bytes]:
    """The same flights as the spark-flavor model reads them: model_input()'s columns (numerics `_value`). Only
    flights without null numerics: a column of one row that is null is of Spark's type void to MLflow's
    pandas-to-Spark conversion, which the pipeline's Imputer refuses."""
    roles = model.metadata["feature_columns"]
    flights = [flight for flight in flights if all(flight[name] is not None for name in roles["numeric"])]
    records = [
        {
            roles["key"]: 0,
            "split_date": "2013-11-01",
            **{name: flight[name] or "unknown" for name in roles["categorical"]},
            **{f"{name}_value": flight[name] for name in roles["numeric"]},
            "label": 0.0,
        }
        for flight in flights
    ]
    return [json.dumps({"dataframe_records": [record]}).encode() for record in records]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="lakehouse bench-serve", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--model-version", help="the model to serve (default: the newest)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--requests", type=int, default=20_000, help="at most this many per concurrency")
    parser.add_argument("--seconds", type=float, default=30, help="and at most this long")
    parser.add_argument("--mlflow-concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--mlflow-requests", type=int, default=200)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args(argv)

    model = OnlineModel.load(args.model_version)
    table = model.metadata["features_table"]
    snapshot = FeatureSnapshot.read(
        table, table_location(table), model.metadata["feature_columns"]["key"], model.fields
    )
    flights = [snapshot.flight(flight_id) for flight_id in snapshot.sample_ids(SAMPLE_FLIGHTS)]
    out = bench_dir() / "serve"
    out.mkdir(parents=True, exist_ok=True)
    results = {"model_version": model.version, "max_requests": args.requests, "max_seconds": args.seconds}

    port = free_port()
    ours = [
        str(Path(sys.executable).with_name("lakehouse")),
        "serve",
        "--model-version",
        model.version,
        "--port",
        str(port),
    ]
    print(f"lakehouse serve, model {model.version}:", flush=True)
    bodies = [json.dumps(flight).encode() for flight in flights]
    results["ours"] = bench(
        "ours", ours, port, "/predict", bodies, args.concurrency, args.requests, args.seconds, out / "ours.log"
    )
    if not args.skip_mlflow:
        port = free_port()
        mlflow_command = [
            *[sys.executable, "-m", "mlflow", "models", "serve", "-m", mlflow_model_uri(model.version)],
            *["--env-manager", "local", "--host", LOOPBACK, "--port", str(port), "--workers", "1"],
        ]
        print(f"mlflow models serve, the same model's MLflow run ({mlflow_command[6]}):", flush=True)
        results["mlflow"] = bench(
            "mlflow",
            mlflow_command,
            port,
            "/invocations",
            mlflow_bodies(model, flights),
            args.mlflow_concurrency,
            args.mlflow_requests,
            args.seconds,
            out / "mlflow.log",
        )
    for name in ("ours", "mlflow"):
        if name in results:
            print(f"{name}: cold start {results[name]['cold_start_seconds']} s, memory {results[name]['rss_gb']} GB")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results in {out / 'results.json'}")
    return results
