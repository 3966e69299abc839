"""Which demonstration cells grading may leave out (`python -m autograder grade --skip-demos`).

Most of a chapter notebook's run time goes to cells that only demonstrate: figures, sweeps,
timings, a short training run. They earn no points, and no test depends on them. For a large
class, `--skip-demos` does not run them while grading. A cell is left out only when all of
these hold, so a student's grade cannot change because of it:

* the instructor marked it `[demo]` (notebook_source.py), in the course's own copy of the
  notebook (`source/`), not in the submission, which the student controls;
* the submitted cell's code is exactly the instructor's (a student who changed a demo cell
  gets it run);
* no cell that does run after it uses a name it defines (assigns, imports, def, class), and
  none reaches names dynamically (eval, exec, globals(), vars(), locals(), __main__, a cell
  that is not plain Python): otherwise it runs.

The tests grade every instructor notebook with and without `--skip-demos` and get the same
full marks, and the partly-correct sample the same exact partial score (test_grading.py).
"""
from __future__ import annotations

import ast
import os
from functools import lru_cache, wraps

DYNAMIC = {"eval", "exec", "globals", "vars", "locals", "__import__", "__main__", "__name__",
           "get_ipython", "__builtins__", "__dict__", "modules"}
# Attributes that lead to a namespace: `sys.modules`, `obj.__dict__`, a function's `__globals__`,
# a frame's `f_globals` / `f_locals`. Not `__name__`: `type(x).__name__` is only a string (the
# bare name `__name__` stays dynamic: `import_module(__name__)` is the notebook's module).
DYNAMIC_ATTRIBUTES = (DYNAMIC - {"__name__"}) | {"__globals__", "f_globals", "f_locals", "user_ns"}
NOTE = ("not run while grading: a demonstration cell that no graded cell depends on "
        "(`grade --skip-demos`)")


def _tree(source: str) -> ast.Module | None:
    """The cell as Python (IPython magics and shell escapes transformed), None if it is not."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - anything unparsable counts as "could use anything"
        return None


def _cached_per_source(analysis):
    """`analysis` (cell source -> set of names, or None), computed once per distinct source (a
    class repeats the same cells); each caller gets a set of its own."""
    @lru_cache(maxsize=4096)
    def frozen(source: str) -> frozenset[str] | None:
        names = analysis(source)
        return None if names is None else frozenset(names)

    @wraps(analysis)
    def cached(source: str) -> set[str] | None:
        names = frozen(source)
        return None if names is None else set(names)
    return cached


@_cached_per_source
def bound_names(source: str) -> set[str] | None:
    """Names a cell binds in the notebook's namespace (not inside its functions); None if the
    cell cannot be parsed."""
    tree = _tree(source)
    if tree is None:
        return None
    names: set[str] = set()

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            return  # their bodies bind local names
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchAs) and node.name or isinstance(node, ast.MatchStar) and node.name:
            names.add(node.name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _loads(node) -> set[str]:
    """Names an expression or simple statement reads, not looking into nested scopes; strings
    count too (getattr(module, "name"))."""
    found = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, _SCOPES) and n is not node:
            continue
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):
            found.add(n.id)
        elif isinstance(n, ast.Attribute) and n.attr in DYNAMIC_ATTRIBUTES:
            found.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            found.add(n.value)
        stack.extend(ast.iter_child_nodes(n))
    return found


def _stores(target) -> set[str]:
    """Names an assignment target (a for or with variable) binds."""
    return bound_names(f"{ast.unparse(target)} = None") or set()


def _free_in_scopes(tree) -> set[str]:
    """Global names read inside the cell's functions, classes, lambdas and comprehensions."""
    import symtable

    table = symtable.symtable(ast.unparse(tree), "<cell>", "exec")
    found = set()

    def visit(t):
        for child in t.get_children():
            for sym in child.get_symbols():
                if sym.is_referenced() and (sym.is_global() or sym.is_free()) and not sym.is_local():
                    found.add(sym.get_name())
            visit(child)

    visit(table)
    for node in ast.walk(tree):  # strings and dynamic attributes anywhere, scopes included
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        elif isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES:
            found.add(node.attr)
    return found


@_cached_per_source
def used_names(source: str) -> set[str] | None:
    """Names a cell may read from what earlier cells defined: read before the cell itself binds
    them, or read inside its functions; None when it may read names it does not spell out
    (dynamic access) or cannot be parsed."""
    tree = _tree(source)
    if tree is None:
        return None
    needed: set[str] = set()
    bound: set[str] = set()

    def block(statements):
        for stmt in statements:
            statement(stmt)

    def statement(stmt):
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            needed.update(_loads(stmt.iter) - bound)
            bound.update(_stores(stmt.target))
            block(stmt.body)
            block(stmt.orelse)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                needed.update(_loads(item.context_expr) - bound)
                if item.optional_vars is not None:
                    bound.update(_stores(item.optional_vars))
            block(stmt.body)
        elif isinstance(stmt, (ast.If, ast.While)):
            needed.update(_loads(stmt.test) - bound)
            block(stmt.body)
            block(stmt.orelse)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            block(stmt.body)
            for handler in stmt.handlers:
                if handler.type is not None:
                    needed.update(_loads(handler.type) - bound)
                if handler.name:
                    bound.add(handler.name)
                block(handler.body)
            block(stmt.orelse)
            block(stmt.finalbody)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for expr in [*stmt.decorator_list, *getattr(stmt, "bases", []),
                         *([] if isinstance(stmt, ast.ClassDef) else
                           [*stmt.args.defaults, *[d for d in stmt.args.kw_defaults if d]])]:
                needed.update(_loads(expr) - bound)
            bound.add(stmt.name)
        else:
            needed.update(_loads(stmt) - bound)
            bound.update(bound_names(ast.unparse(stmt)) or set())

    block(tree.body)
    needed |= _free_in_scopes(tree)
    return None if needed & (DYNAMIC | DYNAMIC_ATTRIBUTES) else needed


def skippable(cells, demo_sources: set[str]) -> set[int]:
    """Indices of `cells` (a submitted notebook's) that grading may leave out."""
    skip: set[int] = set()
    needed: set[str] = set()
    anything = False  # a running cell later on may use any name
    for index in range(len(cells) - 1, -1, -1):
        cell = cells[index]
        if cell.cell_type != "code":
            continue
        source = cell.source
        is_demo = (source in demo_sources and not cell.metadata.get("nbgrader", {}).get("grade_id"))
        if is_demo and not anything:
            bound = bound_names(source)
            if bound is not None and not (bound & needed):
                skip.add(index)
                continue
        used = used_names(source)
        if used is None:
            anything = True
        else:
            needed |= used
    return skip


def demo_sources(source_nb) -> set[str]:
    """The code of the instructor's [demo] cells."""
    return {c.source for c in source_nb.cells
            if c.cell_type == "code" and c.metadata.get("course", {}).get("demo")}


def demo_sources_in(path) -> frozenset[str]:
    """demo_sources of the notebook file at `path`, read again only when the file changed (a
    worker grades a whole class against the same source notebook)."""
    stat = os.stat(path)
    return _demo_sources_read(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _demo_sources_read(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    import nbformat

    return frozenset(demo_sources(nbformat.read(path, as_version=4)))
