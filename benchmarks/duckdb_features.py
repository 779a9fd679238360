"""The features' staging, weather join and 2-hour origin history as DuckDB SQL, for the benchmark.

    python -m benchmarks.duckdb_features INPUT_DIR OUTPUT.parquet

One query, a port of the dbt models' SQL (see benchmarks/contract.py for the files). Three differences from
Spark SQL need care:

- A wall-clock time that New York clocks show twice (01:30 on a fall-back night): DuckDB's ICU time zones take
  the second (standard time) instant, Spark's java.time the first (daylight time). `new_york_instant` takes the
  hour before ICU's answer when the clocks showed the same time then. A skipped time (02:30 on a spring-forward
  night) is 03:30 daylight time in both.
- The hour an instant falls in: DuckDB truncates on New York clocks and turns a repeated 01:00 back into the
  second instant, Spark keeps the instant's own offset. `hour_start` truncates in UTC, which is the same as
  Spark's for a zone whose offsets are whole hours, as New York's are.
- `concat` skips nulls in DuckDB and returns null in Spark: the route code uses `||`, which returns null.

The 2-hour window is running totals instead of the model's join: each departure carries the count, delay total
and delayed count of its origin's departures up to its time (a window function), and two ASOF joins pick, for
each flight, the totals just before its window's end and just before its start; their difference is the
window, less the flight itself if it left early enough to be in it. The model's SQL (departures bucketed by
hour, so the range join becomes an equi-join on origin and hour) took 4.2-5.5 s and 0.32 GB at K=1 here, this
2.8 s and 0.59 GB; a plain range join on origin and time makes DuckDB hash-join on the origin alone and test
every pair of flights from the same airport.
"""

import time

import duckdb

from benchmarks.contract import (
    COLUMNS,
    DELAY_THRESHOLD_MINUTES,
    ORIGIN_HISTORY_HOURS,
    PREDICTION_LEAD_MINUTES,
    SOURCE_TIMEZONE,
    parse_args,
)

MACROS = f"""
create macro new_york_instant(wall_clock) as (
    case
        when (timezone('{SOURCE_TIMEZONE}', wall_clock) - interval 1 hour) at time zone '{SOURCE_TIMEZONE}'
            = wall_clock
            then timezone('{SOURCE_TIMEZONE}', wall_clock) - interval 1 hour
        else timezone('{SOURCE_TIMEZONE}', wall_clock)
    end
);

create macro hour_start(instant) as (
    timezone('UTC', date_trunc('hour', instant at time zone 'UTC'))
);

create macro hhmm_to_timestamp(date_value, hhmm) as (
    case
        when hhmm between 0 and 2400 and hhmm % 100 < 60
            then new_york_instant(
                cast(date_value as timestamp) + to_minutes(cast(hhmm // 100 * 60 + hhmm % 100 as bigint))
            )
    end
);

create macro md5_bigint(text) as (
    -- the first 64 bits of the md5, as a signed integer (two's complement), as Spark's conv(..., 16, -10) reads them
    case
        when ('0x' || substr(md5(text), 1, 16))::ubigint >= 9223372036854775808
            then (('0x' || substr(md5(text), 1, 16))::ubigint - 9223372036854775808)::bigint - 9223372036854775807 - 1
        else ('0x' || substr(md5(text), 1, 16))::ubigint::bigint
    end
);

create macro surrogate_key(a, b, c, d) as (
    md5_bigint(concat_ws('|',
        coalesce(cast(a as varchar), '<null>'), coalesce(cast(b as varchar), '<null>'),
        coalesce(cast(c as varchar), '<null>'), coalesce(cast(d as varchar), '<null>')))
);
"""

