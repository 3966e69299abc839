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
"""
from __future__ import annotations

from queue import Empty

from jupyter_core.utils import ensure_async, run_sync
from nbformat import NotebookNode
from traitlets import Integer

from nbgrader.preprocessors import Execute


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class ResilientExecute(Execute):
    """nbgrader's Execute, plus a clean stop on ignored interrupts and dead kernels."""

    interrupt_grace = Integer(
        10, help="Seconds to wait for the kernel to stop after an interrupt before killing it."
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._stopped_at = None
        return super().preprocess(nb, resources, km)

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
