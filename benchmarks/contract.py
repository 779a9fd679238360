"""What every baseline reads and writes, so that its output can be checked against the project's features.

Input: the Parquet files `lakehouse scale --copies K --export-dir DIR` writes, DIR/flights/*.parquet and
DIR/weather/*.parquet (the scaled bronze tables, every column, timestamps as UTC microseconds).
Output: one Parquet file with one row per departed flight and the columns of `features.flight_features` that
staging, the weather join and the origin history window produce (COLUMNS, in the model's order, from the
`meta.from` of each column in its yml). The settings the models take from dbt_project.yml are read from there
too, never copied.
"""

import argparse
from pathlib import Path

from lakehouse.project import FEATURES_MODEL, columns_from, feature_roles, model_columns, project_var

SOURCE_TIMEZONE = project_var("source_timezone")
DELAY_THRESHOLD_MINUTES = int(project_var("delay_threshold_minutes"))
ORIGIN_HISTORY_HOURS = int(project_var("origin_history_hours"))
PREDICTION_LEAD_MINUTES = int(project_var("prediction_lead_minutes"))

# flight_features' columns that staging, the weather join and the origin window produce, in the model's order.
COLUMNS = columns_from(FEATURES_MODEL, "staging", "weather", "origin_history")
KEY = feature_roles().key
WEATHER_COLUMNS = columns_from(FEATURES_MODEL, "weather")
HISTORY_COLUMNS = columns_from(FEATURES_MODEL, "origin_history")
# Averages (the window's double columns): equal to within this much, as summation order may differ; every
# other column must be equal.
MEAN_COLUMNS = {
    name: 1e-9 for name in HISTORY_COLUMNS if model_columns(FEATURES_MODEL)[name].get("data_type") == "double"
}


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input_dir", type=Path, help="the --export-dir of `lakehouse scale` (flights/, weather/)")
    parser.add_argument("output", type=Path, help="the Parquet file to write")
    return parser.parse_args()
