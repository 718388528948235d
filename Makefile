# The course's commands. `make book` and `make test` do all the set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed-stamp
# Run every tool from the virtual environment (and its Jupyter kernel) first.
export PATH := $(BIN):$(PATH)

.PHONY: help setup book slides pdf test test-pdf notebooks bundles lab check clean

help:
	@echo "make book       set up .venv, execute every chapter, build the website (full mode)"
	@echo "make slides     a reveal.js deck per chapter -> _build/slides/index.html (offline; uses make book's outputs if there)"
	@echo "make pdf        the whole course as one PDF -> _build/pdf/vaecourse.pdf (needs TeX Live: the README, for instructors)"
	@echo "make test       set up .venv, run the linter (ruff) and every test (smoke mode)"
	@echo "make test-pdf   build the PDF and test it (needs TeX Live; minutes)"
	@echo "make bundles    rebuild the widgets' JavaScript bundles (vaecourse/js/bundles/) from vaecourse/js/src/ with esbuild"
	@echo "make lab        JupyterLab on notebooks/"
	@echo "make notebooks  regenerate notebooks/ from book/ (no outputs) and tests/notebooks/ (smoke-mode outputs for nbval)"
	@echo "make check      run the lecture's derivation checks"
	@echo "make clean      remove the build output (keeps .venv and the model cache)"

# torch's CPU index, preferred on Linux without an NVIDIA GPU (scripts/torch_index.py); empty: off.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

# Create .venv when missing, install the pinned requirements and the package (editable).
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt \
	  $$($(PY) scripts/torch_index.py "$(TORCH_CPU_INDEX)")
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	@$(PY) -c "import torch; print('torch', torch.__version__, 'installed')"
	@echo "$(VENV): $$(du -sh $(VENV) | cut -f1)"
	@touch $(STAMP)

setup: $(STAMP)

# The pages hold the package's output (the widgets carry its JavaScript), but Sphinx redoes only the
# .md files that changed: when vaecourse/ changed since the last build, every page is built again.
BUILT := _build/.vaecourse-stamp
book: setup
	$(PY) scripts/vendor_assets.py
	@if [ -d _build/.doctrees ] && { [ ! -f $(BUILT) ] || [ -n "$$(find vaecourse -newer $(BUILT) -type f ! -name '*.pyc' | head -n 1)" ]; }; then \
	  echo "vaecourse/ changed since the last build: building every page again"; \
	  rm -rf _build/.doctrees _build/jupyter_execute; fi
	$(BIN)/jupyter-book build . -W --keep-going
	@touch $(BUILT)
	@echo ""
	@echo "The course website: $(CURDIR)/_build/html/index.html"

# A reveal.js deck per chapter (scripts/slides.py): the pictures and quoted numbers come from the website
# build's executed notebooks (_build/jupyter_execute) when `make book` has run, else each chapter is executed.
# CHAPTERS="elbo sgd" makes only those decks.
slides: setup
	$(PY) scripts/vendor_assets.py --slides
	$(PY) -m scripts.slides $(CHAPTERS)
	@echo ""
	@echo "The slides: $(CURDIR)/_build/slides/index.html (s: speaker notes, f: full screen)"

# The whole course as a PDF with jupyter-book's LaTeX builder (TeX Live: the README's apt-get line).
# It executes every chapter (full mode), as `make book` does.
pdf: setup
	$(PY) scripts/pdf.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	VAECOURSE_SMOKE=1 $(PY) -m pytest

# The PDF's own tests, which build the whole PDF (every chapter, then LaTeX: up to 20 minutes); they
# need TeX Live (the README, for instructors). Kept out of `make test` for CI's time.
test-pdf: setup
	VAECOURSE_PDF_BUILD=1 $(PY) -m pytest tests/book/test_pdf.py

notebooks: setup
	VAECOURSE_SMOKE=1 $(PY) -m scripts.make_notebooks

# The widgets' front ends: ES modules in vaecourse/js/src/, bundled by esbuild (pinned, from npm) into the
# committed vaecourse/js/bundles/ (the wheel ships them; tests/widgets/test_bundles.py checks they are current).
bundles: setup
	$(PY) scripts/build_bundles.py

lab: setup
	$(BIN)/jupyter lab notebooks/

check: setup
	$(PY) -m vaecourse check

clean:
	rm -rf _build .pytest_cache test-output
