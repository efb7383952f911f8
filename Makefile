# SecureDrive — the two commands of the README are `make run` and `make test`.
# Needs only python3.11, git and make; everything else is installed into .venv from
# the hash-pinned lock files in requirements/ by a pinned uv.

PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# Tests that touch the database directly, run a second time on SQLite (embedded mode).
SQLITE_TESTS := tests/test_audit_chain.py tests/test_accounts_login.py tests/test_web_shell.py \
	tests/test_mfa.py
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# Compile the dependencies' bytecode once, at install. uv does not by default, and with
# PYTHONDONTWRITEBYTECODE=1 (set on these machines and in the image) nothing writes it
# later: every process (gunicorn and Celery workers, manage.py, each test server)
# compiled Django and the rest from source again, 2.6 s of CPU to set Django up
# instead of 0.8 s (bench/README.md, "Process start").
export UV_COMPILE_BYTECODE := 1
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: run install install-dev lock test lint typecheck pytest services-start services-stop vendor messages clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/bin/python: | $(UV)
	$(UV) venv --quiet --python $(PYTHON) $(VENV)

install: $(VENV)/bin/python
	$(UV) pip install --quiet --require-hashes -r requirements/base.txt

install-dev: $(VENV)/bin/python
	$(UV) pip sync --quiet --require-hashes requirements/dev.txt

## Re-resolve pyproject.toml's dependencies into the hash-pinned lock files.
lock: $(UV)
	$(UV) lock
	$(UV) export --frozen --no-dev --format requirements-txt --no-emit-project --no-header -o requirements/base.txt
	$(UV) export --frozen --group dev --format requirements-txt --no-emit-project --no-header -o requirements/dev.txt

## Command 1: install and run SecureDrive (web + worker) on embedded defaults.
run: install
	$(VENV)/bin/python manage.py bootstrap --no-setup-link
	exec $(VENV)/bin/python manage.py supervise --procfile Procfile \
		--then "$(VENV)/bin/python manage.py setup_link --if-pending"

## Command 2: install the test dependencies, start the local test services that are
## installed (PostgreSQL, Redis, clamd, moto S3) and run lint, types and the suite.
test: install-dev
	$(MAKE) --no-print-directory lint typecheck
	tests/services.sh start
	set -a && . var/test-services/env && set +a && $(VENV)/bin/pytest -n auto --dist loadgroup $(PYTEST_ARGS)
	@echo "== embedded-mode pass: the database-facing tests again on SQLite =="
	SECUREDRIVE_TEST_SQLITE_PASS=1 $(VENV)/bin/pytest -q -p no:cacheprovider $(SQLITE_TESTS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy .

services-start:
	tests/services.sh start

services-stop:
	tests/services.sh stop

## Refresh the vendored front-end files from the pinned versions in package.json.
vendor:
	npm ci --no-audit --no-fund --ignore-scripts
	rm -rf static/vendor && mkdir -p static/vendor/bootstrap static/vendor/htmx static/vendor/bootstrap-icons/fonts
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/css/bootstrap.min.css.map static/vendor/bootstrap/
	cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js node_modules/bootstrap/dist/js/bootstrap.bundle.min.js.map static/vendor/bootstrap/
	cp node_modules/bootstrap/LICENSE static/vendor/bootstrap/
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE static/vendor/htmx/
	cp node_modules/bootstrap-icons/font/bootstrap-icons.min.css node_modules/bootstrap-icons/LICENSE static/vendor/bootstrap-icons/
	cp node_modules/bootstrap-icons/font/fonts/* static/vendor/bootstrap-icons/fonts/
	mkdir -p static/vendor/tus-js-client && cp node_modules/tus-js-client/dist/tus.min.js node_modules/tus-js-client/dist/tus.min.js.map node_modules/tus-js-client/LICENSE static/vendor/tus-js-client/
	# dwv (DICOM viewer, imaging/): an ES module importing "konva", "jszip" and
	# "magic-wand-tool" by bare name. No bundler: their UMD builds are loaded as classic
	# scripts and three one-line shims re-export the globals; the imports are pointed at them.
	mkdir -p static/vendor/dwv/shims
	# Its decoder workers (RLE, JPEG) are loaded from "./assets/workers/…" resolved against
	# webpack's base, document.baseURI: the study page's URL, where they are not (RLE
	# series failed to display). Resolved against the module's own URL instead.
	sed -e 's|from"konva"|from"./shims/konva.js"|' -e 's|from"jszip"|from"./shims/jszip.js"|' \
		-e 's|from"magic-wand-tool"|from"./shims/magic-wand-tool.js"|' \
		-e 's#i.b="undefined"!=typeof document&&document.baseURI||self.location.href#i.b=import.meta.url#' \
		node_modules/dwv/dist/dwv.min.js > static/vendor/dwv/dwv.min.js
	! grep -q 'from"[a-z]' static/vendor/dwv/dwv.min.js
	grep -q 'i.b=import.meta.url' static/vendor/dwv/dwv.min.js
	cp node_modules/dwv/dist/dwv.min.js.map node_modules/dwv/license.txt static/vendor/dwv/
	cp -r node_modules/dwv/dist/assets static/vendor/dwv/
	cp node_modules/konva/konva.min.js node_modules/konva/LICENSE static/vendor/dwv/shims/
	cp node_modules/jszip/dist/jszip.min.js node_modules/jszip/LICENSE.markdown static/vendor/dwv/shims/
	cp node_modules/magic-wand-tool/dist/magic-wand.min.js node_modules/magic-wand-tool/dist/magic-wand.min.js.map static/vendor/dwv/shims/
	printf 'export default window.Konva;\n' > static/vendor/dwv/shims/konva.js
	printf 'export default window.JSZip;\n' > static/vendor/dwv/shims/jszip.js
	printf 'export default window.MagicWand;\n' > static/vendor/dwv/shims/magic-wand-tool.js
	# axe-core (accessibility checks) is for the browser tests only: never served to users.
	rm -rf tests/vendor/axe-core && mkdir -p tests/vendor/axe-core && cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE tests/vendor/axe-core/
	mkdir -p static/vendor/pdfjs/standard_fonts && cp node_modules/pdfjs-dist/build/pdf.min.mjs node_modules/pdfjs-dist/build/pdf.worker.min.mjs node_modules/pdfjs-dist/LICENSE static/vendor/pdfjs/ && cp node_modules/pdfjs-dist/standard_fonts/* static/vendor/pdfjs/standard_fonts/

## Rebuild the French catalogue after changing UI text.
messages:
	cd . && $(VENV)/bin/python manage.py makemessages --locale fr --ignore '.venv/*' --ignore 'node_modules/*' --ignore 'var/*'
	$(VENV)/bin/python manage.py compilemessages --locale fr

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
