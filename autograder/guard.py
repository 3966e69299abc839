"""Catching a notebook that replaces what the tests rely on.

A test compares a student's answer with a reference, and both run in the student's kernel. A
cell that replaces a library function the reference comes from (`multistyle.reference = lambda
image, w: my_output`), a checking tool (`np.testing.assert_allclose = print`), or a built-in the
test reads (`float = lambda x: 0.0` makes `float(error) < 1e-4` true) would let a wrong answer
pass. So before the notebook's first cell, the grader records every function and class of the
libraries the tests use (numpy, the course's source_lib, TensorFlow's and Keras's public API,
onnxruntime, builtins), and the methods of the classes whose objects the tests handle (tensors,
variables, Keras layers and models, onnxruntime sessions, source_lib's classes): `INSTALL`, run
silently in the fresh kernel. After each test cell that passed, `check` lists what changed: a
recorded function or method no longer in its place, a function or object defined in the
notebook stored into one of those modules or classes, a built-in the test reads
redefined in the notebook, or `np`/`tf` bound to something else. A test whose check
finds anything scores 0 with a message that names it (execute.ResilientExecute).

Like the token of execute.py this is a check, not a proof: the kernel is the student's, and code
written to get around this module (it is public) can. Such code reaches into `_course_guard` or
`sys.modules`, and the machinery list (sanitize.py) flags the first for review.
"""
from __future__ import annotations

import ast
import builtins
from functools import lru_cache

MODULE = "_course_guard"
# Imported by the kernel before the snapshot (numpy-only modules, ~30 ms), so that what a test
# reaches through them is recorded before any student code runs. Modules imported later (with
# TensorFlow, numba, ...) are checked for functions defined in the notebook instead.
IMPORTS = ("numpy", "numpy.testing", "source_lib.checks", "source_lib.gradcheck",
           "source_lib.images", "source_lib.config", "source_lib.multistyle", "source_lib.vgg",
           "source_lib.ncnn", "source_lib.weights", "source_lib.styles")
ALIASES = {"np": "numpy", "tf": "tensorflow", "npt": "numpy.testing"}
MESSAGE = ("this test cannot be trusted: code in the notebook replaced what the test relies on "
           "({names}). Leave library functions and built-ins as they are (0 points; ask your "
           "instructor)")
NOT_CHECKED = ("the grader could not check this test: the notebook removed or broke its library "
               "check ({error}) (0 points; ask your instructor)")

