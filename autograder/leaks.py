"""Find solution code or hidden tests where students could read them.

A *secret line* is a line that appears inside a ``### BEGIN SOLUTION`` / ``### END
SOLUTION`` or ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` region of an
instructor notebook and nowhere else in it (lines such as ``pass`` or ``else:`` that
also stand outside the regions are not secrets). Released notebooks, feedback and
the site are scanned for them after turning HTML back into text.
"""
from __future__ import annotations

import html
import json
import re
import zipfile
from pathlib import Path

REGIONS = {"solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
           "hidden": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")}
MIN_LENGTH = 16  # shorter lines are too generic to count as a leak
TAG = re.compile(r"<[^>]+>")


def _lines_by_region(nb) -> dict[str, set[str]]:
    """Stripped lines of every cell, grouped as 'solution', 'hidden' or 'outside'."""
    groups: dict[str, set[str]] = {"solution": set(), "hidden": set(), "outside": set()}
    for cell in nb.cells:
        region = "outside"
        for line in cell.source.split("\n"):
            marker = next(((kind, line.strip() == begin) for kind, (begin, end) in REGIONS.items()
                           if line.strip() in (begin, end)), None)
            if marker:
                region = marker[0] if marker[1] else "outside"
            elif line.strip():
                groups[region].add(line.strip())
    return groups


def public_lines(notebooks) -> set[str]:
    """Lines that stand outside every solution and hidden region of these notebooks."""
    return set().union(*(_lines_by_region(nb)["outside"] for nb in notebooks))


def secret_lines(nb, kinds=("solution", "hidden"), public: set[str] = frozenset()) -> set[str]:
    """Lines only found inside the given kinds of regions of the instructor notebook `nb`
    (and not among the `public` lines, e.g. another chapter's visible tests)."""
    groups = _lines_by_region(nb)
    secrets = set().union(*(groups[k] for k in kinds))
    elsewhere = set().union(*(v for k, v in groups.items() if k not in kinds)) | set(public)
    candidates = {s for s in secrets - elsewhere if len(s) >= MIN_LENGTH and not s.startswith("#")}
    # Leaks are found by substring, so a secret inside a longer public line is not one.
    return {s for s in candidates if not any(s in line for line in public)}


def as_text(raw: str) -> str:
    """HTML (or any text) with tags removed and entities decoded."""
    return html.unescape(TAG.sub("", raw))


def _json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def _decode(name: str, data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    if name.endswith((".ipynb", ".json")):
        try:  # JSON escapes quotes and newlines: search the decoded strings too
            return text + "\n" + "".join(_json_strings(json.loads(text)))
        except ValueError:
            pass
    return text


TEXT_SUFFIXES = {".html", ".htm", ".js", ".txt", ".ipynb", ".json", ".py", ".md", ".csv"}


def readable_texts(path: Path):
    """Yield (name, text) for a text file, or for each text member of a zip file."""
    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                yield f"{path}!{member}", _decode(member, zf.read(member))
    elif path.suffix in TEXT_SUFFIXES:
        yield str(path), _decode(path.name, path.read_bytes())


def find_leaks(folder_or_file: Path, secrets: set[str]) -> list[tuple[str, str]]:
    """(file, secret line) for every secret found in a file or under a folder."""
    root = Path(folder_or_file)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    found = []
    for path in files:
        for name, raw in readable_texts(path):
            text = as_text(raw)
            found += [(name, s) for s in secrets if s in raw or s in text]
    return found
