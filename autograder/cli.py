"""`python -m autograder COMMAND [ASSIGNMENT ...]`: the course's grading steps.

    notebooks [--check]  regenerate notebooks/<a>/<a>.ipynb from <a>.src.py
    release              copy sources into the course directory, generate student versions
    samples              write the sample submissions (solution, stub, partly correct, cheat)
    grade                nbgrader autograde every submission
    feedback             nbgrader generate_feedback (hidden tests stripped)
    export               nbgrader export -> grades.csv
    all                  release + samples + grade + feedback + export, then a summary
    cycle                the same through nbgrader's exchange, as a class runs it:
                         release_assignment, each sample student fetches and submits,
                         collect, grade, feedback, release_feedback, export, fetch_feedback
                         (--exchange DIR, default <course>/exchange; see exchange.py)
    hostile              grade the bad submissions of autograder/hostile.py (crashes, hangs,
                         floods, edited or deleted tests, cheats, escapes, ...) in one batch
                         and check that each gets its exact expected score; for a new or
                         edited assignment (--timeout S per cell, default 30; use
                         COURSE_QUICK=1; a course folder of its own, default _hostile/)

With no ASSIGNMENT, every folder of notebooks/ is used. The course directory is
--course DIR, else $COURSE_DIR, else _course/ in the repository.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import notebook_source, pipeline


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["notebooks", "release", "samples", "grade", "feedback",
                                       "export", "all", "cycle", "hostile"])
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    p.add_argument("--course", type=Path, default=None,
                   help="the course folder (default: $COURSE_DIR, else _course/; for 'hostile' _hostile/)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="students graded at once (default: the number of CPU cores)")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="with 'grade': grade only every N-th student starting at the K-th "
                        "(1-based, sorted by id), to split a class across N machines")
    p.add_argument("--skip-demos", action="store_true",
                   help="with 'grade' or 'all': do not run the [demo] cells that no graded cell "
                        "depends on (autograder/demos.py); for large classes")
    p.add_argument("--exchange", type=Path, default=None,
                   help="with 'cycle': the exchange folder (default <course>/exchange)")
    p.add_argument("--timeout", type=int, default=30,
                   help="with 'hostile': seconds per cell (the infinite loop waits this long)")
    p.add_argument("--check", action="store_true",
                   help="with 'notebooks': fail if a .ipynb is not what its .src.py gives")
    return p


def _print_summary(course: Path, result: dict) -> None:
    print("\nScores (autograded points / possible):")
    for name, students in result["scores"].items():
        for student, cells in sorted(students.items()):
            got = sum(s for s, _ in cells.values())
            possible = sum(m for _, m in cells.values())
            print(f"  {name:<20} {student:<18} {got:6.1f} / {possible:.1f}")
    flagged = [f"{name}/{student}" for name, students in sorted(result.get("flags", {}).items())
               for student in sorted(students)]
    if flagged:
        print(f"\nTo review by hand ({pipeline.REVIEW_FILE}): {', '.join(flagged)}")
    print(f"\nGrades CSV : {result['csv']}")
    print(f"Feedback   : {course / 'feedback'}")
    print(f"Gradebook  : {course / 'gradebook.db'}")


def _hostile(args, names: list[str], course: Path) -> int:
    from . import hostile

    if course.exists() and any(course.iterdir()):
        print(f"error: {course} is not empty (the batch needs a course folder of its own)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = hostile.run_batch(course, names, timeout=args.timeout, jobs=args.jobs, skip_demos=True)
    wrong = []
    for name, cases in results.items():
        bad = hostile.mismatches({name: cases})
        print(f"{name:<26} {len(cases) - len(bad):3d} / {len(cases)} cases scored exactly as expected")
        wrong += bad
    for line in wrong:
        print(f"  WRONG {line}", file=sys.stderr)
    print(f"hostile: {sum(map(len, results.values()))} submissions in {time.perf_counter() - start:.0f} s "
          f"({course}; flags: {course / pipeline.REVIEW_FILE})")
    return 1 if wrong else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "notebooks":
        if args.check:
            stale = notebook_source.stale_notebooks(pipeline.NOTEBOOKS)
            for target, _ in stale:
                print(f"out of date: {target} (run: python -m autograder notebooks)", file=sys.stderr)
            return 1 if stale else 0
        for path in notebook_source.write_notebooks(pipeline.NOTEBOOKS):
            print(f"wrote {path}")
        return 0

    names = args.assignments or pipeline.assignments()
    unknown = sorted(set(names) - set(pipeline.assignments()))
    if unknown:
        print(f"unknown assignment(s): {', '.join(unknown)}; "
              f"known: {', '.join(pipeline.assignments())}", file=sys.stderr)
        return 2
    if args.course is None and args.command == "hostile":
        args.course = pipeline.REPO / "_hostile"
    course = (args.course or Path(os.environ.get("COURSE_DIR", pipeline.DEFAULT_COURSE))).resolve()
    start = time.perf_counter()
    try:
        if args.command == "release":
            pipeline.release(course, names)
        elif args.command == "samples":
            pipeline.write_samples(course, names)
        elif args.command == "grade":
            if args.shard:
                failed = {}
                for name in names:
                    shard = pipeline.shard(pipeline.submitted_students(course, name), args.shard)
                    print(f"{name}: grading {len(shard)} student(s) of shard {args.shard}")
                    failed.update(pipeline.autograde(course, [name], students=shard, jobs=args.jobs,
                                                     skip_demos=args.skip_demos))
            else:
                failed = pipeline.autograde(course, names, jobs=args.jobs, skip_demos=args.skip_demos)
            for name, students in failed.items():
                for student, reason in students.items():
                    print(f"not graded: {name} / {student}: {reason}", file=sys.stderr)
        elif args.command == "feedback":
            pipeline.feedback(course, names)
        elif args.command == "export":
            print(pipeline.export(course))
        elif args.command == "cycle":
            from . import exchange
            result = exchange.run_cycle(course, args.exchange or course / "exchange", names,
                                        homes=course / "students", jobs=args.jobs)
            _print_summary(course, result)
            for student, pages in sorted(result["feedback"].items()):
                print(f"  {student:<18} fetched feedback: {', '.join(str(p) for p in pages) or 'none'}")
        elif args.command == "hostile":
            return _hostile(args, names, course)
        else:
            _print_summary(course, pipeline.run_all(course, names, jobs=args.jobs,
                                                    skip_demos=args.skip_demos))
    except pipeline.PipelineError as err:
        print(f"error: {err}\n(full log: {course / 'pipeline.log'})", file=sys.stderr)
        return 1
    print(f"{args.command}: done in {time.perf_counter() - start:.0f} s ({course})")
    return 0
