"""The student's and the instructor's workflow in JupyterLab, driven in a real browser.

Two JupyterLab servers on 127.0.0.1 (autograder/lab.py), each with a throwaway token and home,
share a temporary nbgrader exchange:

0. the instructor releases the assignment from the Formgrader panel;
1. the student fetches it in the Assignments panel, opens it, runs all cells, presses Validate
   (a clear message, no hidden test text) and submits;
2. the instructor collects, autogrades and sees the grade, then generates and releases feedback;
3. the student fetches the feedback and reads it.

The student's "work" is the instructor's solution for the cells of the notebook's partial
sample, written into the fetched notebook: the grade must be exactly that sample's points.
Screenshots of each step go to _build/test-artifacts/jupyterlab/. Headless Debian Chromium
(/usr/bin/chromium) driven by Playwright; no browser is downloaded.
"""
from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import nbformat
import pytest

from autograder import lab, pipeline
from conftest import REPO

pytestmark = pytest.mark.xdist_group("lab")

ASSIGNMENT = "preprocessing"   # a small assignment keeps the run short
STUDENT = "alice"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "_build" / "test-artifacts" / "jupyterlab"
UI_MS = 60_000        # panels and buttons (a loaded 2-core machine is slow)
RUN_MS = 300_000      # running the notebook: run all, Validate, autograde
# nbgrader's feedback page loads MathJax 2 from this CDN (nbconvert's HTMLExporter.mathjax_url):
# offline, its maths shows as TeX source. Tolerated on that page only, and reported.
FEEDBACK_MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"


def hidden_test_lines(source_nb) -> list[str]:
    """Lines of the instructor's hidden test blocks that are specific enough to spot a leak."""
    lines, inside = [], False
    for cell in source_nb.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 25:
                lines.append(line.strip())
    return lines


def leaks(text: str, hidden: list[str]) -> list[str]:
    found = [line for line in hidden if line in text]
    if "HIDDEN TESTS" in text or "hidden:" in text:
        found.append("a hidden-test marker")
    return found


def do_student_work(path: Path, source_nb, grade_ids: set[str]) -> None:
    """Put the instructor's code into the named solution cells of the fetched notebook."""
    nb = nbformat.read(path, as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in grade_ids:
            cell.source = solutions[gid]
    nbformat.write(nb, path)


class Browser:
    """One browser context for one user: records uncaught page errors and every request to a
    host other than 127.0.0.1 (aborted: the course must work offline)."""

    def __init__(self, browser, name: str):
        self.name = name
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.set_default_timeout(UI_MS)
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.tolerated: str | None = None   # a remote URL prefix allowed (and noted) for now
        self.context.route(lambda url: not lab_local(url), self._abort_remote)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))

    def _abort_remote(self, route):
        url = route.request.url
        if self.tolerated and url.startswith(self.tolerated):
            self.notes.append(f"{self.page.url.split('?')[0]} requested {url} (blocked)")
        else:
            self.problems.append(f"request to a remote host from {self.page.url.split('?')[0]}: {url}")
        route.abort()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()


