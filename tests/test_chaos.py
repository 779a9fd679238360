"""The kill campaign's pieces on real processes: a load killed between its bronze and its quarantine commit is
refused by the build and completed by the next load, with every table as a clean run leaves it. The whole campaign
(`lakehouse chaos`, about an hour) is not part of the suite; its figures are in docs/faults.md."""

import subprocess

from lakehouse.chaos import Campaign, deltalake_problems, fingerprint_problems, moments, writers
from lakehouse.paths import PROJECT_ROOT
from tests.conftest import venv_command


def test_the_campaign_plans_pause_points_first_then_the_same_moments_for_the_same_seed(tmp_path):
    planned = moments(writers(tmp_path), {"ingest": 40.0, "build": 100.0}, kills=6, seed=7)
    named = [(writer.name, moment) for writer, moment in planned]

    assert named[:3] == [
        ("ingest", "ingest:between flights and quarantine"),
        ("build", named[1][1]),
        ("ingest", "ingest:between weather and quarantine"),
    ]
    assert all(5.0 <= moment <= 95.0 for name, moment in named if name == "build")
    assert all(2.0 <= moment <= 38.0 for name, moment in named[4:] if name == "ingest")
    assert planned == moments(writers(tmp_path), {"ingest": 40.0, "build": 100.0}, kills=6, seed=7)


def test_a_load_killed_between_its_commits_stops_the_build_until_the_next_load_completes_it(lakehouse_home, tmp_path):
    campaign = Campaign(tmp_path / "home", months={1})
    campaign.writers = {"ingest": campaign.writers["ingest"]}
    campaign.prepare()
    reference = campaign.fingerprint()
    ingest = campaign.writers["ingest"]

    campaign.kill(ingest, "ingest:between flights and quarantine")
    assert deltalake_problems(reference) == []
    refused = subprocess.run(
        [venv_command("dbt"), "test", "--select", "test_name:every_load_finished"],
        env=campaign.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert refused.returncode == 1, refused.stdout[-2000:]
    assert "FAIL 1 source_every_load_finished_nycflights_flights_" in refused.stdout
    assert "PASS source_every_load_finished_nycflights_weather_" in refused.stdout

    campaign.run(ingest)
    assert fingerprint_problems(reference, campaign.fingerprint(), "after the next load") == []
