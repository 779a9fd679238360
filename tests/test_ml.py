"""ml/ on real Spark, Delta and MLflow, on the January–March slice (train January, tune February, test March)."""

import json
import re
import shutil
from datetime import date

import mlflow
import numpy as np
import pandas as pd
import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F
from sklearn.metrics import brier_score_loss, roc_auc_score

from lakehouse import summary
from lakehouse.errors import LakehouseError, ModelMissingError
from lakehouse.ml import model_card, model_store, onnx_export
from lakehouse.ml.features import (
    Split,
    features_table,
    in_fixed_layout,
    in_period,
    model_input,
    prediction_lead_minutes,
    read_features,
    split_rows,
)
from lakehouse.ml.tracking import EXPERIMENT, use_project_store
from lakehouse.project import column_meta, feature_roles, model_relation, project_var
from lakehouse.serving import online_model
from tests.conftest import PROJECT_ROOT, TRAINED_ARGS, load_script

JANUARY, MARCH = (None, date(2013, 2, 1)), (date(2013, 3, 1), date(2013, 4, 1))


train, score, explore = load_script("train"), load_script("score"), load_script("explore")


def test_scoring_without_a_model_says_to_train_first(built):
    with pytest.raises(ModelMissingError, match=r"run `python ml/train.py` first"):
        score.main([])


def test_training_evaluates_the_model_against_its_baselines(trained):
    metrics, chosen = trained["test_metrics"], f"{trained['estimator']} (tuned)"
    assert trained["estimator"] in {"GBT", "XGBoost"}
    assert set(metrics) == {chosen, "logistic regression", "carrier x hour rate", "base rate"}
    assert metrics["base rate"]["roc_auc"] == pytest.approx(0.5)
    assert metrics[chosen]["roc_auc"] > metrics["carrier x hour rate"]["roc_auc"] > 0.5
    assert 0 < trained["threshold"] < 1
    version_dir = model_store.models_dir() / trained["model_version"]
    assert json.loads((version_dir / "metadata.json").read_text()) == trained
    assert {path.name for path in (version_dir / "plots").iterdir()} == {
        "roc.png",
        "precision_recall.png",
        "calibration.png",
        "feature_importances.png",
    }

    deciles = trained["calibration_by_decile"]
    assert len(deciles) >= 5 and all(decile["flights"] > 0 for decile in deciles)
    assert [decile["predicted"] for decile in deciles] == sorted(decile["predicted"] for decile in deciles)
    card = (version_dir / model_card.CARD_FILE).read_text()
    assert card.startswith(f"# Model card: flight delay, {trained['model_version']}\n")
    assert f"| {chosen} | {metrics[chosen]['roc_auc']:.4f} |" in card
    assert f"| {len(deciles)} | {deciles[-1]['flights']:,} | {deciles[-1]['predicted']:.3f} |" in card
    assert f"python ml/train.py --as-of-version {trained['features_delta_version']} " in card
    lead = int(project_var("prediction_lead_minutes"))
    assert trained["prediction_lead_minutes"] == lead and f"- Features taken {lead} minutes before each" in card


def test_a_table_whose_features_were_taken_at_two_leads_is_refused(spark, built):
    roles = feature_roles()
    lead = int(project_var("prediction_lead_minutes"))
    rows = spark.table(features_table()).orderBy(roles.key).limit(2).cache()
    assert prediction_lead_minutes(rows, features_table()) == lead
    first = rows.first()[roles.key]
    earlier = F.col(roles.as_of) - F.expr("interval 30 minutes")
    mixed = rows.withColumn(roles.as_of, F.when(F.col(roles.key) == first, earlier).otherwise(F.col(roles.as_of)))
    with pytest.raises(
        LakehouseError,
        match=rf"features.flight_features holds features taken at leads of \[{lead}, {lead + 30}\] minutes, not one: "
        r"rebuild it with `dbt build --full-refresh --select flight_features`",
    ):
        prediction_lead_minutes(mixed, features_table())