INSTALL = '''\
def _course_guard_install(imports, aliases, before_fork=False):
    import builtins, importlib, sys, types

    # What the warm template (warm.py) recorded of the modules it had imported before it forked
    # this kernel (no student code had run in either process): reused where the module is the same.
    template = sys.modules.pop("_course_guard", None)
    recorded_by_template = getattr(template, "recorded_before_fork", {})
    entries_by_template = getattr(template, "entries_before_fork", {})

    for name in imports:
        try:
            importlib.import_module(name)
        except Exception:
            pass

    def watched(name):
        top = name.partition(".")[0]
        return (top in ("numpy", "source_lib") or name in ("builtins", "tensorflow", "keras", "onnxruntime")
                or name.startswith(("tensorflow._api.v2.", "keras.api.", "keras._tf_keras.")))

    # Names already seen in sys.modules, and the watched ones among them: a check tests only the
    # names imported since the last one, not 5,000 each time.
    # The template's are given (a kernel then leaves the keys of the ~4,400 modules it inherits alone).
    seen_by_template = getattr(template, "seen_before_fork", frozenset())
    seen, watched_names = set(), list(getattr(template, "watched_before_fork", ()))

    def modules():
        loaded = sys.modules
        new = loaded.keys() - seen_by_template - seen
        if new:
            seen.update(new)
            watched_names.extend(sorted(n for n in new if watched(n)))
        found = []
        for n in watched_names:
            m = loaded.get(n)
            if isinstance(m, types.ModuleType):
                found.append((n, m))
        return found

    # The kernel itself swaps these builtins for each request (stdin) or adds them (IPython).
    kernel_owned = {"input", "raw_input", "get_ipython", "display", "exit", "quit", "help",
                    "copyright", "credits", "license", "execfile", "runfile"}

    def recorded(module):
        return {k: v for k, v in vars(module).items() if callable(v) and not isinstance(v, types.ModuleType)
                and not (module is builtins and k in kernel_owned)}

    def from_notebook(value):
        try:
            return getattr(value, "__module__", None) == "__main__" or type(value).__module__ == "__main__"
        except Exception:
            return True

    # Methods of the classes whose objects tests handle: tensors, variables, Keras layers and
    # models, onnxruntime sessions, the course's own classes (a replaced `Tensor.numpy` or
    # `Layer.__call__` would fool a test as surely as a replaced function).
    roots = (("tensorflow.python.framework.ops", "EagerTensor"),
             ("tensorflow.python.ops.resource_variable_ops", "ResourceVariable"),
             ("keras", "Model"), ("keras", "Variable"), ("onnxruntime", "InferenceSession"))
    owners = ("tensorflow", "keras", "onnxruntime", "source_lib")

    def classes(current):
        found = {}
        for module_name, name in roots:
            root = getattr(sys.modules.get(module_name), name, None)
            for cls in getattr(root, "__mro__", ()):
                found[id(cls)] = cls
        for name, module in current:
            if name.startswith("source_lib"):
                for v in list(vars(module).values()):
                    if isinstance(v, type):
                        found[id(v)] = v
        return [c for c in found.values() if str(getattr(c, "__module__", "")).startswith(owners)]

    def methods(cls):
        return {k: v for k, v in vars(cls).items() if callable(v) or isinstance(v, (property, staticmethod, classmethod))}

    def recorded_once(name, module):
        known = recorded_by_template.get(name)
        if known is not None and known[0] is module and name != "builtins":  # the kernel owns some built-ins
            return known[1]
        return recorded(module)

    # Each check compares ~18,000 recorded functions with what their modules hold now, in C: one
    # itemgetter call fetches a module's current values, operator.is_ compares them with the
    # recorded ones (identity: a student object's __eq__ cannot answer). All bound here, so a
    # replaced built-in cannot answer for them either. A comprehension runs only to name what
    # differs. The template's entries are reused as they are.
    from operator import is_, itemgetter
    all_, map_, vars_ = all, map, vars

    def entry(name, module, functions):
        known = entries_by_template.get(name)
        if known is not None and known[1] is module and recorded_by_template[name][1] is functions:
            return known
        keys, values = tuple(functions), tuple(functions.values())
        fetch = itemgetter(*keys, keys[0]) if keys else (lambda namespace: ())  # a tuple even for one key
        return (name, module, keys, values, fetch, values + values[:1])

    current = modules()
    snapshot = {name: (module, recorded_once(name, module)) for name, module in current}
    recorded_tuples = [entry(name, module, functions) for name, (module, functions) in snapshot.items()]
    if before_fork:
        guard = types.ModuleType("_course_guard")
        guard.recorded_before_fork = snapshot
        guard.entries_before_fork = {e[0]: e for e in recorded_tuples}
        guard.seen_before_fork = frozenset(seen)
        guard.watched_before_fork = tuple(watched_names)
        sys.modules["_course_guard"] = guard
        return
    class_snapshot = {id(c): (c, methods(c)) for c in classes(current)}
    user = sys.modules["__main__"].__dict__
    # What a name the tests read should be: IPython's own version where it put one in the user
    # namespace (`open`), else the built-in; an alias, the module (recorded, or imported later).
    ipython_own = {k: v for k, v in user.items() if hasattr(builtins, k)}

    def expected(name):
        if name in aliases:
            recorded_module = snapshot.get(aliases[name], (None,))[0]
            return recorded_module or sys.modules.get(aliases[name])
        return ipython_own.get(name, getattr(builtins, name, None))

    def check(names=()):
        found = []
        for name, module, keys, values, fetch, held in recorded_tuples:
            if sys.modules.get(name) is not module:
                found.append(f"sys.modules[{name!r}]")
                continue
            namespace = vars_(module)
            try:
                same = all_(map_(is_, fetch(namespace), held))
            except KeyError:
                same = False
            if not same:
                now = namespace.get
                found += [f"{name}.{k}" for k, v in zip(keys, values) if now(k) is not v]
        current = modules()
        for name, module in current:
            if name not in snapshot:
                found += [f"{name}.{k}" for k, v in list(vars(module).items()) if from_notebook(v)]
        for cls in classes(current):
            now, before = vars(cls), class_snapshot.get(id(cls), (cls, {}))[1]
            label = f"{cls.__module__}.{cls.__qualname__}"
            found += [f"{label}.{k}" for k, v in before.items() if now.get(k) is not v]
            found += [f"{label}.{k}" for k, v in list(now.items()) if k not in before and from_notebook(v)]
        for name in names:
            if name in user and expected(name) is not user[name]:
                found.append(name)
        return found[:12]

    guard = types.ModuleType("_course_guard")
    guard.check = check
    sys.modules["_course_guard"] = guard


_course_guard_install(IMPORTS, ALIASES)
del _course_guard_install
'''


def install_code() -> str:
    """The code a fresh kernel runs (silently) before the notebook's first cell."""
    return INSTALL.replace("IMPORTS, ALIASES)", f"{IMPORTS!r}, {ALIASES!r})")


def record_before_fork() -> None:
    """In the warm template, after its imports: record their functions once, for every kernel it
    forks (~20 ms a kernel; each then records only the modules it imports itself)."""
    exec(INSTALL.replace("IMPORTS, ALIASES)", "(), {}, before_fork=True)"), {"__name__": MODULE})


@lru_cache(maxsize=1024)
def names_read(source: str) -> tuple[str, ...]:
    """Built-ins and module aliases that a test cell reads and never assigns itself."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        tree = ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - not valid Python: the kernel reports the error
        return ()
    loaded, stored = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
        elif isinstance(node, ast.alias):
            stored.add((node.asname or node.name).partition(".")[0])
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
    wanted = {n for n in loaded - stored if n in ALIASES or (hasattr(builtins, n) and not n.startswith("__"))}
    return tuple(sorted(wanted))


def check_expression(source: str) -> str:
    """The expression whose value lists what changed, for the test cell `source`."""
    return f"__import__({MODULE!r}).check({names_read(source)!r})"


def verdict(reply_content: dict) -> str | None:
    """None when the check found nothing; else the message for the test cell."""
    result = (reply_content.get("user_expressions") or {}).get("found", {})
    if result.get("status") != "ok":
        error = f"{result.get('ename', 'no answer')}: {result.get('evalue', '')}".strip(": ")
        return NOT_CHECKED.format(error=error)
    try:
        found = ast.literal_eval(result.get("data", {}).get("text/plain", ""))
    except (ValueError, SyntaxError):
        return NOT_CHECKED.format(error="an unreadable answer")
    if not isinstance(found, list) or not all(isinstance(n, str) for n in found):
        return NOT_CHECKED.format(error="an unreadable answer")
    return MESSAGE.format(names=", ".join(found)) if found else None
