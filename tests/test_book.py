"""The site: strict build, offline maths, downloads, and no solutions anywhere in it."""
from __future__ import annotations

import re
import shutil

import pytest
import yaml

from autograder import leaks

from conftest import ASSIGNMENTS, REPO, copy_book, instructor_notebook, jupyter_book_build

pytestmark = pytest.mark.xdist_group("book")


def toc_files():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


def test_book_builds_with_warnings_as_errors(built_book):
    assert built_book.proc.returncode == 0, built_book.proc.stdout[-3000:] + built_book.proc.stderr[-3000:]
    for page in toc_files():
        assert (built_book.html / f"{page}.html").is_file(), page


def test_math_is_numbered_per_chapter_and_served_offline(built_book):
    page = (built_book.html / "book" / "preprocessing.html").read_text(encoding="utf-8")
    assert re.search(r'class="eqno">\(1\.1\)', page) and re.search(r'class="eqno">\(1\.3\)', page)
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', page, flags=re.I)
    assert scripts and all(not s.startswith(("http:", "https:", "//")) for s in scripts), scripts
    assert (built_book.html / "book" / scripts[0]).resolve().is_file()
    # No page loads a script or stylesheet from the network.
    for html in built_book.html.rglob("*.html"):
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:)?//[^"]+"', html.read_text(encoding="utf-8"))
        assert not remote, f"{html.name} loads {remote}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_each_chapter_links_its_student_download(built_book, name):
    page = (built_book.html / "book" / f"{name}.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]*_downloads/[^"]*\.zip)"', page)
    assert links, f"no download link on book/{name}.html"
    assert all((built_book.html / "book" / link).resolve().is_file() for link in links)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_no_solution_or_hidden_test_on_the_site(built_book, name):
    # The site holds every chapter's student notebook: a line that one chapter shows on
    # purpose (a visible test) is not a leak when it also appears in another's hidden tests.
    public = leaks.public_lines(instructor_notebook(a) for a in ASSIGNMENTS)
    secrets = leaks.secret_lines(instructor_notebook(name), public=public)
    assert secrets
    found = leaks.find_leaks(built_book.html, secrets)
    assert not found, f"solution or hidden-test text on the site: {found[:3]}"
    assert not (built_book.html / "_sources").exists(), "page sources must not be published"


def test_a_broken_reference_or_missing_file_fails_the_build(tmp_path):
    folder = copy_book(tmp_path / "src")
    shutil.rmtree(folder / "book")
    (folder / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    for body, what in [("See {ref}`no-such-label`.\n", "broken reference"),
                       ("{download}`data <missing.zip>`\n", "missing file")]:
        (folder / "index.md").write_text(f"# Test\n\n{body}")
        proc = jupyter_book_build(folder, tmp_path / "out")
        assert proc.returncode != 0, f"a {what} must fail the strict build"
