"""Docs, README and code point only at files that are in the repository.

A reader following ``see docs/x.md``, a Markdown link or ``(REFERENCES.md)`` must find it here: not in
another checkout, not on the author's machine. Checked: README.md and docs/**/*.md (links and
repository paths), and the product code's comments and docstrings (repository paths and ``*.md``
names). Placeholders (``sql/NNN_name.sql``, ``<x>``, ``*``) are not paths.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("docs", "components", "functions", "sandbox", "ops", "sql", "tests", "benchmarks", "examples", "publisher")
PRODUCT = ("components", "functions", "sandbox", "ops", "benchmarks")
CODE = [
    ROOT / "__main__.py",
    *(p for top in PRODUCT for p in sorted((ROOT / top).rglob("*.py"))),
    *sorted((ROOT / "sql").rglob("*.sql")),
]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
REPO_PATH = re.compile(r"(?<![\w./-])(?:" + "|".join(TOP) + r")/[\w./-]*\w")
MARKDOWN_NAME = re.compile(r"(?<![\w./-])[\w-]+\.md\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"(?<![\w.])(?:\.\./|/work/|/home/|/tmp/|~/)[\w./-]+")


def _placeholder(path: str) -> bool:
    return any(mark in path for mark in ("NNN", "<", "*", "{", "xxx"))


def _problems(file: Path, text: str) -> list[str]:
    where = file.relative_to(ROOT)
    found = [f"{where}: {m.group(0)} is outside the repository" for m in OUTSIDE.finditer(text)]
    for match in REPO_PATH.finditer(text):
        path = match.group(0).rstrip(".")
        if not _placeholder(path) and not (ROOT / path).exists():
            found.append(f"{where}: {path} does not exist")
    names = {p.name for p in DOCS} | {"README.md"}
    for match in MARKDOWN_NAME.finditer(text):
        if match.group(0) not in names:
            found.append(f"{where}: {match.group(0)} is not a document of this repository")
    return found


def test_docs_and_readme_link_only_to_files_in_the_repository() -> None:
    problems = []
    for doc in DOCS:
        text = doc.read_text()
        problems += _problems(doc, text)
        for target in MARKDOWN_LINK.findall(text):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (doc.parent / target.split("#", 1)[0]).exists():
                problems.append(f"{doc.relative_to(ROOT)}: link ({target}) leads nowhere")
    assert problems == []


def test_code_comments_name_only_files_in_the_repository() -> None:
    problems = []
    for file in CODE:
        problems += _problems(file, file.read_text())
    assert problems == []


def test_the_checks_see_what_they_look_for() -> None:
    text = "see docs/limits.md and (REFERENCES.md) and /work/shared/REFERENCES.md, sql/NNN_name.sql is fine"
    found = _problems(ROOT / "README.md", text)
    assert any("docs/limits.md does not exist" in p for p in found)
    assert any("REFERENCES.md is not a document" in p for p in found)
    assert any("/work/shared/REFERENCES.md is outside" in p for p in found)
    assert not any("NNN" in p for p in found)
