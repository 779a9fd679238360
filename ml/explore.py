"""
Profile features.flight_features with the pandas API on Spark: the calls a pandas user knows, run by Spark.

pyspark.pandas (Koalas' successor) turns value_counts, isnull, groupby and corr into Spark jobs, so the same few
lines profile a year of flights or a hundred. The report: class balance, missing values per column, delay rate
by scheduled hour and by carrier, and how the history features correlate with the label, printed and saved as
one PNG.

Run with:
    python ml/explore.py
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lakehouse.entry import run
from lakehouse.ml.features import columns_from, read_features
from lakehouse.paths import reports_dir
from lakehouse.project import feature_roles
from lakehouse.spark import get_spark


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--output", type=Path, default=reports_dir() / "flight_features_profile.png")
    args = parser.parse_args(argv)

    label, history = feature_roles().label, columns_from("origin_history", "route_history")
    spark = get_spark("ml-explore")
    features, version = read_features(spark)
    flights = features.pandas_api()
    flights[label] = flights[label].astype(int)

    # Each line below is a Spark job; only the small results come back as pandas objects.
    class_balance = flights[label].value_counts(normalize=True).sort_index().to_pandas()
    missing_share = flights.isnull().mean().sort_values(ascending=False).to_pandas()
    by_hour = flights.groupby("scheduled_hour")[label].mean().sort_index().to_pandas()
    by_carrier = flights.groupby("carrier_code")[label].mean().sort_values().to_pandas()
    correlation = flights[history + [label]].astype(float).corr()[label].drop(label).to_pandas()

    print(f"flight_features version {version}: {len(flights):,} flights")
    print(f"delayed share: {class_balance.get(1, 0.0):.3f}")
    print("missing values (share of rows):")
    print(missing_share[missing_share > 0].round(4).to_string())
    print("correlation of history features with is_delayed:")
    print(correlation.round(3).to_string())

    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    by_hour.plot.bar(ax=axes[0, 0], title="Delay rate by scheduled hour", xlabel="hour", ylabel="share delayed")
    by_carrier.plot.barh(ax=axes[0, 1], title="Delay rate by carrier", xlabel="share delayed")
    missing_share[missing_share > 0].plot.barh(ax=axes[1, 0], title="Missing values", xlabel="share of rows")
    correlation.sort_values().plot.barh(ax=axes[1, 1], title="History features vs is_delayed (correlation)")
    figure.suptitle(
        f"features.flight_features v{version}: {len(flights):,} flights, {class_balance.get(1, 0.0):.1%} delayed"
    )
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=100)
    plt.close(figure)
    print(f"report saved to {args.output}")
    return args.output


if __name__ == "__main__":
    run(main)
