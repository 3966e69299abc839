"""The grading worker's own set-up (autograder/worker.py); grading through it is covered by
test_grading.py and test_hostile.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SHARED_ENGINE_CHECK = """
import sys
from nbgrader.api import Gradebook
from autograder.worker import share_gradebook_engines

share_gradebook_engines()
url = "sqlite:///" + sys.argv[1]
with Gradebook(url) as outer:                  # nbgrader nests them: a converter's and a preprocessor's
    outer.add_student("alice")
    with Gradebook(url) as inner:
        assert inner.engine is outer.engine, "one engine per database URL"
        inner.add_student("bob")
    assert [s.id for s in outer.students] == ["alice", "bob"], "the outer one still works after the inner closed"
with Gradebook(url) as later:
    assert sorted(s.id for s in later.students) == ["alice", "bob"]
    assert later.engine._compiled_cache, "compiled queries are kept between gradebooks"
    from sqlalchemy import event, text
    assert later.db.execute(text("SELECT version_num FROM alembic_version")).scalar(), "a new database gets its alembic version"
    statements = []
    event.listen(later.engine, "before_cursor_execute", lambda conn, cur, sql, *a: statements.append(sql))
# a later Gradebook neither lists the tables nor asks for each one again (the first one made them)
with Gradebook(url) as again:
    assert [s.id for s in again.students] == ["alice", "bob"]
assert not [q for q in statements if "PRAGMA" in q or "sqlite_master" in q], statements
# another process's writes (the other worker's) reach this one through its pooled connections
import sqlite3
other = sqlite3.connect(sys.argv[1])
other.execute("INSERT INTO student (id) VALUES ('carol')")
other.commit()
other.close()
with Gradebook(url) as after:
    assert sorted(s.id for s in after.students) == ["alice", "bob", "carol"], "a pooled connection saw stale data"
print("ok")
"""


def test_gradebooks_of_one_worker_share_an_engine_and_still_see_each_others_writes(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-c", SHARED_ENGINE_CHECK, str(tmp_path / "gradebook.db")],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_each_kernel_gets_its_share_of_the_cores_unless_the_instructor_chose():
    from autograder.pipeline import THREAD_VARS, kernel_threads_env

    cores = len(os.sched_getaffinity(0))
    assert kernel_threads_env(cores, base={}) == {name: "1" for name in THREAD_VARS}
    assert kernel_threads_env(4 * cores, base={})["TF_NUM_INTRAOP_THREADS"] == "1"
    assert kernel_threads_env(1, base={})["OPENBLAS_NUM_THREADS"] == str(cores)
    assert "OMP_NUM_THREADS" not in kernel_threads_env(1, base={"OMP_NUM_THREADS": "3"})


def test_compile_library_writes_the_bytecode_kernels_cannot():
    import importlib.util

    from autograder.pipeline import REPO, compile_library

    cached = Path(importlib.util.cache_from_source(str(REPO / "source_lib" / "checks.py")))
    cached.unlink(missing_ok=True)
    assert compile_library()
    assert cached.is_file() and cached.stat().st_size > 0
