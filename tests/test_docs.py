"""Every relative link and every file path that README.md and docs/ name exists in the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# a path in backticks: folders and a file name with one of the repository's extensions
PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|md|yml|yaml|csv|png|txt|toml|json))`")
# paths that commands in the docs write (outputs), not files of the repository
WRITTEN = re.compile(r"^(OUT|DIR|report|logs|runs|compare_\w+|mujoco\w*_screen|preset_sweep|ddim_sweep|results)/")


def page_ids(pages: list[Path]) -> list[str]:
    return [str(page.relative_to(ROOT)) for page in pages]


@pytest.mark.parametrize("page", PAGES, ids=page_ids(PAGES))
def test_relative_links_resolve(page: Path):
    missing = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = target.split("#", 1)[0]
        if path and not (page.parent / path).exists():
            missing.append(target)
    assert not missing, f"{page.name} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_ids(PAGES))
def test_named_file_paths_exist(page: Path):
    missing = []
    for path in PATH.findall(page.read_text()):
        if WRITTEN.match(path) or "<" in path:
            continue
        if not ((ROOT / path).exists() or (page.parent / path).exists()):
            missing.append(path)
    assert not missing, f"{page.name} names missing files: {missing}"
