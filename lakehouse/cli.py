"""`lakehouse <command>`: a thin front door to the modules that do the work; each command imports only its own."""

import importlib
import sys
from functools import partial

from lakehouse.entry import run

# command: (module, its entry function, the arguments before argv)
COMMANDS = {
    "jars": ("lakehouse.jars", "main"),
    "ingest": ("lakehouse.ingest.loader", "main"),
    "scale": ("lakehouse.ingest.scale", "main"),
    "replay": ("lakehouse.ingest.replay", "main"),
    "stream": ("lakehouse.ingest.stream", "main"),
    "summary": ("lakehouse.summary", "main"),
    "chaos": ("lakehouse.chaos", "main"),
    "bench": ("lakehouse.bench.benchmark", "main"),
    "profile": ("lakehouse.bench.profile", "main"),
    "bench-ml": ("lakehouse.bench.ml_benchmark", "main"),
    "bench-stream": ("lakehouse.bench.stream_benchmark", "main"),
    "export-onnx": ("lakehouse.ml.onnx_export", "main"),
    "serve": ("lakehouse.serving.app", "main"),
    "bench-serve": ("lakehouse.serving.load_test", "main"),
    "thrift": ("lakehouse.servers.spark_servers", "main", "thrift"),
    "connect": ("lakehouse.servers.spark_servers", "main", "connect"),
    "cluster": ("lakehouse.servers.spark_servers", "main", "cluster"),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: lakehouse {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        sys.exit(2)
    module, function, *leading = COMMANDS[sys.argv[1]]
    command = partial(getattr(importlib.import_module(module), function), *leading)
    run(command, sys.argv[2:])
