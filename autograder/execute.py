"""Executing submissions so that one bad cell cannot sink the grading of a notebook.

nbgrader's `Execute` interrupts a cell that runs past the timeout and moves on. Two
cases still go wrong with it:

* the kernel ignores the interrupt (code blocked in C with SIGINT masked): every later
  cell then waits out its own timeout too, one after the other;
* the kernel dies (`os._exit`, a segfault, the memory limit): nbgrader gives up on the
  whole submission and records no grade at all.

`ResilientExecute` turns both into an error *in that cell*, with a message the student
reads in the feedback, stops the kernel, and marks every later code cell as not run
(an error, so later tests score 0: they could not pass without the earlier cells'
definitions anyway). The cells before keep the points they earned.

It also proves that every autograded test cell really ran to its end. nbgrader gives a test
cell full points when its outputs hold no error, so a student cell that changes how the kernel
runs later cells (an input transformer that empties them, an AST transformer that wraps them in
try/except, a silenced traceback) could otherwise pass every test. Each test cell is sent to the
kernel with one more top-level statement that displays a fresh random token (a private MIME type,
so it arrives even when the student redirected `sys.stdout`). A test cell whose outputs lack its
token, and hold no error of their own, gets a `GradingError` instead of its outputs: 0 points.
The token output is removed, and the cell's source restored, before anything else sees the
cell: the autograded and feedback notebooks show neither (nbgrader checksums these cells).

After a test cell passed, guard.py checks that no cell replaced a library function, checking tool
or built-in that the test relies on; if one did, the test scores 0 and says what was replaced.

These are checks, not proofs: the kernel sees the token before it runs the cell, so code that
rewrites later cells on purpose (keeps the token statement, drops the assertions) defeats it.
`sanitize.machinery_uses` flags such submissions for review; see book/instructors.md.
"""
from __future__ import annotations

import ast
import re
import secrets
import time
from functools import lru_cache
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_async, run_sync
from nbformat import NotebookNode
from traitlets import Bool, Integer

from nbgrader.preprocessors import Execute

from . import guard


