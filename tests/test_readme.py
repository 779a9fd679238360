"""The front page and the docs/ pages stay true to the tree: every link resolves, to a heading where it names one;
every `lakehouse`, `make` and `python ml/...` command they show exists; and the README stays a front page."""

import re
from pathlib import Path

import pytest

from lakehouse.cli import COMMANDS
from lakehouse.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
PAGES = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
FRONT_PAGE_LINES = 250

LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)


def slug(heading: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")}


def code(page: Path) -> str:
    return "\n".join(CODE.findall(page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_ROOT)))
def test_every_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_ROOT)))
def test_every_command_shown_exists(page):
    shown = code(page)
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    assert set(re.findall(r"(?:^|[\s(`])lakehouse ([a-z][\w-]*)", shown)) <= set(COMMANDS)
    assert set(re.findall(r"(?:^|[\s(`])make ([a-z][\w-]*)", shown)) <= targets
    scripts = re.findall(r"python (ml/\w+\.py)", shown)
    assert [script for script in scripts if not (PROJECT_ROOT / script).is_file()] == []


def test_the_readme_is_a_front_page_that_links_every_docs_page():
    text = README.read_text()
    assert len(text.splitlines()) <= FRONT_PAGE_LINES
    assert {page.name for page in PAGES[1:]} <= set(re.findall(r"\]\(docs/([\w-]+\.md)\)", text))