def test_the_run_is_tracked_in_mlflow_with_the_spark_model(trained):
    experiment_id = use_project_store()
    [run] = mlflow.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.runName = '{trained['model_version']}'", output_format="list"
    )
    chosen = f"{trained['estimator']} (tuned)"
    assert run.data.metrics["test_roc_auc"] == pytest.approx(trained["test_metrics"][chosen]["roc_auc"])
    assert run.data.params["estimator"] == trained["estimator"]
    artifacts = {artifact.path for artifact in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"plots", "metadata.json", model_card.CARD_FILE} <= artifacts
    assert mlflow.get_experiment(experiment_id).name == EXPERIMENT
    assert mlflow.spark.load_model(f"runs:/{run.info.run_id}/model") is not None


def test_the_split_is_by_absolute_time_the_last_two_months_tested_the_one_before_tuned():
    year = Split.of_timeline(date(2013, 12, 31))
    assert (year.validation_from, year.test_from, year.end) == (date(2013, 10, 1), date(2013, 11, 1), date(2014, 1, 1))
    # 30 copies end on 25 November 2042 (52-week shifts drift a day a year): calendar months of the last copy,
    # so no twin of a test flight, from an earlier copy with the same month number, is trained on.
    copies = Split.of_timeline(date(2042, 11, 25))
    assert (copies.validation_from, copies.test_from, copies.end) == (
        date(2042, 9, 1),
        date(2042, 10, 1),
        date(2042, 11, 26),
    )
    assert Split.from_metadata(copies.as_metadata()) == copies


def test_the_split_periods_do_not_overlap_in_time(spark, built):
    rows = model_input(read_features(spark)[0])
    parts = split_rows(rows, Split(date(2013, 2, 1), date(2013, 3, 1), date(2013, 4, 1)))
    windows = {
        name: frame.join(spark.table("features.flight_features"), "flight_id")
        .agg(F.min("scheduled_departure_at"), F.max("scheduled_departure_at"), F.count("*"))
        .first()
        for name, frame in parts.items()
    }
    assert windows["train"][1] < windows["validation"][0]
    assert windows["validation"][1] < windows["test"][0]
    assert sum(window[2] for window in windows.values()) == rows.count()


def test_a_split_without_flights_is_refused_naming_the_period(built):
    with pytest.raises(
        LakehouseError, match=r"no features.flight_features rows in the train period the start to 2013-01-01"
    ):
        train.main(["--validation-from", "2013-01-01", "--test-from", "2013-03-01", "--quick"])
    with pytest.raises(LakehouseError, match=r"cut-offs must come in order before the last flight \(2013-03-31\)"):
        train.main(["--test-from", "2013-07-01", "--quick"])


@pytest.fixture(scope="module")
def gbt_on_january(spark, built) -> PipelineModel:
    """A pipeline of MLlib's GBT, ten depth-5 trees, fitted on January: quicker than ml/train.py's grid."""
    rows = model_input(read_features(spark)[0])
    return train.build_pipeline(GBTClassifier(maxIter=10, maxDepth=5, seed=1)).fit(in_period(rows, *JANUARY))


def test_a_reloaded_model_predicts_exactly_the_same(spark, gbt_on_january, tmp_path):
    rows, model = model_input(read_features(spark)[0]), gbt_on_january
    model_store.save(model, {"note": "test"}, tmp_path)
    reloaded = PipelineModel.load(str(tmp_path / "pipeline"))
    march = in_period(rows, *MARCH)
    fitted = model.transform(march).select("flight_id", "probability")
    again = reloaded.transform(march).select("flight_id", F.col("probability").alias("reloaded"))
    joined = fitted.join(again, "flight_id")
    assert joined.count() == march.count()
    assert joined.where(F.col("probability") != F.col("reloaded")).count() == 0


