"""`lakehouse serve`: the delay model over HTTP, one flight in well under a millisecond of model time, no Spark.

    POST /predict            one flight's features -> its delay probability
    POST /predict/batch      {"flights": [...]}, at most MAX_BATCH of them
    GET  /flights/{id}       a flight of flight_features (its current Delta version), scored
    GET  /model              the version served, what it learned from, its test metrics and threshold
    GET  /health             ok, with the model version

Every answer names the model version; a request may pin one (`?model_version=v5`) and gets a 404 if another is
served. Without --model-version the service follows the model store: every RELOAD_SECONDS (or at once on
SIGHUP) it loads a newer complete version, and a newer Delta version of the features table, off the event loop,
then swaps them in; a request in flight finishes on the model it started with. Bad input gets a 4xx with a one-line
reason (`{"error": ...}`), never a 500.
"""

import argparse
import asyncio
import json
import signal
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lakehouse.ml import model_store
from lakehouse.servers.daemons import LOOPBACK, exposure_warning
from lakehouse.serving.feature_store import FeatureSnapshot
from lakehouse.serving.online_model import InvalidFlight, OnlineModel

MAX_BATCH = 1000
RELOAD_SECONDS = 5.0


@dataclass
class Served:
    """What the service answers with; replaced whole on reload, never changed in place."""

    model: OnlineModel
    features: FeatureSnapshot | None


