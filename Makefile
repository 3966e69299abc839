# AI Computing Systems in Python — the two commands are `make course` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: course test venv release grade site bench clean

# Create the virtual environment and install the pinned requirements plus this repository.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# 1. Set everything up and run the course: release, grade the sample submissions, build the site.
course: venv
	bash tools/ensure_apt_packages.sh bwrap=bubblewrap
	$(PY) -m autograder all
	$(VENV)/bin/jupyter-book build .
	@echo
	@echo "Site      : $(CURDIR)/_build/html/index.html"
	@echo "Released  : $(CURDIR)/_course/release/  (zips in _course/downloads/)"
	@echo "Grades    : $(CURDIR)/_course/grades.csv"
	@echo "Feedback  : $(CURDIR)/_course/feedback/<student>/<assignment>/"

# 2. The whole test suite (notebooks run in quick mode).
test: venv
	bash tools/ensure_apt_packages.sh bwrap=bubblewrap /usr/bin/chromium=chromium
	COURSE_QUICK=1 $(PY) -m pytest -n $(JOBS) --dist loadgroup

release: venv
	$(PY) -m autograder release

grade: venv
	bash tools/ensure_apt_packages.sh bwrap=bubblewrap
	$(PY) -m autograder all

site: venv
	$(PY) -m autograder release
	$(VENV)/bin/jupyter-book build .

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf _build _course .pytest_cache