def test_a_gbt_model_is_served_by_its_onnx_graph_with_the_probabilities_spark_gives(spark, gbt_on_january, tmp_path):
    """MLlib's GBT, which the validation months may choose, exported as ONNX: onnxruntime, fed each March flight's
    features as the service is, gives Spark's probability to within float32's rounding of the sum of the trees."""
    features, model = read_features(spark)[0], gbt_on_january
    roles = feature_roles().as_metadata()
    path = onnx_export.export(model, roles, tmp_path / model_store.ONNX_FILE)
    online = online_model.OnlineModel("v0", {}, roles["categorical"], roles["numeric"], online_model.session(path))

    march = in_period(model_input(features), *MARCH)
    spark_probability = vector_to_array(F.col("probability"))[1].alias("spark_probability")
    scored = model.transform(march).select("flight_id", spark_probability).join(features, "flight_id")
    rows = [row.asDict() for row in scored.orderBy("flight_id").collect()]
    served = online.probabilities([{name: row[name] for name in online.fields} for row in rows])
    assert len(rows) == march.count() > 10_000
    assert len({round(row["spark_probability"], 6) for row in rows}) > 100  # deep enough trees to mean something
    assert max(abs(ours - row["spark_probability"]) for ours, row in zip(served, rows, strict=True)) <= 1e-6


def test_a_classifier_the_export_cannot_write_is_refused_in_one_line(spark, built, tmp_path):
    rows = in_period(model_input(read_features(spark)[0]), *JANUARY)
    model = train.build_pipeline(LogisticRegression(maxIter=1)).fit(rows)
    with pytest.raises(onnx_export.UnservableModel, match=r"not LogisticRegressionModel's: train with") as refused:
        onnx_export.export(model, feature_roles().as_metadata(), tmp_path / model_store.ONNX_FILE)
    assert "\n" not in str(refused.value) and not (tmp_path / model_store.ONNX_FILE).exists()


def test_the_same_rows_train_the_same_model_however_the_table_lies(spark, built):
    rows = model_input(read_features(spark)[0])
    layouts = [rows.orderBy(F.rand(seed=1)).repartition(5), rows.orderBy("flight_id").coalesce(1)]
    probabilities = []
    for layout in layouts:
        model = train.build_pipeline(GBTClassifier(maxIter=5, maxDepth=3, seed=1)).fit(
            in_period(in_fixed_layout(layout), *JANUARY)
        )
        probabilities.append(model.transform(in_period(rows, *MARCH)).select("flight_id", "probability"))
    joined = probabilities[0].join(probabilities[1].withColumnRenamed("probability", "other"), "flight_id")
    assert joined.count() == in_period(rows, *MARCH).count()
    assert joined.where(F.col("probability") != F.col("other")).count() == 0


def test_scoring_refuses_a_table_the_model_did_not_learn_from(trained):
    with pytest.raises(
        LakehouseError, match=r"learned from features.flight_features, not features_x30.flight_features"
    ):
        score.main(["--copies", "30"])


def test_scoring_twice_replaces_instead_of_duplicating(spark, trained):
    first = score.main([])
    rows_after_first = spark.table("ml.predictions").count()
    second = score.main([])

    assert first == second == spark.table("ml.predictions").count() == rows_after_first
    assert spark.table("ml.predictions").select("flight_id").distinct().count() == rows_after_first


