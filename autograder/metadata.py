"""nbgrader's cell-metadata check, with its JSON schema checked once instead of once a cell.

nbgrader's `CheckCellMetadata` runs `jsonschema.validate(metadata, schema)` for every cell
with nbgrader metadata, twice per submission (before and after executing it), and
`jsonschema.validate` first checks the *schema* itself against the JSON-Schema meta-schema:
about a fifth of a grading worker's own CPU time (cProfile, bench/grading.py). Here the schema
is checked and compiled once per process; each cell's metadata is then validated with the
same validator class, the same schema and the same error (`best_match`) as before. Cells with
another schema version still go through nbgrader's own code, which reports them.
"""
from __future__ import annotations

import traceback

import jsonschema
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheckCellMetadata


class _SchemaCheckedOnce(BaseMetadataValidator):
    """BaseMetadataValidator.validate_cell with one compiled validator per schema version."""

    _compiled: dict[int, jsonschema.protocols.Validator] = {}

    def _validator(self) -> jsonschema.protocols.Validator:
        if self.schema_version not in self._compiled:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            self._compiled[self.schema_version] = cls(self.schema)
        return self._compiled[self.schema_version]

    def validate_cell(self, cell) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)  # nothing to check, or nbgrader's version errors
        error = jsonschema.exceptions.best_match(self._validator().iter_errors(meta))
        if error is not None:
            raise error


class FastMetadataValidator(MetadataValidator, _SchemaCheckedOnce):
    """nbgrader's current MetadataValidator; its `super().validate_cell` lands in
    _SchemaCheckedOnce (method resolution order) instead of jsonschema.validate."""


class CheckCellMetadata(NbgraderCheckCellMetadata):
    """nbgrader's CheckCellMetadata (same log lines, same error) with FastMetadataValidator."""

    def preprocess(self, nb, resources):
        try:
            FastMetadataValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)
        return nb, resources
