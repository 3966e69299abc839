"""nbgrader's exchange cycle on one machine, and the JupyterHub configuration (issue: grading a
real class). One cycle run is shared by the tests of this module (xdist group "exchange")."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import exchange, leaks, pipeline

NAME = "preprocessing"
STUDENTS = ("sample_solution", "sample_partial")
pytestmark = pytest.mark.xdist_group("exchange")


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    root = tmp_path_factory.mktemp("cycle")
    result = exchange.run_cycle(root / "course", root / "exchange", [NAME], homes=root / "homes",
                                jobs=2, students=STUDENTS)
    result["course"], result["exchange"] = root / "course", root / "exchange" / "ai-computing-systems"
    return result


def test_students_get_the_grades_of_what_they_submitted_last(cycle):
    source = pipeline.source_notebook(cycle["course"], NAME)
    rows = {r["student_id"]: r for r in csv.DictReader(open(cycle["csv"], encoding="utf-8"))}
    assert set(rows) == set(STUDENTS)
    assert float(rows["sample_solution"]["score"]) == float(rows["sample_solution"]["max_score"]) == 10
    # the partial student submitted twice; the newest (answers filled in) is the one graded
    assert float(rows["sample_partial"]["score"]) == pipeline.expected_partial_score(source) > 0


def test_every_submission_is_kept_in_the_exchange(cycle):
    inbound = sorted(p.name.split("+")[0] for p in (cycle["exchange"] / "inbound").iterdir())
    assert inbound == ["sample_partial", "sample_partial", "sample_solution"]


def test_each_student_fetches_only_their_own_feedback_without_hidden_tests(cycle):
    source = pipeline.source_notebook(cycle["course"], NAME)
    hidden = leaks.secret_lines(source, kinds=("hidden",))
    rows = {r["student_id"]: r for r in csv.DictReader(open(cycle["csv"], encoding="utf-8"))}
    for student in STUDENTS:
        pages = cycle["feedback"][student]
        assert len(pages) == 1, f"{student} fetched {pages}"
        page = pages[0]
        assert page.is_relative_to(cycle["homes"][student] / NAME / "feedback")
        text = leaks.as_text(page.read_text(encoding="utf-8"))
        score = float(rows[student]["score"])
        assert f"Score: {score:g}" in text or f"Score: {score:.1f}" in text, text[:400]
        assert not leaks.find_leaks(page, hidden)
    # feedback in the exchange is named by a hash of the submission, not by the student, in a
    # folder other users may enter but not list; submissions go to a folder they cannot list
    assert all("sample" not in p.name for p in (cycle["exchange"] / "feedback").iterdir())
    assert (cycle["exchange"] / "feedback").stat().st_mode & 0o007 == 0o001
    assert (cycle["exchange"] / "inbound").stat().st_mode & 0o004 == 0


def test_grading_left_the_students_files_alone(cycle):
    for student in STUDENTS:
        notebook = cycle["homes"][student] / NAME / f"{NAME}.ipynb"
        submitted = cycle["course"] / "submitted" / student / NAME / f"{NAME}.ipynb"
        assert notebook.read_bytes() == submitted.read_bytes()


HUB = Path(exchange.__file__).parent / "jupyterhub"


def _unknown_options(config, classes) -> list[str]:
    """Config entries that name no trait of the class they configure (a typo would be silent)."""
    bad = []
    for section, values in config.items():
        cls = classes.get(section)
        if cls is None:
            bad.append(section)
            continue
        traits = cls.class_traits(config=True)
        bad += [f"{section}.{key}" for key in values if key not in traits]
    return bad


def test_jupyterhub_config_loads_and_every_option_exists():
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from jupyterhub.spawner import Spawner
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config()
    assert not _unknown_options(config, {"JupyterHub": JupyterHub, "Authenticator": Authenticator,
                                         "Spawner": Spawner})
    hub = JupyterHub(config=config)           # traitlets validates every value here
    assert hub.bind_url.startswith("http://127.0.0.1")
    auth = Authenticator(config=config)
    assert auth.admin_users <= auth.allowed_users
    assert Spawner(config=config).default_url == "/lab"


def test_hub_nbgrader_config_names_the_course_and_the_exchange(tmp_path):
    code = ("from nbgrader.coursedir import CourseDirectory;"
            "from nbgrader.exchange.default.exchange import Exchange;"
            "from traitlets.config.loader import PyFileConfigLoader;"
            f"cfg = PyFileConfigLoader('nbgrader_config.py', path={str(HUB)!r}).load_config();"
            "from nbgrader.preprocessors import Execute;"
            "print(CourseDirectory(config=cfg).course_id, Exchange(config=cfg, coursedir=CourseDirectory(config=cfg)).root,"
            " Execute(config=cfg).timeout)")
    env = dict(os.environ, COURSE_EXCHANGE=str(tmp_path / "ex"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    # Validate runs with the student's settings: nbgrader's 30 s a cell is too short for TF chapters
    assert out.stdout.split() == ["ai-computing-systems", str(tmp_path / "ex"), "300"]


def test_shards_split_a_class_without_overlap_or_loss():
    students = [f"s{i:03d}" for i in range(10)][::-1]
    shards = [pipeline.shard(students, f"{k}/3") for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(students)
    assert [len(s) for s in shards] == [4, 3, 3]
    for bad in ("0/3", "4/3", "x", "1-3"):
        with pytest.raises(ValueError, match="shard"):
            pipeline.shard(students, bad)