def test_the_monitoring_models_agree_with_scikit_learn_and_a_pandas_stability_index(spark, dbt, trained, capsys):
    score.main([])
    dbt("build", "--select", "source:ml+")
    version, test_from = trained["model_version"], trained["split"]["test_from"]
    features = spark.table("features.flight_features")
    scored = (
        spark.table("ml.predictions")
        .where(F.col("model_version") == version)
        .join(features.select("flight_id", "flight_date", "is_delayed", "carrier_code"), "flight_id")
        .toPandas()
    )
    daily = spark.table(model_relation("model_daily_performance")).where(F.col("model_version") == version).toPandas()
    daily = daily.set_index("flight_date")
    assert set(daily.index) == set(scored["flight_date"]) and len(daily) == 31  # every day of March
    for day, flights in scored.groupby("flight_date"):
        row = daily.loc[day]
        assert row["scored_flight_count"] == len(flights)
        assert row["observed_delay_rate"] == pytest.approx(flights["is_delayed"].mean(), abs=1e-12)
        assert row["roc_auc"] == pytest.approx(roc_auc_score(flights["is_delayed"], flights["delay_probability"]))
        assert row["brier_score"] == pytest.approx(
            brier_score_loss(flights["is_delayed"], flights["delay_probability"])
        )

    drift = spark.table(model_relation("model_feature_drift")).where(F.col("model_version") == version).toPandas()
    roles = feature_roles()
    by_date = {name for name, meta in column_meta("flight_features").items() if meta.get("drift") == "by_date"}
    assert by_date == {"month_of_year", "day_of_week"}
    assert set(drift["feature_name"]) == set(roles.categorical + roles.numeric) - by_date
    assert len(drift) == 31 * len(set(drift["feature_name"]))
    # The carriers of the week to 31 March against those of the flights before March, in pandas.
    last_day = max(scored["flight_date"])
    week = scored[scored["flight_date"] > last_day - pd.Timedelta(days=7)]["carrier_code"].value_counts(normalize=True)
    learned = features.where(F.col("flight_date") < test_from).select("carrier_code").toPandas()
    reference = learned["carrier_code"].value_counts(normalize=True)
    shares = pd.concat([week, reference], axis=1, keys=["week", "reference"]).fillna(0).clip(lower=1e-4)
    expected = ((shares["week"] - shares["reference"]) * np.log(shares["week"] / shares["reference"])).sum()
    carrier = drift[(drift["feature_name"] == "carrier_code") & (drift["flight_date"] == last_day)]
    assert carrier["population_stability_index"].item() == pytest.approx(expected)

    summary.main([])
    printed = capsys.readouterr().out
    assert f"monitoring {version}, {last_day}: {len(scored[scored['flight_date'] == last_day]):,} flights" in printed
    assert "calibration by decile, predicted/observed: " in printed and "drift over the week to" in printed


def test_training_on_an_old_delta_version_reproduces_its_metrics(spark, dbt, trained):
    dbt("run", "--select", "flight_features")  # a newer version of the features table
    assert read_features(spark)[1] > trained["features_delta_version"]

    again = train.main([*TRAINED_ARGS, "--as-of-version", str(trained["features_delta_version"])])

    assert again["features_delta_version"] == trained["features_delta_version"]
    # Equal up to the order Spark happens to sum floating-point partials in (last digits).
    for model_name, metrics in trained["test_metrics"].items():
        assert again["test_metrics"][model_name] == pytest.approx(metrics, rel=1e-9, abs=1e-12)


def test_explore_profiles_the_features_with_pandas_on_spark(built, tmp_path, capsys):
    report = explore.main(["--output", str(tmp_path / "profile.png")])

    assert report.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "delayed share: 0." in printed and "origin_prior_delayed_share" in printed


def test_the_summary_reports_tables_tests_model_and_where_to_look(trained, dbt, monkeypatch, capsys):
    from lakehouse import summary

    monkeypatch.setenv("DBT_TARGET_PATH", str(dbt.target_path))
    summary.main([])
    report = capsys.readouterr().out
    assert re.search(r"features\.flight_features\s+delta\s+[\d,]+\s+\d+", report)
    assert re.search(r"dbt \w+: .*success \d+", report), report  # the last dbt command's own results
    chosen = f"{trained['estimator']} (tuned)"
    chosen_auc = trained["test_metrics"][chosen]["roc_auc"]
    # The newest model: the one trained here, or its retrained twin from the time-travel test (same metrics).
    assert re.search(r"model v\d+ on features.flight_features \(test from 2013-03-01\), ROC AUC: ", report), report
    assert f"{chosen} {chosen_auc:.4f}" in report
    assert "base rate 0.5000" in report and "mlflow ui --backend-store-uri sqlite:///" in report

    summary.main(["--checksums", "features.flight_features"])
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert listed[0] == "features.flight_features" and "raw.flights" not in listed
    with pytest.raises(LakehouseError, match=r"^no table raw.nope: name one that `lakehouse summary` lists"):
        summary.main(["raw.nope"])


