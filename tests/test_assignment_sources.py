"""Structure of every assignment's instructor notebook (cheap: nothing is executed)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from traitlets.config.loader import PyFileConfigLoader

from autograder import notebook_source, pipeline

from conftest import ASSIGNMENTS, REPO, instructor_notebook


def test_there_are_assignments():
    assert "preprocessing" in ASSIGNMENTS


def test_notebooks_match_their_sources():
    proc = subprocess.run([sys.executable, "-m", "autograder", "notebooks", "--check"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ASSIGNMENTS:
        assert (REPO / "notebooks" / name / f"{name}.src.py").is_file()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_grade_ids_unique_and_prefixed(name):
    nb = instructor_notebook(name)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    assert all(i.startswith(f"{name}_") for i in ids), f"grade ids start with '{name}_': {ids}"
    cell_ids = [c.id for c in nb.cells]
    assert len(cell_ids) == len(set(cell_ids))


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_test_cell_has_hidden_tests_and_points(name):
    nb = instructor_notebook(name)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests, "an assignment has autograded cells"
    for cell in tests:
        gid = cell.metadata["nbgrader"]["grade_id"]
        assert cell.metadata["nbgrader"]["points"] > 0, gid
        assert "### BEGIN HIDDEN TESTS" in cell.source and "### END HIDDEN TESTS" in cell.source, gid
        assert cell.metadata["nbgrader"]["locked"], gid
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_assignment_has_a_book_page_and_a_bench_script(name):
    page = REPO / "book" / f"{name}.md"
    assert page.is_file(), f"book/{name}.md"
    assert f"_course/downloads/{name}.zip" in page.read_text(encoding="utf-8"), "download link"
    assert f"book/{name}" in (REPO / "_toc.yml").read_text(encoding="utf-8")
    assert (REPO / "bench" / f"{name}.py").is_file(), f"bench/{name}.py"


def test_nbgrader_config_overrides_the_30s_default():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "autograder")).load_config()
    assert config.Execute.timeout >= 300
    assert config.Execute.kernel_name == "python3"
    assert config.OverwriteCells.add_missing_cells is True
    assert "*.src.py" in config.CourseDirectory.ignore
    for name in ASSIGNMENTS:
        assert pipeline.timeout_of(instructor_notebook(name)) >= 60


def test_source_parser_rejects_bad_sources(tmp_path):
    cases = {
        "x = 1\n": "before the first",
        "# %% [solution] id=a_x\nx = 1\n": "BEGIN/END SOLUTION",
        "# %% [tests] id=a_t points=1 needs=a_missing\nassert True\n": "needs=",
        "# %% [tests] id=a_t needs=a_x\n": "points",
        "# %% [weird]\n": "unknown cell kind",
        "# %% [locked]\nimport os\n": "need id",
        "# %% [locked] id=a\n# %% [locked] id=a\n": "duplicate id",
        "# %% [config] colour=red\n": "unknown config",
        "# %% [markdown]\nnot a comment\n": "must start with",
    }
    for text, message in cases.items():
        path = tmp_path / "a" / "a.src.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        with pytest.raises(notebook_source.NotebookSourceError, match=message):
            notebook_source.build_notebook(path)


def test_source_parser_builds_nbgrader_metadata(tmp_path):
    path = tmp_path / "a" / "a.src.py"
    path.parent.mkdir()
    path.write_text(
        "# %% [config] timeout=42 partial=a_x\n"
        "# %% [markdown]\n# # Title\n#\n# text\n"
        "# %% [solution] id=a_x\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
        "# %% [tests] id=a_x_test points=3 needs=a_x\nassert f() == 1\n"
        "# %% [demo]\nprint(f())\n")
    nb = notebook_source.build_notebook(path)
    assert nb.metadata["course"] == {"timeout": 42, "partial_sample": ["a_x"]}
    md, sol, test, demo = nb.cells
    assert demo.cell_type == "code" and demo.metadata == {"course": {"demo": True}}
    assert md.source == "# Title\n\ntext"
    assert sol.metadata["nbgrader"] == {"grade": False, "grade_id": "a_x", "locked": False,
                                        "schema_version": 3, "solution": True, "task": False}
    assert test.metadata["nbgrader"]["points"] == 3.0 and test.metadata["nbgrader"]["locked"]
    assert test.metadata["course"]["needs"] == ["a_x"]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_tensorflow_log_level_is_set_before_tensorflow_is_imported(name):
    """Warm grading kernels (autograder/warm.py) import TensorFlow at warm.TF_LOG_LEVEL; every
    notebook must set that same level before it imports TensorFlow, as fresh kernels then
    behave exactly like warm ones."""
    from autograder import warm

    text = (pipeline.NOTEBOOKS / name / f"{name}.src.py").read_text()
    if "import tensorflow" not in text:
        return
    setting = f'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "{warm.TF_LOG_LEVEL}")'
    assert setting in text and text.index(setting) < text.index("import tensorflow"), name
