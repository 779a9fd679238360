"""The dbt docs site as a person sees it: `dbt docs serve` on loopback in a child process, and Debian's headless
Chromium, driven by Playwright, opening a model's lineage graph, reading which nodes it drew and saving a
screenshot. Playwright never downloads a browser of its own here: it is pointed at /usr/bin/chromium.

`python -m lakehouse.docs_site` screenshots the lineage of `flight_features` from the docs in `target/` (run
`dbt docs generate` first); `make docs-images` uses it for the pictures in docs/.
"""

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakehouse.entry import run
from lakehouse.errors import BrowserMissingError, InputMissingError, ServerError
from lakehouse.paths import PROJECT_ROOT
from lakehouse.servers.daemons import free_port

CHROMIUM = Path("/usr/bin/chromium")
# No network but loopback here, and nothing to sync or update: keep Chromium from trying.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 900}

FLIGHT_FEATURES = "model.nycflights.flight_features"
# The lineage graph's default selection for a model is `+model+`: its ancestors and descendants. The predictions
# source is neither (a dbt source has no parents: ml/score.py writes it), so add everything the scoring step
# reads to draw the chain from raw data to predictions.
FULL_CHAIN_SELECTION = "+flight_features+ +exposure:flight_delay_scoring"

# Nodes the graph has drawn: visible and inside the canvas. Cytoscape, which draws the graph, keeps its
# instance on its container element.
_DRAWN_NODES_JS = """() => {
    const container = Array.from(document.querySelectorAll('*')).find(e => e._cyreg && e.offsetWidth > 600);
    if (!container) return null;
    const cy = container._cyreg.cy;
    return cy.nodes().filter(n => n.visible()).map(n => {
        const box = n.renderedBoundingBox();
        const inside = box.x1 >= 0 && box.y1 >= 0 && box.x2 <= cy.width() && box.y2 <= cy.height();
        return [n.id(), inside, Math.round(box.x1), Math.round(box.y1)];
    });
}"""


@contextmanager
def served(target_dir: Path, timeout: float = 60) -> Iterator[str]:
    """`dbt docs serve` on 127.0.0.1 for the docs in target_dir; yields the site's URL, always stops the server."""
    port = free_port()
    log_dir = target_dir.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    server_log = log_dir / "docs_serve.out"
    with server_log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dbt.cli.main",
                "docs",
                "serve",
                "--no-browser",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--project-dir",
                str(PROJECT_ROOT),
                "--profiles-dir",
                str(PROJECT_ROOT),
                "--target-path",
                str(target_dir),
                "--log-path",
                str(log_dir),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, server_log, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(url: str, process: subprocess.Popen, server_log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"dbt docs serve exited with {process.returncode}: {server_log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/catalog.json", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise ServerError(f"dbt docs serve did not answer on {url} within {timeout:.0f} s")


@contextmanager
def browser_page() -> Iterator["playwright.sync_api.Page"]:  # noqa: F821
    """A page in Debian's headless Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def drawn_nodes(page, timeout: float = 30) -> list[str]:
    """Unique ids of the nodes the lineage graph has drawn, once its layout has stopped moving."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        current = page.evaluate(_DRAWN_NODES_JS)
        if current and current == previous:
            return sorted(node_id for node_id, inside, _, _ in current if inside)
        previous = current
        page.wait_for_timeout(500)
    raise TimeoutError(f"the lineage graph did not settle within {timeout:.0f} s (last seen: {previous})")


def open_lineage(page, url: str, unique_id: str) -> list[str]:
    """Open a node's page, then its lineage graph full screen (the button at the bottom right, then "View
    Fullscreen"); returns the nodes drawn."""
    page.goto(f"{url}/#!/{unique_id.split('.')[0]}/{unique_id}")
    page.click("[ng-click='onLauncherClick()']")  # "View Lineage Graph"
    page.click("[ng-click='showExpanded()']")  # "View Fullscreen"
    return drawn_nodes(page)


def select_lineage(page, selection: str) -> list[str]:
    """Type a selection into the graph's --select box and press "Update Graph"; returns the nodes drawn."""
    page.fill("input[ng-model='selectorService.selection.dirty.include']", selection)
    page.click("text=Update Graph")
    page.wait_for_function(
        "s => document.querySelector(\"input[ng-model='selectorService.selection.dirty.include']\").value === s",
        arg=selection,
    )
    return drawn_nodes(page)


def screenshot_full_chain(url: str, output: Path) -> list[str]:
    """The lineage of flight_features from raw data to the predictions, saved as a PNG; returns the nodes drawn."""
    with browser_page() as page:
        open_lineage(page, url, FLIGHT_FEATURES)
        drawn = select_lineage(page, FULL_CHAIN_SELECTION)
        output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(output))
    return drawn


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--target-path",
        type=Path,
        default=PROJECT_ROOT / "target",
        help="dbt's target folder with the generated docs (default: target/)",
    )
    parser.add_argument("--output", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    if not (args.target_path / "catalog.json").exists():
        raise InputMissingError(f"no docs in {args.target_path}: run `dbt docs generate` first")
    if not CHROMIUM.exists():
        raise BrowserMissingError(f"{CHROMIUM} not found: run `make browser` (as root it installs Debian's chromium)")
    with served(args.target_path.resolve()) as url:
        drawn = screenshot_full_chain(url, args.output)
    print(f"lineage of flight_features ({len(drawn)} nodes) saved to {args.output}")
    return drawn


if __name__ == "__main__":
    run(main)