def test_an_unexpected_failure_ends_in_one_line_with_the_trace_in_the_log(lakehouse_home, capsys):
    from lakehouse.entry import run
    from lakehouse.paths import error_log

    def broken(argv):
        raise ValueError("no such thing\nand a second line nobody needs")

    with pytest.raises(SystemExit):
        run(broken, [])
    message = capsys.readouterr().err
    assert message == f"error: ValueError: no such thing (full trace in {error_log()})\n"
    assert "Traceback" in error_log().read_text() and "a second line nobody needs" in error_log().read_text()


def test_a_feature_added_in_sql_and_yml_alone_is_trained_on(spark, built, tmp_path, monkeypatch):
    """The manifest is the contract: a new numeric column in flight_features.sql and its yml entry with its role,
    in a copy of the project (built into its own schema), reaches the model without a line of Python."""
    from dbt.cli.main import dbtRunner

    project = tmp_path / "project"
    for folder in ("models", "macros", "seeds", "tests/dbt"):
        shutil.copytree(PROJECT_ROOT / folder, project / folder)
    settings = (PROJECT_ROOT / "dbt_project.yml").read_text()
    (project / "dbt_project.yml").write_text(settings.replace("+schema: features\n", "+schema: features_added\n"))
    model_sql = project / "models" / "features" / "flight_features.sql"
    hour = "hour(departed.scheduled_departure_at) as scheduled_hour,\n"
    model_sql.write_text(
        model_sql.read_text().replace(hour, hour + "minute(departed.scheduled_departure_at) as scheduled_minute,\n")
    )
    model_yml = project / "models" / "features" / "_features__models.yml"
    entry = "      - name: scheduled_hour\n"
    added = (
        "      - name: scheduled_minute\n        data_type: int\n        meta: {role: numeric, from: staging}\n"
        "        description: Minutes past the hour of the scheduled departure.\n"
    )
    model_yml.write_text(model_yml.read_text().replace(entry, added + entry))
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))

    built_copy = dbtRunner().invoke(
        ["run", "--select", "flight_features", "--project-dir", str(project), "--profiles-dir", str(PROJECT_ROOT)]
        + ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    )
    assert built_copy.success, built_copy.exception
    metadata = train.main(TRAINED_ARGS)

    assert metadata["features_table"] == "features_added.flight_features"
    assert "scheduled_minute" in metadata["feature_columns"]["numeric"]
    model, _ = model_store.load(metadata["model_version"])
    assembler = next(stage for stage in model.stages if type(stage).__name__ == "VectorAssembler")
    assert "scheduled_minute" in assembler.getInputCols()


def test_the_model_benchmark_scores_every_tool_on_the_same_test_flights(spark, built, tmp_path):
    from lakehouse.bench import ml_benchmark
    from lakehouse.bench.benchmark import GB

    ml_benchmark.export(ml_benchmark.export_dir(), date(2013, 2, 1), date(2013, 3, 1))
    runs = [ml_benchmark.run_tool(tool, timeout=600, memory_limit=20 * GB, quick=True) for tool in ml_benchmark.TOOLS]
    assert {run.tool: run.status for run in runs} == dict.fromkeys(ml_benchmark.TOOLS, "ok")

    march = spark.table("features.flight_features").where(F.month("flight_date") == 3)
    march_flights = {row["flight_id"] for row in march.select("flight_id").collect()}
    for run in runs:
        scores = pd.read_parquet(ml_benchmark.scores_path(run.tool))
        assert set(scores["flight_id"]) == march_flights and len(scores) == len(march_flights)
        assert scores["p_delayed"].between(0, 1).all()
        assert 0.65 < run.metrics["roc_auc"] < 0.95 and run.fit_seconds > 0 and run.peak_gb > 0

    assert runs[0].params["estimator"] in {"GBT", "XGBoost"} and runs[1].params["estimator"] == "GBT"
    report = ml_benchmark.table(runs)
    assert all(label in report for label, _, _ in ml_benchmark.TOOLS.values())
    ml_benchmark.roc_chart(runs, tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 10_000
