"""The dbt docs, as a reader meets them.

Without Spark (`dbt parse` only): every model, seed, source and exposure is described, and every declared column
of the staging models and of flight_features; shared definitions are written once, in `{% docs %}` blocks, and
used wherever their column appears; the overview page says how to run the layers; the lineage runs from raw
data to the ml/ exposures, coloured by layer.

On the January–March slice: `dbt docs generate` catalogues every table with its column types and every built
column of those models is described; the site, served on loopback, draws the lineage of flight_features in
headless Chromium from the raw sources to the training and scoring steps and the predictions they write.
"""

import json
import os
import subprocess

import pytest

from lakehouse import docs_site
from lakehouse.paths import PROJECT_ROOT, state_home
from tests.conftest import dbt_command

PROJECT = "nycflights"
FLIGHT_FEATURES = f"model.{PROJECT}.flight_features"
# The definitions the project leans on: the flight key, the scheduled departure, the label, the history features.
SHARED_DEFINITIONS = {
    "flight_id",
    "scheduled_departure_at",
    "is_delayed",
    "origin_prior_departure_count",
    "origin_prior_mean_delay_minutes",
    "origin_prior_delayed_share",
    "route_prior_departure_count",
    "route_prior_delayed_share",
}
UPSTREAM = {
    f"source.{PROJECT}.nycflights.flights",
    f"source.{PROJECT}.nycflights.weather",
    f"model.{PROJECT}.stg_nycflights__flights",
    f"model.{PROJECT}.stg_nycflights__weather",
    f"model.{PROJECT}.int_flights_joined_weather",
    f"model.{PROJECT}.int_flights_prior_origin_departures",
    f"model.{PROJECT}.int_routes_monthly_delay_history",
}
TRAINING = f"exposure.{PROJECT}.flight_delay_training"
SCORING = f"exposure.{PROJECT}.flight_delay_scoring"
SERVICE = f"exposure.{PROJECT}.flight_delay_service"
PREDICTIONS = f"source.{PROJECT}.ml.predictions"
MONITORING = {
    f"model.{PROJECT}.model_daily_performance",
    f"model.{PROJECT}.model_calibration_by_decile",
    f"model.{PROJECT}.model_feature_drift",
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """`dbt parse` in a child process: the project's manifest, with no Spark session."""
    artifacts = tmp_path_factory.mktemp("dbt_parse")
    parsed = subprocess.run(dbt_command("parse", artifacts=artifacts), capture_output=True, text=True, timeout=300)
    assert parsed.returncode == 0, parsed.stdout[-3000:] + parsed.stderr[-3000:]
    return json.loads((artifacts / "target" / "manifest.json").read_text())


def project_nodes(manifest, *resource_types):
    return {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["package_name"] == PROJECT and node["resource_type"] in resource_types
    }


def read_models(manifest):
    """The models whose every column is documented: staging (what the sources mean), flight_features (what
    the model learns from) and monitoring (how it does)."""
    return {
        unique_id: node
        for unique_id, node in project_nodes(manifest, "model").items()
        if node["fqn"][1] in ("staging", "monitoring") or unique_id == FLIGHT_FEATURES
    }


def project_sources(manifest):
    return {uid: source for uid, source in manifest["sources"].items() if source["package_name"] == PROJECT}


def ancestors(manifest, unique_id):
    found, todo = set(), [unique_id]
    while todo:
        for parent in manifest["parent_map"][todo.pop()]:
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def test_every_model_seed_source_and_exposure_is_described(manifest):
    nodes = project_nodes(manifest, "model", "seed")
    sources = project_sources(manifest)
    exposures = manifest["exposures"]
    assert len(nodes) >= 13 and len(sources) >= 4 and len(exposures) == 3  # the project, not an empty parse

    undescribed = [uid for uid, node in {**nodes, **exposures}.items() if not node["description"].strip()]
    undescribed += [uid for uid, source in sources.items() if not source["description"].strip()]
    undescribed += [
        f"source {source['source_name']}" for source in sources.values() if not source["source_description"].strip()
    ]
    assert undescribed == []


def test_every_declared_column_of_staging_features_and_monitoring_is_described(manifest):
    models = read_models(manifest)
    assert len(models) == 12
    undescribed = [
        f"{node['name']}.{column['name']}"
        for node in models.values()
        for column in node["columns"].values()
        if not column["description"].strip()
    ]
    assert undescribed == []
    # flight_features' contract makes its yml list every column: the test on the built slice below checks the
    # staging models' real columns too.
    assert manifest["nodes"][FLIGHT_FEATURES]["contract"]["enforced"]
    assert len(manifest["nodes"][FLIGHT_FEATURES]["columns"]) == 42


def test_shared_definitions_are_written_once_and_used_wherever_their_column_appears(manifest):
    blocks = {
        doc["name"]: doc["block_contents"]
        for doc in manifest["docs"].values()
        if doc["package_name"] == PROJECT and doc["name"] != "__overview__"
    }
    assert SHARED_DEFINITIONS <= set(blocks)

    columns = [
        (f"{node['name']}.{name}", column)
        for node in [*project_nodes(manifest, "model", "seed").values(), *project_sources(manifest).values()]
        for name, column in node["columns"].items()
    ]
    # A column named after a block takes its text from the block, never from a copy.
    not_from_block = [
        where
        for where, column in columns
        if column["name"] in blocks and column["doc_blocks"] != [f"doc.{PROJECT}.{column['name']}"]
    ]
    assert not_from_block == []
    features = manifest["nodes"][FLIGHT_FEATURES]["columns"]
    assert all(features[name]["description"] == blocks[name].strip() for name in SHARED_DEFINITIONS)

    # Nor is any other description pasted onto two columns: text used twice belongs in a block.
    inline = {}
    for where, column in columns:
        if column["description"] and not column["doc_blocks"]:
            inline.setdefault(column["description"], []).append(where)
    assert [places for places in inline.values() if len(places) > 1] == []


def test_the_overview_page_explains_the_layers_and_how_to_run_them(manifest):
    overview = manifest["docs"][f"doc.{PROJECT}.__overview__"]
    assert overview["package_name"] == PROJECT
    text = overview["block_contents"]
    for layer in ("raw", "staging", "intermediate", "features", "ml", "monitoring"):
        assert f"| {layer}" in text, layer
    for command in ("make run", "dbt build", "python ml/train.py", "python ml/score.py", "dbt docs serve"):
        assert command in text, command


def test_the_lineage_runs_from_raw_data_through_features_to_the_ml_exposures(manifest):
    assert UPSTREAM | {FLIGHT_FEATURES} <= ancestors(manifest, TRAINING)
    assert UPSTREAM | {FLIGHT_FEATURES, PREDICTIONS} <= ancestors(manifest, SCORING)
    assert set(manifest["parent_map"][SCORING]) == {FLIGHT_FEATURES, PREDICTIONS}
    for exposure in (manifest["exposures"][TRAINING], manifest["exposures"][SCORING]):
        assert exposure["owner"]["name"] and exposure["owner"]["email"]
        script = exposure["meta"]["code"]
        assert (PROJECT_ROOT / script).is_file() and script in exposure["description"]
        assert exposure["meta"]["run"] == f"python {script}"
    service = manifest["exposures"][SERVICE]
    assert (PROJECT_ROOT / service["meta"]["code"]).is_file() and service["meta"]["run"] in service["description"]
    assert set(manifest["parent_map"][SERVICE]) == {FLIGHT_FEATURES}


def test_the_monitoring_models_read_the_predictions_and_the_outcomes(manifest):
    for model in MONITORING:
        assert {PREDICTIONS, FLIGHT_FEATURES} <= ancestors(manifest, model), model


def test_each_layer_has_its_own_colour_in_the_lineage_graph(manifest):
    colours = {}
    for node in project_nodes(manifest, "model", "seed").values():
        layer = node["fqn"][1] if node["resource_type"] == "model" else "seeds"
        colours.setdefault(layer, set()).add(node["docs"]["node_color"])
    assert set(colours) == {"seeds", "staging", "intermediate", "features", "monitoring"}
    assert all(len(layer_colours) == 1 and None not in layer_colours for layer_colours in colours.values())
    assert len({colour for layer_colours in colours.values() for colour in layer_colours}) == len(colours)


# On the built slice: the docs as `dbt docs generate` writes them, and the site in a browser.


@pytest.fixture(scope="module")
def generated(built, dbt):
    """`dbt docs generate` over the slice: the target folder, its manifest and its catalog."""
    dbt("docs", "generate")
    target = dbt.target_path
    return target, json.loads((target / "manifest.json").read_text()), json.loads((target / "catalog.json").read_text())


def test_the_catalog_lists_every_table_with_its_column_types(generated):
    _, manifest, catalog = generated
    assert catalog["errors"] is None
    tables = set(project_nodes(manifest, "model", "seed")) | {
        f"source.{PROJECT}.nycflights.{table}" for table in ("flights", "weather", "quarantine")
    }
    catalogued = {**catalog["nodes"], **catalog["sources"]}
    assert tables <= set(catalogued)
    assert all(
        catalogued[uid]["columns"] and all(column["type"] for column in catalogued[uid]["columns"].values())
        for uid in tables
    )
    # dbt-spark reads types from Spark's schema tree ("integer", "long") or from `describe` ("int", "bigint"),
    # depending on how the table was last written: the same types either way.
    spelling = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint"}
    catalogued_types = {
        name: spelling.get(column["type"], column["type"])
        for name, column in catalog["nodes"][FLIGHT_FEATURES]["columns"].items()
    }
    declared = {name: column["data_type"] for name, column in manifest["nodes"][FLIGHT_FEATURES]["columns"].items()}
    assert catalogued_types == declared


def test_every_built_column_of_staging_features_and_monitoring_is_described(generated):
    _, manifest, catalog = generated
    undescribed = [
        f"{node['name']}.{column}"
        for uid, node in read_models(manifest).items()
        for column in catalog["nodes"][uid]["columns"]
        if not node["columns"].get(column, {}).get("description", "").strip()
    ]
    assert undescribed == []


@pytest.fixture(scope="module")
def chromium():
    if docs_site.CHROMIUM.exists():
        return docs_site.CHROMIUM
    reason = f"{docs_site.CHROMIUM} not found: `make browser` installs Debian's chromium (as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI runs the browser test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(generated, chromium):
    """The generated docs served by `dbt docs serve` on 127.0.0.1, stopped after the module's tests."""
    with docs_site.served(generated[0]) as url:
        yield url


def test_the_overview_is_the_home_page(site):
    with docs_site.browser_page() as page:
        page.goto(site)
        page.wait_for_selector("h1:has-text('nycflights13 lakehouse')")
        assert page.locator("text=python ml/train.py").first.is_visible()


def test_the_lineage_of_flight_features_draws_raw_data_through_to_predictions(site):
    screenshot = state_home() / "screenshots" / "lineage_flight_features.png"
    with docs_site.browser_page() as page:
        # The graph as the button opens it: flight_features' ancestors and descendants.
        drawn = set(docs_site.open_lineage(page, site, FLIGHT_FEATURES))
        assert UPSTREAM | {FLIGHT_FEATURES, TRAINING, SCORING, SERVICE} | MONITORING <= drawn, drawn
        assert PREDICTIONS not in drawn  # a source has no parents: flight_features is not its ancestor

        drawn = set(docs_site.select_lineage(page, docs_site.FULL_CHAIN_SELECTION))
        assert UPSTREAM | {FLIGHT_FEATURES, TRAINING, SCORING, PREDICTIONS} | MONITORING <= drawn, drawn
        page.screenshot(path=str(screenshot))

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000
