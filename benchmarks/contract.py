"""What every baseline reads and writes, so that its output can be checked against the project's features.

Input: the Parquet files `lakehouse scale --copies K --export-dir DIR` writes, DIR/flights/*.parquet and
DIR/weather/*.parquet (the scaled bronze tables, every column, timestamps as UTC microseconds).
Output: one Parquet file with one row per departed flight and the columns of `features.flight_features` that
staging, the weather join and the origin history window produce (COLUMNS, in the model's order).
The settings the models take from dbt_project.yml are read from there too, never copied.
"""

import argparse
from pathlib import Path

from lakehouse.project import project_var

SOURCE_TIMEZONE = project_var("source_timezone")
DELAY_THRESHOLD_MINUTES = int(project_var("delay_threshold_minutes"))
ORIGIN_HISTORY_HOURS = int(project_var("origin_history_hours"))

KEY = "flight_id"
WEATHER_COLUMNS = [
    "temperature_f",
    "dewpoint_f",
    "relative_humidity",
    "wind_direction_degrees",
    "wind_speed_mph",
    "wind_gust_mph",
    "precipitation_inches",
    "pressure_millibars",
    "visibility_miles",
]
HISTORY_COLUMNS = ["origin_prior_departure_count", "origin_prior_mean_delay_minutes", "origin_prior_delayed_share"]
COLUMNS = [
    KEY,
    "carrier_code",
    "origin_airport_code",
    "destination_airport_code",
    "route_code",
    "month_of_year",
    "day_of_week",
    "scheduled_hour",
    "distance_miles",
    *WEATHER_COLUMNS,
    *HISTORY_COLUMNS,
    "is_delayed",
    "flight_date",
    "scheduled_departure_at",
]
# Averages: equal to within this much (summation order may differ); every other column must be equal.
MEAN_COLUMNS = {"origin_prior_mean_delay_minutes": 1e-9, "origin_prior_delayed_share": 1e-9}


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input_dir", type=Path, help="the --export-dir of `lakehouse scale` (flights/, weather/)")
    parser.add_argument("output", type=Path, help="the Parquet file to write")
    return parser.parse_args()
