"""Grading at class scale: simulated students, graded one at a time and in parallel.

For each class size N (quick mode: 4; full: 10, 50, 200 — or --students N ...), every
assignment gets N simulated submissions (a mix of correct, partly correct and untouched
ones, autograder/hostile.py) and is graded with `jobs=<cores>` and warm kernels
(autograder/warm.py), with and without `--skip-demos` (autograder/demos.py); for N <= 10 also
with one job, and with a fresh kernel per submission (COURSE_GRADING_WARM=0). Prints submissions graded per minute, the speed-ups measured in the
same run (these machines are noisy: compare within a run), the peak memory of the grading
processes, and a projection for a class of 200. Every run checks afterwards (outside the timing)
that each submission got exactly its case's scores, and stops if one did not.

    .venv/bin/python bench/grading.py [--students 10 50] [--assignments preprocessing] [--skip-demos-only]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from solutions import REPO  # noqa: E402
from autograder import hostile, pipeline  # noqa: E402
from source_lib import config, plot  # noqa: E402

MIX = [c for c in hostile.CASES if c.name in ("correct", "partial", "stub")]


class KernelMemory(threading.Thread):
    """Samples the resident memory of every grading kernel (ipykernel processes, including the
    sandboxed ones that getrusage cannot see) from /proc, twice a second; keeps each one's peak."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peaks: dict[int, float] = {}
        self.stop = threading.Event()

    @staticmethod
    def kernels():
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmd = (proc / "cmdline").read_bytes()
                # cold kernels run ipykernel; warm ones are forked by autograder.warm (whose
                # template process is counted too: its memory is shared with its kernels)
                if not (b"ipykernel" in cmd or b"autograder.warm" in cmd) or b"bwrap" in cmd.split(b"\0")[0]:
                    continue
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        yield int(proc.name), int(line.split()[1]) / 1024
            except OSError:
                continue

    def run(self):
        while not self.stop.wait(0.5):
            for pid, mb in self.kernels():
                self.peaks[pid] = max(mb, self.peaks.get(pid, 0.0))


def simulate(course: Path, names: list[str], n: int) -> tuple[dict, dict]:
    """Write n submissions of each assignment (the same student gets the same case in each);
    returns {student: its case} and {assignment: the instructor's notebook}, which says what
    each case must score."""
    students = {f"s{i:04d}": MIX[i % len(MIX)] for i in range(n)}
    sources = {name: hostile.write_cases(course, name, list(students.values()), students=list(students))
               for name in names}
    return students, sources


def wrong_grades(course: Path, students, sources) -> list[str]:
    """hostile.mismatches (the tests' own verdict) for every simulated submission: the speed of a
    grader that grades wrongly is worth nothing."""
    results = {}
    for name, source in sources.items():
        scores = pipeline.cell_scores(course, name)
        acceptable = {case.name: hostile.acceptable_scores(case, source) for case in MIX}
        results[name] = {f"{student} ({case.name})": (acceptable[case.name],
                                                      {k: s for k, (s, _) in scores.get(student, {}).items()}, "")
                         for student, case in students.items()}
    return hostile.mismatches(results)


def grade(names: list[str], n: int, jobs: int, warm: bool = True, skip_demos: bool = False) -> float:
    course = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        pipeline.release(course, names)
        students, sources = simulate(course, names, n)
        start = time.perf_counter()
        failed = pipeline.autograde(course, names, jobs=jobs, warm=warm, skip_demos=skip_demos)
        seconds = time.perf_counter() - start
        if failed:
            raise SystemExit(f"unexpected grading failures: {failed}")
        wrong = wrong_grades(course, students, sources)
        if wrong:
            raise SystemExit(f"{len(wrong)} wrong grade(s):\n" + "\n".join(wrong[:20]))
        return seconds
    finally:
        shutil.rmtree(course, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="*", default=None)
    parser.add_argument("--assignments", nargs="*", default=None)
    parser.add_argument("--skip-demos-only", action="store_true",
                        help="measure only `grade --skip-demos` with warm kernels (the fastest setup)")
    args = parser.parse_args()
    names = args.assignments or pipeline.assignments()
    sizes = args.students or config.pick([10, 50, 200], [4])
    cores = os.cpu_count() or 1
    print(f"{len(names)} assignment(s): {', '.join(names)}; {cores} cores; class sizes {sizes}")
    rates = {}
    memory = KernelMemory()
    memory.start()
    for n in sizes:
        subs = n * len(names)
        fast = grade(names, n, jobs=cores, skip_demos=True)
        rates[f"N={n}, warm, skip demos"] = subs / fast * 60
        line = (f"N={n:4d}: {subs} submissions, {cores} jobs: warm kernels + --skip-demos {fast:7.1f} s "
                f"= {subs / fast * 60:6.1f}/min")
        if not args.skip_demos_only:
            parallel = grade(names, n, jobs=cores)
            rates[f"N={n}, warm"] = subs / parallel * 60
            line += f"; warm kernels {parallel:7.1f} s (skip-demos speed-up {parallel / fast:.2f}x)"
            if n <= 10:
                serial = grade(names, n, jobs=1)
                cold = grade(names, n, jobs=cores, warm=False)
                rates[f"N={n}, warm, 1 job"] = subs / serial * 60
                rates[f"N={n}, fresh kernels"] = subs / cold * 60
                line += (f"; warm, 1 job {serial:7.1f} s (parallel speed-up {serial / parallel:.2f}x); "
                         f"fresh kernel each {cold:7.1f} s (warm speed-up {cold / parallel:.2f}x)")
        print(line, flush=True)
    memory.stop.set()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of one grading worker (nbgrader) process: {peak_mb:.0f} MB")
    if memory.peaks:
        peaks = sorted(memory.peaks.values())
        print(f"grading kernels seen: {len(peaks)}; peak RSS per kernel (warm ones share most of it "
              f"with their template): median "
              f"{peaks[len(peaks) // 2]:.0f} MB, max {peaks[-1]:.0f} MB (sampled from /proc every 0.5 s); "
              f"{cores} at once need about {cores * (peaks[-1] + peak_mb):.0f} MB")
    best = max(rates.values())
    per_class = 200 * len(pipeline.assignments()) / best
    print(f"projection: 200 students x {len(pipeline.assignments())} assignments = "
          f"{per_class:.0f} min on this machine at {best:.1f} submissions/min "
          f"(goal: 30 min; each extra machine grading its own share divides this)")
    fig = plot.bar_chart(rates, "submissions graded per minute", title="Autograding throughput")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "grading.png"))


if __name__ == "__main__":
    main()
