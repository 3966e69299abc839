"""Releasing an assignment (pipeline.release): what reaches the students' folder and download."""
from __future__ import annotations

import zipfile

import nbformat

from autograder import pipeline


def test_release_leaves_out_what_running_the_notebook_made(tmp_path):
    # An instructor who ran notebooks/<a>/<a>.ipynb in place has the solution's results in
    # output/ (a converted model, figures): they must not ship with the student version.
    folder = tmp_path / "notebooks" / "demo"
    (folder / "output").mkdir(parents=True)
    (folder / "output" / "solution_model.tflite").write_bytes(b"made by the solution")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "demo-checkpoint.ipynb").write_text("{}")
    (folder / "data.csv").write_text("x\n1\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "demo.ipynb")

    course = tmp_path / "course"
    pipeline.release(course, ["demo"], notebooks_dir=tmp_path / "notebooks")

    released = sorted(p.relative_to(course / "release" / "demo").as_posix()
                      for p in (course / "release" / "demo").rglob("*") if p.is_file())
    assert released == ["data.csv", "demo.ipynb"]
    with zipfile.ZipFile(course / "downloads" / "demo.zip") as zf:
        assert sorted(zf.namelist()) == ["demo/data.csv", "demo/demo.ipynb"]