def lab_local(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname == lab.HOST


def open_formgrader(user: Browser, server: lab.LabServer):
    """JupyterLab with the Formgrader panel open; returns the panel's frame."""
    user.page.goto(server.url("lab?formgrader=true"))
    return user.page.frame_locator("#formgrader-iframe iframe").first


def close_modal(frame, expect: str) -> str:
    """Read the Formgrader's result dialog, check it reports success, close it."""
    modal = frame.locator(".modal-dialog")
    modal.wait_for(timeout=RUN_MS)
    text = modal.inner_text()
    assert expect in text, f"Formgrader said:\n{text}"
    modal.locator(".modal-footer button").click()
    modal.wait_for(state="hidden")
    frame.locator(".modal-backdrop").wait_for(state="detached")
    return text


def menu(page, top: str, item: str) -> None:
    """Click JupyterLab's menu bar entry `top`, then its item `item` (exact labels)."""
    page.locator(".lm-MenuBar-itemLabel").filter(has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(f"^{re.escape(item)}$")).click()


def open_assignment_list(user: Browser, server: lab.LabServer) -> None:
    """JupyterLab, then the Nbgrader menu's Assignment List, as a student would."""
    user.page.goto(server.url("lab"))
    menu(user.page, "Nbgrader", "Assignment List")
    user.page.locator("#nbgrader-assignment-list").wait_for()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium ('make test' does)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with the assignment's student version generated."""
    folder = tmp_path_factory.mktemp("lab-course") / "course"
    pipeline.release(folder, [ASSIGNMENT])
    return folder


def test_student_and_instructor_workflow(browser, course, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    source = pipeline.source_notebook(course, ASSIGNMENT)
    hidden = hidden_test_lines(source)
    assert hidden, "the assignment has no hidden tests: the leak checks would prove nothing"
    partial = set(source.metadata["course"]["partial_sample"])
    expected = pipeline.expected_partial_score(source)
    max_score = sum(c.metadata["nbgrader"]["points"] for c in source.cells
                    if c.metadata.get("nbgrader", {}).get("grade"))

    exchange = tmp_path / "exchange"
    instructor = lab.setup_instructor(tmp_path / "instructor", course, exchange)
    student = lab.setup_student(tmp_path / STUDENT, exchange, STUDENT)
    servers = [lab.LabServer(instructor), lab.LabServer(student)]
    users: list[Browser] = []
    listening: set = set()
    steps: dict[str, float] = {}
    start = last = time.perf_counter()

    def step(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps[name] = now - last
        last = now

    finished = False
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
            server.launch()
        for server in servers:
            server.wait_ready()
        step("servers up")
        teacher, pupil = Browser(browser, "instructor"), Browser(browser, "student")
        users += [teacher, pupil]
        stack.callback(teacher.close)
        stack.callback(pupil.close)
        try:
            # 0. The instructor releases the assignment from the Formgrader panel.
            fg = open_formgrader(teacher, servers[0])
            row = fg.locator("#main-table tr", has_text=ASSIGNMENT)
            row.locator("td.release a").click()
            close_modal(fg, f"Successfully released '{ASSIGNMENT}'")
            teacher.shot("01-instructor-released")
            step("release")

            # 1. The student fetches, works, runs all, validates and submits.
            open_assignment_list(pupil, servers[1])
            released = pupil.page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
            released.locator("button", has_text="Fetch").wait_for()
            pupil.shot("02-student-assignments")
            released.locator("button", has_text="Fetch").click()
            fetched = pupil.page.locator("#fetched_assignments_list > .list_item", has_text=ASSIGNMENT)
            fetched.locator("button", has_text="Submit").wait_for()
            notebook = student.root / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            assert notebook.is_file(), f"Fetch did not put {notebook} in the student's home"
            do_student_work(notebook, source, partial)
            fetched.locator("a.assignment-notebooks-link").click()
            pupil.shot("03-student-fetched")
            fetched.locator(".nested_list_item a", has_text=ASSIGNMENT).click()
            step("fetch")

            page = pupil.page
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
            # The kernel is connected once the status bar names it as idle.
            page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=RUN_MS)
            menu(page, "Run", "Run All Cells")
            # Run All stops at the first exercise left undone (its test raises NotImplementedError).
            page.locator(".jp-OutputArea-output", has_text="NotImplementedError").first.wait_for(timeout=RUN_MS)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=RUN_MS)
            pupil.shot("04-student-run-all")
            step("run all")

            page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
            dialog = page.locator(".jp-Dialog-content")
            dialog.wait_for(timeout=RUN_MS)
            message = dialog.inner_text()
            pupil.shot("05-student-validate")
            page.locator(".jp-Dialog-footer button").last.click()
            dialog.wait_for(state="hidden")
            step("validate")

            page.locator(".lm-TabBar-tab", has_text="Assignments").click()
            fetched.locator("button", has_text="Submit").click()
            submitted = page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT)
            submitted.first.wait_for()
            pupil.shot("06-student-submitted")
            step("submit")

            # 2. The instructor collects, autogrades, sees the grade and releases feedback.
            fg = open_formgrader(teacher, servers[0])
            row = fg.locator("#main-table tr", has_text=ASSIGNMENT)
            row.locator("td.collect a").click()
            close_modal(fg, f"Successfully collected submissions of '{ASSIGNMENT}'")
            row.locator("td.num-submissions a").click()
            sub = fg.locator("tr", has_text=STUDENT)
            sub.locator("td.autograde a").click()
            close_modal(fg, f"Successfully autograded '{ASSIGNMENT}' for student '{STUDENT}'")
            score_cell = sub.locator("td.score")
            score_cell.wait_for()
            score_text = score_cell.inner_text().strip()
            teacher.shot("07-instructor-autograded")
            step("collect + autograde")
            sub.locator("td.generate-feedback a").click()
            close_modal(fg, "Success")
            sub.locator("td.release-feedback a").click()
            close_modal(fg, "Success")
            teacher.shot("08-instructor-feedback-released")
            step("feedback")

            # 3. The student fetches the feedback and reads it.
            open_assignment_list(pupil, servers[1])
            submitted.locator("button", has_text="Fetch Feedback").click()
            feedback_files = []
            deadline = time.monotonic() + UI_MS / 1000
            while not feedback_files and time.monotonic() < deadline:
                feedback_files = sorted((student.root / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
                time.sleep(0.5)
            pupil.shot("09-student-feedback-fetched")
            assert feedback_files, "Fetch Feedback put no feedback in the student's home"
            relative = feedback_files[-1].relative_to(student.root).as_posix()
            pupil.tolerated = FEEDBACK_MATHJAX
            page.goto(servers[1].url(f"files/{relative}"))
            feedback_text = page.locator("body").inner_text()
            pupil.shot("10-student-feedback")

            # While kernels run: the servers and their kernels listen on loopback only.
            listening = servers[0].listening() | servers[1].listening()
            step("fetch feedback")
            finished = True
        finally:
            if not finished:   # what each user saw when it went wrong
                for user in users:
                    with contextlib.suppress(Exception):
                        user.shot(f"failed-{user.name}")
    step("stop")
    print(f"JupyterLab workflow: {time.perf_counter() - start:.0f} s ("
          + ", ".join(f"{name} {sec:.0f} s" for name, sec in steps.items())
          + f"); listening sockets of the servers and kernels: {sorted(listening)}")
    for note in pupil.notes:
        print(f"note: {note}")

    # The servers (and their kernels) are gone.
    for server in servers:
        assert server.proc.poll() is not None, f"the {server.user.role}'s server still runs"
        assert not server.answers(), f"port {server.port} still answers after the server stopped"
    assert listening and all(addr == lab.HOST for addr, _ in listening), \
        f"something listens beyond 127.0.0.1: {sorted(listening)}"
    problems = [f"{u.name}: {p}" for u in users for p in u.problems]
    assert not problems, "\n".join(problems)

    # Run All stopped at the first unfinished exercise, with the error in a test cell.
    ran = nbformat.read(notebook, as_version=4)
    first_error = next((i for i, c in enumerate(ran.cells) if c.cell_type == "code" and any(
        o.output_type == "error" for o in c.get("outputs", []))), None)
    assert first_error is not None, "Run All saved no error: the stubbed exercises did not raise"
    error = next(o for o in ran.cells[first_error].outputs if o.output_type == "error")
    assert error.ename == "NotImplementedError", f"first error is {error.ename}: {error.evalue}"
    assert len(ran.cells) == len(source.cells), "the student's notebook lost or gained cells"
    expected_cell = next(i for i, c in enumerate(source.cells)
                         if c.metadata.get("nbgrader", {}).get("grade")
                         and not set(c.metadata["course"]["needs"]) <= partial)
    assert first_error == expected_cell, \
        f"Run All first failed in cell {first_error}, expected the first unfinished exercise's test (cell {expected_cell})"
    unrun = [i for i, c in enumerate(ran.cells[:first_error])
             if c.cell_type == "code" and c.source.strip() and c.execution_count is None]
    assert not unrun, f"cells {unrun} before the first unfinished exercise did not run"

    # Validate: a clear message naming what failed, and no hidden test.
    assert "failed" in message.lower() and "NotImplementedError" in message, \
        f"Validate's message does not say what failed:\n{message[:2000]}"
    assert not leaks(message, hidden), f"Validate shows hidden tests: {leaks(message, hidden)}"

    # The grade: the Formgrader shows it, and the gradebook holds it.
    assert score_text == f"{expected:g} / {max_score:g}", \
        f"Formgrader shows {score_text!r}, expected {expected:g} / {max_score:g}"
    scores = pipeline.cell_scores(course, ASSIGNMENT)[STUDENT]
    assert sum(s for s, _ in scores.values()) == expected, scores

    # The feedback: the score, and no hidden test.
    assert f"{expected:g}" in feedback_text and ASSIGNMENT in feedback_text, feedback_text[:1000]
    assert not leaks(feedback_text, hidden), f"the feedback shows hidden tests: {leaks(feedback_text, hidden)}"

    shots = sorted(p.name for p in ARTIFACTS.glob("[0-9]*.png"))
    assert len(shots) == 10, f"screenshots missing: {shots}"