QUERY = """
with

flights_source as (

    select * from read_parquet('{input_dir}/flights/*.parquet')

),

weather_source as (

    select * from read_parquet('{input_dir}/weather/*.parquet')

),

flights_renamed as (

    select
        carrier as carrier_code,
        cast(flight as varchar) as flight_number,
        origin as origin_airport_code,
        dest as destination_airport_code,
        origin || '-' || dest as route_code,
        dep_time as departure_hhmm,
        dep_delay as departure_delay_minutes,
        distance as distance_miles,
        make_date(year, month, day) as flight_date,
        hhmm_to_timestamp(make_date(year, month, day), sched_dep_time) as scheduled_departure_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from flights_source

),

flights as (

    select
        surrogate_key(
            carrier_code, flight_number, origin_airport_code,
            coalesce(cast(cast(epoch(scheduled_departure_at) as bigint) as varchar), cast(flight_date as varchar))
        ) as flight_id,
        *,
        departure_hhmm is null as is_cancelled,
        scheduled_departure_at + to_minutes(departure_delay_minutes) as actual_departure_at,
        scheduled_departure_at - to_minutes({lead_minutes}) as features_as_of_at

    from flights_renamed
    qualify row_number() over (partition by flight_id order by loaded_at desc, batch_id asc) = 1

),

weather as (

    select
        origin as airport_code,
        temp as temperature_f,
        dewp as dewpoint_f,
        humid as relative_humidity,
        wind_dir as wind_direction_degrees,
        wind_speed as wind_speed_mph,
        wind_gust as wind_gust_mph,
        precip as precipitation_inches,
        pressure as pressure_millibars,
        visib as visibility_miles,
        time_hour as observed_at

    from weather_source
    qualify row_number() over (partition by origin, time_hour order by _loaded_at desc, _batch_id asc) = 1

),

departures as (

    -- Each departure with the running totals of its origin's departures up to its time (ties included).
    select
        origin_airport_code,
        actual_departure_at,
        count(*) over up_to_now as departed_count,
        sum(departure_delay_minutes) over up_to_now as delay_total,
        count_if(departure_delay_minutes > {threshold}) over up_to_now as delayed_count

    from flights
    where actual_departure_at is not null
    window up_to_now as (
        partition by origin_airport_code
        order by actual_departure_at
        range between unbounded preceding and current row
    )

),

window_totals as (

    -- Totals before the window's end minus totals before its start: departures in [start, end).
    select
        flights.flight_id,
        coalesce(before_end.departed_count, 0) - coalesce(before_start.departed_count, 0) as departed_count,
        coalesce(before_end.delay_total, 0) - coalesce(before_start.delay_total, 0) as delay_total,
        coalesce(before_end.delayed_count, 0) - coalesce(before_start.delayed_count, 0) as delayed_count,
        -- A flight that left early lies in its own window: take it back out.
        coalesce(
            flights.actual_departure_at >= flights.features_as_of_at - interval {history_hours} hour
            and flights.actual_departure_at < flights.features_as_of_at,
            false
        ) as is_in_own_window,
        flights.departure_delay_minutes

    from flights
    asof left join departures as before_end
        on flights.origin_airport_code = before_end.origin_airport_code
        and flights.features_as_of_at > before_end.actual_departure_at
    asof left join departures as before_start
        on flights.origin_airport_code = before_start.origin_airport_code
        and flights.features_as_of_at - interval {history_hours} hour > before_start.actual_departure_at

),

origin_history as (

    select
        flight_id,
        departed_count - cast(is_in_own_window as integer) as origin_prior_departure_count,
        delay_total - if(is_in_own_window, departure_delay_minutes, 0) as prior_delay_total,
        delayed_count - cast(is_in_own_window and departure_delay_minutes > {threshold} as integer)
            as prior_delayed_count

    from window_totals

),

final as (

    select
        flights.flight_id,
        flights.carrier_code,
        flights.origin_airport_code,
        flights.destination_airport_code,
        flights.route_code,
        month(flights.flight_date) as month_of_year,
        dayofweek(flights.flight_date) + 1 as day_of_week,
        hour(flights.scheduled_departure_at) as scheduled_hour,
        flights.distance_miles,
        weather.temperature_f,
        weather.dewpoint_f,
        weather.relative_humidity,
        weather.wind_direction_degrees,
        weather.wind_speed_mph,
        weather.wind_gust_mph,
        weather.precipitation_inches,
        weather.pressure_millibars,
        weather.visibility_miles,
        origin_history.origin_prior_departure_count,
        cast(origin_history.prior_delay_total as double) / nullif(origin_history.origin_prior_departure_count, 0)
            as origin_prior_mean_delay_minutes,
        cast(origin_history.prior_delayed_count as double) / nullif(origin_history.origin_prior_departure_count, 0)
            as origin_prior_delayed_share,
        flights.departure_delay_minutes > {threshold} as is_delayed,
        flights.flight_date,
        flights.scheduled_departure_at,
        flights.features_as_of_at

    from flights
    left join weather
        on flights.origin_airport_code = weather.airport_code
        and hour_start(flights.features_as_of_at) = weather.observed_at
    left join origin_history
        on flights.flight_id = origin_history.flight_id
    where not flights.is_cancelled

)

select {columns} from final
"""


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    started = time.monotonic()
    connection = duckdb.connect()
    connection.execute("set enable_progress_bar = false")  # its redraws would fill the benchmark's log
    # hour() on instants reads New York clocks, as the Spark session does.
    connection.execute(f"set TimeZone = '{SOURCE_TIMEZONE}'")
    connection.execute(MACROS)
    query = QUERY.format(
        input_dir=args.input_dir,
        history_hours=ORIGIN_HISTORY_HOURS,
        lead_minutes=PREDICTION_LEAD_MINUTES,
        threshold=DELAY_THRESHOLD_MINUTES,
        columns=", ".join(COLUMNS),
    )
    connection.execute(f"copy ({query}) to '{args.output}' (format parquet)")
    flights = connection.execute(f"select count(*) from read_parquet('{args.output}')").fetchone()[0]
    print(f"duckdb: {flights:,} flights -> {args.output} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