TOKEN_MIME = "application/vnd.course-grader.token"
NOT_RUN_TO_END = ("this test did not run to its end: a cell before it changed how the notebook "
                  "executes code (0 points; ask your instructor)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _has_error(cell) -> bool:
    return any(out.get("output_type") == "error" for out in cell.outputs)


def is_test_cell(cell) -> bool:
    """An autograded test cell: nbgrader `grade` without `solution`."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def token_statement(token: str) -> str:
    """One line of Python that displays `token` under TOKEN_MIME (not through sys.stdout)."""
    return f'__import__("IPython").display.display({{"{TOKEN_MIME}": "{token}"}}, raw=True)'


def with_token(source: str, statement: str) -> str:
    """`source` with `statement` added as its own top-level line, after the cell's code.

    The line goes at the very end, after a newline (a final comment, an indented block, a last
    line without newline all stay as they were), except when the cell ends with an expression
    statement: IPython displays the value of a cell's last statement only, so the line then goes
    just before that expression, which keeps its displayed value (an error in it still scores 0).
    """
    body = source if source.endswith("\n") or not source else source + "\n"
    insert_at = _token_line(source)
    if insert_at is None:
        return body + statement + "\n"
    raw = body.splitlines()
    return "\n".join(raw[:insert_at] + [statement] + raw[insert_at:]) + "\n"


@lru_cache(maxsize=1024)
def _token_line(source: str) -> int | None:
    """The line before which with_token puts its statement, None for the very end. Cached: every
    submission of a class has the same (locked) test cells, and IPython's transform is slow."""
    probe = "__token_probe__()"
    body = source if source.endswith("\n") or not source else source + "\n"
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        manager = TransformerManager()
        transformed = manager.transform_cell(source)
        tree = ast.parse(transformed)
    except Exception:  # noqa: BLE001 - not valid (IPython) Python: the kernel reports the error
        return None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    raw = body.splitlines()
    code = transformed.splitlines()
    insert_at = len(raw) - (len(code) - (tree.body[-1].lineno - 1))
    blank_start = len(raw) - len(body.lstrip("\n").splitlines())
    if (len(raw) - blank_start != len(code) or not 0 <= insert_at < len(raw)
            or raw[insert_at][:1] in ("", " ", "\t")):
        return None  # a cell magic or an indented cell: lines do not map one to one
    candidate = "\n".join(raw[:insert_at] + [probe] + raw[insert_at:]) + "\n"
    try:
        new_tree = ast.parse(manager.transform_cell(candidate))
    except SyntaxError:
        return None
    if len(new_tree.body) != len(tree.body) + 1 or not isinstance(new_tree.body[-1], ast.Expr):
        return None
    return insert_at


def _scrub(text: str, token: str) -> str:
    """`text` without the lines that show the token statement (traceback context)."""
    return "\n".join(line for line in text.split("\n") if token not in _ANSI.sub("", line))


def settle_token(cell, token: str) -> bool:
    """Check and remove the token from a test cell's outputs; True when the cell ran to its end.

    Token present: its output is removed. Absent, with an error of the cell's own: the outputs
    stay (the test failed and says why; lines showing the token statement are cut from the
    traceback). Absent otherwise, or the error was raised by the token statement itself: the
    outputs are replaced by a GradingError, which scores 0.
    """
    seen, kept, failed_in_token = False, [], False
    for out in cell.outputs:
        kind = out.get("output_type")
        data = out.get("data", {}) if kind in ("display_data", "execute_result") else {}
        if TOKEN_MIME in data:
            seen = seen or data[TOKEN_MIME] == token
            continue
        if kind == "error":
            lines = [_ANSI.sub("", line) for entry in out.get("traceback", [])
                     for line in entry.split("\n")]
            failed_in_token |= any(token in line and line.lstrip().startswith("---->")
                                   for line in lines)
            out["traceback"] = [_scrub(entry, token) for entry in out.get("traceback", [])]
            out["evalue"] = str(out.get("evalue", "")).replace(token, "…")
        elif kind == "stream":
            out["text"] = out["text"].replace(token, "…")
        kept.append(out)
    has_error = any(o.get("output_type") == "error" for o in kept)
    if failed_in_token or not (seen or has_error):
        cell.outputs = [_error_output("GradingError", NOT_RUN_TO_END)]
        return False
    cell.outputs = kept
    return seen


class QuickReadyClient(AsyncKernelClient):
    """jupyter_client's client, but ready without its idle wait: after the kernel_info reply
    (and one IOPub message, proof that IOPub is connected) jupyter_client waits until IOPub has
    been quiet for 0.2 s. That is 0.2 s of an idle core per submission, 7 minutes for a class of
    200 x 10 notebooks. Here IOPub is drained of what has already arrived instead: nbclient
    reads only the messages whose parent is the request it sent, so a late status message
    from the kernel_info request is ignored anyway. The loop before the drain is
    jupyter_client 8's `_async_wait_for_ready` (its last step, the wait, is not a hook)."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:  # IOPub connected? (else start over, as jupyter_client does)
                        await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:  # drain what is there, without waiting for more
            try:
                await ensure_async(self.iopub_channel.get_msg(timeout=0.01))
            except Empty:
                break


class ResilientExecute(Execute):
    """nbgrader's Execute, plus a clean stop on ignored interrupts and dead kernels."""

    interrupt_grace = Integer(
        10, help="Seconds to wait for the kernel to stop after an interrupt before killing it."
    ).tag(config=True)
    skip_demos = Bool(
        False, help="Leave out the instructor's [demo] cells that nothing run later depends on "
                    "(autograder/demos.py; `python -m autograder grade --skip-demos`)."
    ).tag(config=True)

    _skip: set[int] = set()

    def preprocess(self, nb, resources=None, km=None):
        self._stopped_at = None
        self._skip = self._demos_to_skip(nb, resources or {}) if self.skip_demos else set()
        return super().preprocess(nb, resources, km)

    def _demos_to_skip(self, nb, resources) -> set[int]:
        """Cells of `nb` that demos.skippable allows to leave out, judged against the course's
        own copy of the notebook (never the submission's metadata)."""
        import os
        from pathlib import Path

        from . import demos

        info = resources.get("nbgrader", {})
        root = os.environ.get("COURSE_GRADING_ROOT") or str(info.get("db_url", "")).replace(
            "sqlite:///", "").rpartition("/")[0]
        source = Path(root) / "source" / str(info.get("assignment")) / f"{info.get('notebook')}.ipynb"
        try:
            sources = demos.demo_sources_in(source)
        except Exception:  # noqa: BLE001 - no trusted copy: run everything
            self.log.warning("skip_demos: no readable %s; running every cell", source)
            return set()
        skip = demos.skippable(nb.cells, sources)
        self.log.info("skip_demos: leaving out %d demonstration cell(s)", len(skip))
        return skip

    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await super()._async_handle_timeout(timeout, cell)
        try:  # once interrupted, the kernel answers the request on the shell channel
            await ensure_async(self.kc.shell_channel.get_msg(timeout=self.interrupt_grace))
        except Empty:
            self.log.error("The kernel ignored the interrupt; stopping it.")
            self._stopped_at = "ignored the interrupt after the timeout"
            await ensure_async(self.km.shutdown_kernel(now=True))
        return reply

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped_at is not None:
            cell.outputs = [_error_output("NotRun", f"not run: the kernel stopped earlier ({self._stopped_at})")]
            return cell, resources
        if index in self._skip:
            from .demos import NOTE
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=f"[{NOTE}]\n")]
            return cell, resources
        if not is_test_cell(cell):
            return self._run_cell(cell, resources, index)
        token = secrets.token_hex(16)
        source = cell.source
        cell.source = with_token(source, token_statement(token))
        try:
            cell, resources = self._run_cell(cell, resources, index)
        finally:
            cell.source = source
        if not settle_token(cell, token):
            self.log.warning("Test cell %d did not run to its end", index)
        elif self._stopped_at is None and not _has_error(cell):
            problem = self._guard_verdict(source)
            if problem:  # the test passed, but maybe only because something it uses was replaced
                self.log.warning("Test cell %d: %s", index, problem)
                cell.outputs = [_error_output("LibraryReplaced", problem)]
        return cell, resources

    async def async_start_new_kernel_client(self):
        if issubclass(QuickReadyClient, self.km.client_factory):
            self.km.client_factory = QuickReadyClient
        kc = await super().async_start_new_kernel_client()
        reply = await self._silent(guard.install_code())
        if not reply or reply["content"].get("status") != "ok":  # every test would score 0: say why
            self.log.error("The library check could not be installed: %s", reply and reply["content"])
        return kc

    # nbclient binds the synchronous name to its own coroutine: point it at this one.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _silent(self, code: str, **expressions: str) -> dict:
        """Run `code` in the kernel without outputs or history; the execute reply."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, user_expressions=expressions)
        return await self.async_wait_for_reply(msg_id)

    def _guard_verdict(self, source: str) -> str | None:
        """guard.py's verdict after the test cell `source` passed (None: nothing replaced)."""
        try:
            reply = run_sync(self._silent)("", found=guard.check_expression(source))
        except Exception as exc:  # noqa: BLE001 - no answer: the test cannot be trusted
            return guard.NOT_CHECKED.format(error=type(exc).__name__)
        return guard.verdict(reply["content"] if reply else {})

    def _run_cell(self, cell, resources, index):
        try:
            return super().preprocess_cell(cell, resources, index)
        except Exception as exc:  # noqa: BLE001 - whatever the kernel did, grade the rest
            alive = bool(self.km is not None and run_sync(self.km.is_alive)())
            if self._stopped_at is not None:
                message = f"the cell ran past the time limit and {self._stopped_at}"
                ename = "CellTimeoutError"
            elif not alive:
                self._stopped_at = f"it died in cell {index}"
                message = ("the kernel died while running this cell (a crash, os._exit, or the "
                           "memory limit)")
                ename = "KernelDied"
            else:
                self._stopped_at = f"it failed in cell {index} ({type(exc).__name__})"
                message = (f"the kernel stopped responding properly while running this cell "
                           f"({type(exc).__name__}; often the memory limit)")
                ename = "KernelFailed"
                run_sync(self.km.shutdown_kernel)(now=True)
            cell.outputs.append(_error_output(ename, message + "; later cells were not run"))
            self.log.error("Kernel stopped in cell %d: %s", index, self._stopped_at)
            return cell, resources
