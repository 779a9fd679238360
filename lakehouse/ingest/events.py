"""The feed's events: what each kind of source row becomes, when it happens, and how it is named.

One event per flight, at its actual departure (`flight_departed`), or at its scheduled departure when it never
left (`flight_cancelled`); one per hourly weather observation, at its hour (`weather_observed`). An event is one
JSON object per line: its id, type and time, then the source row's own columns (a flight's arrival columns
included, so that staging reads the same row from the CSV or from the feed). The id is the row's natural key,
so every delivery of one event carries the same id and the stream keeps it once.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

FLIGHT_DEPARTED = "flight_departed"
FLIGHT_CANCELLED = "flight_cancelled"
WEATHER_OBSERVED = "weather_observed"
EVENT_TYPES = {"flights": (FLIGHT_DEPARTED, FLIGHT_CANCELLED), "weather": (WEATHER_OBSERVED,)}
ENVELOPE = ("event_id", "event_type", "event_at")
# Instants in the feed, as in the CSVs: ISO 8601 in UTC (2013-01-01T10:00:00Z); Spark's pattern for it.
INSTANT_PATTERN = "yyyy-MM-dd'T'HH:mm:ssXXX"
SOURCE_ZONE = ZoneInfo("America/New_York")


def instant_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def clock_instant(day: date, hhmm: int) -> datetime | None:
    """A New York clock time written HHMM on a day, as an instant (2400 is midnight ending the day)."""
    if not 0 <= hhmm <= 2400 or hhmm % 100 >= 60:
        return None
    day += timedelta(days=hhmm // 2400)
    return datetime(day.year, day.month, day.day, hhmm // 100 % 24, hhmm % 100, tzinfo=SOURCE_ZONE)


def flight_event(row: dict) -> tuple[datetime, dict]:
    """A flight's event: departed at scheduled + delay, or cancelled at its scheduled time."""
    flight_date = date(row["year"], row["month"], row["day"])
    scheduled = clock_instant(flight_date, row["sched_dep_time"]) if row["sched_dep_time"] is not None else None
    scheduled = scheduled or parse_instant(row["time_hour"])
    departed = row["dep_time"] is not None
    happened = scheduled + timedelta(minutes=row["dep_delay"] or 0) if departed else scheduled
    event_id = (
        f"{row['carrier']}{row['flight']}-{row['origin']}-{flight_date.isoformat()}-{row['sched_dep_time'] or 0:04d}"
    )
    event_type = FLIGHT_DEPARTED if departed else FLIGHT_CANCELLED
    return happened, {"event_id": event_id, "event_type": event_type, "event_at": instant_text(happened), **row}


def weather_event(row: dict) -> tuple[datetime, dict]:
    """An observation's event, at its hour."""
    observed = parse_instant(row["time_hour"])
    event_id = f"{row['origin']}-{observed.astimezone(UTC):%Y-%m-%dT%H:%MZ}"
    return observed, {"event_id": event_id, "event_type": WEATHER_OBSERVED, "event_at": instant_text(observed), **row}


EVENT_OF_KIND = {"flights": flight_event, "weather": weather_event}
