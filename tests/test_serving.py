"""`lakehouse serve` as a user runs it (a child process on loopback, no JVM), against the batch scores of the same
model version on the slice: every March flight, crafted rows, bad input, and a new model version picked up."""

import contextlib
import http.client
import json
import math
import shutil
import signal
import subprocess
import time

import psutil
import pytest
from pyspark.sql import functions as F

from lakehouse.ml import evaluation, model_store
from lakehouse.ml.features import model_input, read_features
from lakehouse.servers.daemons import free_port
from lakehouse.serving.app import MAX_BATCH, RELOAD_SECONDS
from tests.conftest import PROJECT_ROOT, load_script, venv_command

PARITY = 1e-6
score = load_script("score")


@pytest.fixture(scope="module")
def served_model(trained):
    """The session's XGBoost model, March scored in batch (a GBT's graph: test_ml.py)."""
    score.main(["--model-version", trained["model_version"]])
    return trained


@contextlib.contextmanager
def service(*args: str):
    port = free_port()
    process = subprocess.Popen(
        [venv_command("lakehouse"), "serve", "--port", str(port), *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = Client(port)
        deadline = time.monotonic() + 120
        while client.ready() is False:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the service did not answer within 120 s"
            time.sleep(0.2)
        yield client, process
    finally:
        process.terminate()
        process.wait(timeout=30)


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def ready(self) -> bool:
        try:
            return self.get("/health")[0] == 200
        except OSError:
            self.connection.close()
            return False

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        try:
            return self._exchange(method, path, body)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The service closes a keep-alive connection idle for 5 s (uvicorn's default), as a test that reads
            # Spark between two requests leaves it; a client opens a new one, as urllib3 does.
            self.connection.close()
            return self._exchange(method, path, body)

    def _exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, dict]:
        self.connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        return response.status, json.loads(response.read())

    def get(self, path: str) -> tuple[int, dict]:
        return self.send("GET", path)

    def post(self, path: str, payload) -> tuple[int, dict]:
        return self.send("POST", path, json.dumps(payload).encode())


def model_fields(metadata: dict) -> list[str]:
    return metadata["feature_columns"]["categorical"] + metadata["feature_columns"]["numeric"]


def as_request(row: dict, fields: list[str]) -> dict:
    return {name: row[name] for name in fields}


def scored_in_batches(client: Client, flights: list[dict]) -> list[float]:
    probabilities = []
    for start in range(0, len(flights), MAX_BATCH):
        status, answer = client.post("/predict/batch", {"flights": flights[start : start + MAX_BATCH]})
        assert status == 200, answer
        probabilities += [prediction["delay_probability"] for prediction in answer["predictions"]]
    return probabilities


@pytest.fixture(scope="module")
def pinned(served_model):
    with service("--model-version", served_model["model_version"]) as running:
        yield running


def test_the_service_gives_every_scored_flight_the_batch_probability(spark, served_model, pinned):
    client, process = pinned
    version, fields = served_model["model_version"], model_fields(served_model)
    batch = spark.table("ml.predictions").where(F.col("model_version") == version)
    features = read_features(spark)[0].join(batch.select("flight_id", "delay_probability"), "flight_id")
    rows = [row.asDict() for row in features.orderBy("flight_id").collect()]
    assert len(rows) == batch.count() > 10_000

    served = scored_in_batches(client, [as_request(row, fields) for row in rows])
    largest = max(abs(ours - row["delay_probability"]) for ours, row in zip(served, rows, strict=True))
    print(f"largest difference from ml.predictions over {len(rows):,} flights: {largest:.2e}")
    assert largest <= PARITY

    for row in rows[:: len(rows) // 50]:  # the lookup path reads the same table through delta-rs
        status, answer = client.get(f"/flights/{row['flight_id']}")
        assert status == 200 and answer["model_version"] == version
        assert abs(answer["delay_probability"] - row["delay_probability"]) <= PARITY
    assert not any(child.name() == "java" for child in psutil.Process(process.pid).children(recursive=True))


def test_crafted_flights_score_as_spark_scores_them(spark, served_model, pinned):
    """Unseen categories, nulls in every field, extreme values: what the Spark pipeline gives, the service gives."""
    client, _ = pinned
    model, metadata = model_store.load(served_model["model_version"])
    features = read_features(spark)[0]
    roles = metadata["feature_columns"]
    real = features.where(F.month("flight_date") == 3).limit(1).first().asDict()
    types = {field.name: field.dataType.typeName() for field in features.schema.fields}
    extreme = {"integer": 2_147_483_647, "long": 10**15, "double": 1e30}
    crafted = [
        {**real, **{name: f"never-seen-{name}" for name in roles["categorical"]}},
        {**real, **{name: None for name in roles["categorical"] + roles["numeric"]}},
        {**real, **{name: extreme[types[name]] for name in roles["numeric"]}},
        {**real, **{name: -extreme[types[name]] for name in roles["numeric"]}},
        {**real, **{name: 0 if types[name] != "double" else 0.0 for name in roles["numeric"]}},
    ]
    crafted = [{**row, "flight_id": index} for index, row in enumerate(crafted)]
    in_spark = evaluation.from_model(model.transform(model_input(spark.createDataFrame(crafted, features.schema))))
    expected = dict(in_spark.select("flight_id", evaluation.P_DELAYED).collect())

    served = scored_in_batches(client, [as_request(row, model_fields(metadata)) for row in crafted])
    for row, ours in zip(crafted, served, strict=True):
        assert abs(ours - expected[row["flight_id"]]) <= PARITY, row
    assert len(set(served)) > 1  # the crafted rows reach different leaves


def malformed_requests(fields: list[str], valid: dict) -> list[tuple[str, str, bytes]]:
    """(method, path, body) for each kind of bad input, in many variants."""
    cases = [("POST", "/predict", body) for body in (b"", b"{", b"not json", b"\xff\xfe", b"[1, 2]", b"null", b"42")]
    for name in fields:
        cases.append(("POST", "/predict", json.dumps({k: v for k, v in valid.items() if k != name}).encode()))
        for wrong in ("text", True, [1], {"a": 1}, 1e39) if name not in fields[:5] else (7, True, [1], {"a": 1}):
            cases.append(("POST", "/predict", json.dumps({**valid, name: wrong}).encode()))
    cases.append(("POST", "/predict", b'{"distance_miles": NaN}'))
    cases += [
        ("POST", "/predict/batch", json.dumps({"flights": [valid] * (MAX_BATCH + 1)}).encode()),
        ("POST", "/predict/batch", json.dumps({"flights": []}).encode()),
        ("POST", "/predict/batch", json.dumps({"flights": [valid, {**valid, fields[0]: 3}]}).encode()),
        ("POST", "/predict/batch", json.dumps([valid]).encode()),
        ("GET", "/flights/999999999", None),
        ("GET", "/flights/-3", None),
        ("GET", "/flights/abc", None),
        ("GET", "/model?model_version=v999", None),
        ("POST", "/predict?model_version=v999", json.dumps(valid).encode()),
        ("GET", "/predict", None),
        ("DELETE", "/model", None),
        ("GET", "/no/such/path", None),
    ]
    return cases


def test_bad_input_gets_a_4xx_with_a_reason_and_the_service_keeps_answering(spark, served_model, pinned):
    client, _ = pinned
    fields = model_fields(served_model)
    row = read_features(spark)[0].where(F.month("flight_date") == 3).limit(1).first().asDict()
    valid = as_request(row, fields)
    status, before = client.post("/predict", valid)
    assert status == 200

    cases = malformed_requests(fields, valid)
    repeats = math.ceil(3000 / len(cases))
    for method, path, body in cases * repeats:
        status, answer = client.send(method, path, body)
        assert 400 <= status < 500, (method, path, body[:80] if body else None, status, answer)
        assert answer["error"] and "\n" not in answer["error"], answer
    print(f"{len(cases) * repeats:,} malformed requests, {len(cases)} kinds, every one a 4xx with a reason")

    status, after = client.post("/predict", valid)
    assert status == 200 and after == before
    status, missing = client.post("/predict", {k: v for k, v in valid.items() if k != fields[3]})
    assert status == 422 and missing["field"] == fields[3]


@contextlib.contextmanager
def newer_version():
    """A copy of the store's newest model version as the next one, removed afterwards."""
    newest = model_store.latest_version_dir()
    newer = newest.with_name(f"v{int(newest.name[1:]) + 1}")
    try:
        shutil.copytree(newest, newer)
        yield newer
    finally:
        shutil.rmtree(newer)


def test_a_pinned_service_keeps_its_version_when_a_newer_one_arrives(served_model, pinned):
    client, process = pinned
    with newer_version() as newer:
        process.send_signal(signal.SIGHUP)
        time.sleep(RELOAD_SECONDS + 1)  # the SIGHUP's reload and the periodic one have both looked
        assert client.get("/health")[1]["model_version"] == served_model["model_version"] != newer.name


def test_a_new_model_version_is_picked_up_without_dropping_a_request(served_model):
    """Following the store (no --model-version): a newer version is served after SIGHUP, and every request
    sent meanwhile is answered."""
    newest = model_store.latest_version_dir()
    with service("--no-flights") as (client, process):
        assert client.get("/health")[1]["model_version"] == newest.name
        payload = {name: None for name in model_fields(model_store.read_metadata(newest))}
        with newer_version() as newer:
            process.send_signal(signal.SIGHUP)
            versions, deadline = [], time.monotonic() + 60
            while newer.name not in versions and time.monotonic() < deadline:
                status, answer = client.post("/predict", payload)
                assert status == 200, answer
                versions.append(answer["model_version"])
            assert versions[-1] == newer.name, f"still {versions[-1]} after 60 s"