class Reply(Exception):
    """A 4xx with its one-line reason."""

    def __init__(self, status: int, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.field = status, reason, field


async def json_body(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Reply(400, f"the body is not JSON ({error}): send one JSON object") from None


def answer(model: OnlineModel, probability: float) -> dict:
    return {"delay_probability": probability, "is_predicted_delayed": probability >= model.metadata["threshold"]}


class Service:
    """The endpoints, over what is served now: a model version pinned or the newest, and its features table."""

    def __init__(self, model_version: str | None, with_flights: bool) -> None:
        self.model_version, self.with_flights = model_version, with_flights
        self.served = load(model_version, with_flights, None)

    def served_for(self, request: Request) -> Served:
        served = self.served
        asked = request.query_params.get("model_version")
        if asked is not None and asked != served.model.version:
            raise Reply(404, f"model {asked} is not served here; this service serves {served.model.version}")
        return served

    async def predict(self, request: Request) -> JSONResponse:
        served = self.served_for(request)
        flight = served.model.validated(await json_body(request))
        (probability,) = served.model.probabilities([flight])
        return JSONResponse({"model_version": served.model.version, **answer(served.model, probability)})

    async def predict_batch(self, request: Request) -> JSONResponse:
        served = self.served_for(request)
        payload = await json_body(request)
        flights = payload.get("flights") if isinstance(payload, dict) else None
        if not isinstance(flights, list):
            raise Reply(422, 'expected {"flights": [one object per flight]}', "flights")
        if not 1 <= len(flights) <= MAX_BATCH:
            raise Reply(413, f"{len(flights)} flights: send 1 to {MAX_BATCH} per batch", "flights")
        valid = [served.model.validated(flight, f"flights[{at}].") for at, flight in enumerate(flights)]
        predictions = [answer(served.model, p) for p in served.model.probabilities(valid)]
        return JSONResponse({"model_version": served.model.version, "predictions": predictions})

    async def flight(self, request: Request) -> JSONResponse:
        served = self.served_for(request)
        if served.features is None:
            raise Reply(404, "this service was started with --no-flights: POST the features to /predict")
        text = request.path_params["flight_id"]
        try:
            flight_id = int(text)
        except ValueError:
            raise Reply(422, f"flight id {text!r} is not a whole number", "flight_id") from None
        features = served.features.flight(flight_id)
        if features is None:
            where = f"{served.features.table} (Delta version {served.features.delta_version})"
            raise Reply(404, f"flight {flight_id} is not in {where}", "flight_id")
        (probability,) = served.model.probabilities([served.model.validated(features)])
        return JSONResponse(
            {
                "model_version": served.model.version,
                "flight_id": flight_id,
                "features_table": served.features.table,
                "features_delta_version": served.features.delta_version,
                **answer(served.model, probability),
            }
        )

    async def model(self, request: Request) -> JSONResponse:
        return JSONResponse(self.served_for(request).model.describe())

    async def health(self, request: Request) -> JSONResponse:
        served = self.served
        flights = len(served.features) if served.features else 0
        return JSONResponse({"status": "ok", "model_version": served.model.version, "flights": flights})

    async def rejected(self, request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, InvalidFlight):
            status, reason, field = 422, str(error), error.field
        elif isinstance(error, Reply):
            status, reason, field = error.status, error.reason, error.field
        else:  # Starlette's own: unknown path, wrong method
            status, reason, field = error.status_code, f"{error.detail}: {request.method} {request.url.path}", None
        return JSONResponse(
            {"error": reason, **({"field": field} if field else {}), "model_version": self.served.model.version},
            status_code=status,
        )

    async def refresh(self) -> None:
        """A newer model or features version, loaded off the event loop, swapped in whole."""
        current = self.served
        fresher = await asyncio.to_thread(reloaded, current, self.model_version, self.with_flights)
        if fresher is not current:
            self.served = fresher
            print(f"now serving model {fresher.model.version}" + features_line(fresher.features), flush=True)

    async def follow(self) -> None:
        """Every RELOAD_SECONDS, a refresh; a failed one keeps what is served."""
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            try:
                await self.refresh()
            except Exception as error:  # a half-written version or table: keep serving, try again later
                print(f"reload skipped: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    @asynccontextmanager
    async def lifespan(self, app: Starlette):
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.refresh()))
        follower = loop.create_task(self.follow())
        yield
        follower.cancel()


def create_app(service: Service) -> Starlette:
    return Starlette(
        routes=[
            Route("/predict", service.predict, methods=["POST"]),
            Route("/predict/batch", service.predict_batch, methods=["POST"]),
            Route("/flights/{flight_id}", service.flight, methods=["GET"]),
            Route("/model", service.model, methods=["GET"]),
            Route("/health", service.health, methods=["GET"]),
        ],
        exception_handlers={InvalidFlight: service.rejected, Reply: service.rejected, HTTPException: service.rejected},
        lifespan=service.lifespan,
    )


def load(model_version: str | None, with_flights: bool, features: FeatureSnapshot | None) -> Served:
    """The model version asked for (default: the newest), with `features` if they are the current snapshot of its
    features table (the caller has checked their Delta version), else a fresh read."""
    from lakehouse.spark import table_location  # pyspark's modules, not its JVM: imported when flights are served

    model = OnlineModel.load(model_version)
    if not with_flights:
        return Served(model, None)
    table = model.metadata["features_table"]
    if features is None or features.table != table:
        features = FeatureSnapshot.read(
            table, table_location(table), model.metadata["feature_columns"]["key"], model.fields
        )
    return Served(model, features)


def reloaded(current: Served, model_version: str | None, with_flights: bool) -> Served:
    """`current`, or a new Served if a newer model (when following the store) or features version is there."""
    from lakehouse.spark import table_location

    newest = model_version or model_store.chosen_version_dir().name
    features = current.features
    stale = features is not None and features.delta_version != latest_delta_version(table_location(features.table))
    if newest == current.model.version and not stale:
        return current
    if not (model_store.models_dir() / newest / model_store.ONNX_FILE).exists():
        return current  # training saves the ONNX graph last: not ready yet
    return load(newest, with_flights, None if stale else features)


def latest_delta_version(location: Path) -> int:
    from deltalake import DeltaTable

    return DeltaTable(str(location)).version()


def features_line(features: FeatureSnapshot | None) -> str:
    if features is None:
        return " (no flight lookups: --no-flights)"
    return f" with {len(features):,} flights of {features.table} (Delta version {features.delta_version})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse serve", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--model-version", help="serve this version (v3) and only it (default: follow the newest)")
    parser.add_argument("--host", default=LOOPBACK, help=f"address to bind (default {LOOPBACK}, this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-flights", action="store_true", help="skip GET /flights/{id} (and its table in memory)")
    parser.add_argument("--access-log", action="store_true", help="print a line per request")
    args = parser.parse_args(argv)
    import uvicorn

    started = time.monotonic()
    service = Service(args.model_version, not args.no_flights)
    served = service.served
    if warning := exposure_warning("scoring service", args.host, args.port, "score flights and look them up"):
        print(warning, file=sys.stderr)
    print(
        f"serving model {served.model.version}{features_line(served.features)} on http://{args.host}:{args.port}"
        f" (loaded in {time.monotonic() - started:.1f} s; Ctrl-C stops)",
        flush=True,
    )
    uvicorn.run(create_app(service), host=args.host, port=args.port, access_log=args.access_log, log_level="warning")
