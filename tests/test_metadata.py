"""autograder.metadata: the schema-checked-once validator accepts and rejects exactly what
nbgrader's own MetadataValidator does, with the same error."""
import copy

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator, SchemaTooNewError, SchemaTooOldError

from autograder import metadata, pipeline

NAMES = pipeline.assignments()


def _outcome(validator_cls, nb):
    try:
        validator_cls().validate_nb(copy.deepcopy(nb))
    except Exception as exc:  # noqa: BLE001 - the outcome is what we compare
        return type(exc), str(exc)
    return None


def _graded_cell(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))


def _set(key, value):
    def mutate(nb):
        _graded_cell(nb).metadata.nbgrader[key] = value
    return mutate


def _delete(key):
    def mutate(nb):
        del _graded_cell(nb).metadata.nbgrader[key]
    return mutate


def _duplicate_id(nb):
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
    cells[1].metadata.nbgrader["grade_id"] = cells[0].metadata.nbgrader["grade_id"]


MUTATIONS = {
    "points as text": _set("points", "three"),
    "grade not a bool": _set("grade", "yes"),
    "locked as a number": _set("locked", 1),
    "no grade_id": _delete("grade_id"),
    "empty grade_id": _set("grade_id", ""),
    "no points": _delete("points"),
    "unknown key": _set("bonus", True),
    "schema too old": _set("schema_version", 1),
    "schema too new": _set("schema_version", 99),
    "no schema version": _delete("schema_version"),
    "metadata not a dict": lambda nb: _graded_cell(nb).metadata.update(nbgrader=[1, 2]),
    "duplicate grade id": _duplicate_id,
}


@pytest.mark.parametrize("name", NAMES)
def test_the_course_notebooks_pass_both(name):
    nb = nbformat.read(pipeline.NOTEBOOKS / name / f"{name}.ipynb", as_version=4)
    assert _outcome(MetadataValidator, nb) is None
    assert _outcome(metadata.FastMetadataValidator, nb) is None


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_corrupted_metadata_gives_nbgraders_own_error(case):
    nb = nbformat.read(pipeline.NOTEBOOKS / NAMES[0] / f"{NAMES[0]}.ipynb", as_version=4)
    MUTATIONS[case](nb)
    expected = _outcome(MetadataValidator, nb)
    assert expected is not None, f"nbgrader accepts {case}: the case tests nothing"
    assert _outcome(metadata.FastMetadataValidator, nb) == expected
    if case.startswith("schema too"):
        assert expected[0] in (SchemaTooOldError, SchemaTooNewError)


def test_the_schema_is_checked_once(monkeypatch):
    nb = nbformat.read(pipeline.NOTEBOOKS / NAMES[0] / f"{NAMES[0]}.ipynb", as_version=4)
    metadata._SchemaCheckedOnce._compiled.clear()
    calls = []
    import jsonschema
    cls = jsonschema.validators.validator_for(MetadataValidator().schema)
    original = cls.check_schema.__func__
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s: calls.append(1) or original(c, s)))
    for _ in range(3):
        metadata.FastMetadataValidator().validate_nb(nb)
    assert len(calls) == 1
    assert sum("nbgrader" in c.metadata for c in nb.cells) > 3


def test_the_course_config_uses_it():
    text = (pipeline.CONFIG).read_text()
    assert text.count('"autograder.metadata.CheckCellMetadata"') == 2
    assert "nbgrader.preprocessors.CheckCellMetadata" not in text
