# Ersen Ops — `make run` and `make test` work from a fresh clone with only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ADDR   ?= 127.0.0.1:8000
# `make sandbox-host` listens on these; `make run` points the demo's "sandbox" host at them.
SANDBOX_SSH_PORT ?= 2222
SANDBOX_TLS_PORT ?= 8443
# What `make run` serves on flows into the portal (status page URL in subscriber email, the demo smoke test)
# unless OPS_STATUS_PAGE_URL is set explicitly (environment or .env).
RUN_ENV = OPS_RUN_ADDR=$(ADDR) OPS_SANDBOX_SSH_PORT=$(SANDBOX_SSH_PORT) OPS_SANDBOX_TLS_PORT=$(SANDBOX_TLS_PORT)

.PHONY: run processes test install serve worker checker migrate lint lock bench sandbox-host clean code docs-screenshots

$(STAMP): requirements.txt requirements-dev.txt cli/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	@# The ersen-ops command line (cli/, its own package; its dependency httpx is pinned above), editable: the
	@# checkout's code runs. --no-deps: nothing beyond the pins.
	$(BIN)/python -m pip install --quiet --no-deps -e ./cli
	@touch $(STAMP)

install: $(STAMP)

## make run: install, a development .env if none, migrate, demo data, print logins, start web + worker + checker (Ctrl-C stops all)
run: export DEBUG ?= 1
run: $(STAMP)
	@$(BIN)/python manage.py dev_env
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py apply_schedules
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@$(MAKE) --no-print-directory processes ADDR=$(ADDR) SANDBOX_SSH_PORT=$(SANDBOX_SSH_PORT) SANDBOX_TLS_PORT=$(SANDBOX_TLS_PORT)

## make processes: only the processes of the Procfile (web, worker, checker), through honcho; Ctrl-C stops all of them.
## `--env /dev/null`: the settings read .env themselves (the environment wins), so honcho must not override it.
processes: export DEBUG ?= 1
processes: $(STAMP)
	@echo "Starting the Procfile's processes (web on http://$(ADDR)/admin/, worker, checker); Ctrl-C stops all."
	@ADDR=$(ADDR) $(RUN_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho --env /dev/null start

## make code U=operator: the demo login's current second-factor code (what an authenticator app would show)
code: export DEBUG ?= 1
code: $(STAMP)
	@test -n "$(U)" || { echo "usage: make code U=operator   (a demo login from .demo-credentials)"; exit 2; }
	@$(BIN)/python manage.py totp_code "$(U)"

## make test: install and run the whole suite (CI=true turns missing programs into failures), in TEST_WORKERS
## pytest-xdist workers (2; the tests that start real processes run one at a time in one of them; 0: no xdist)
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## make serve: production-style web process (gunicorn + whitenoise); run `make worker` beside it
serve: $(STAMP)
	$(BIN)/python manage.py collectstatic --no-input -v 0
	$(BIN)/gunicorn ersen_ops.wsgi --bind $(ADDR) --workers $${WEB_CONCURRENCY:-3} --access-logfile -

worker: $(STAMP)
	$(BIN)/python manage.py qcluster

## make checker: the health-check process (run one or more, on any machine that reaches PostgreSQL; README "Health checks")
checker: $(STAMP)
	$(BIN)/python manage.py checker

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py apply_schedules

lint: $(STAMP)
	$(BIN)/ruff check .

## make sandbox-host: a local SSH host (sshd + shims for docker/cryptsetup/mount/sudo) and an HTTPS site,
## to try every runbook from `make run` (see README "Runbooks"); Ctrl-C stops it
sandbox-host: export DEBUG ?= 1
sandbox-host: $(STAMP)
	$(BIN)/python manage.py sandbox_host --port $(SANDBOX_SSH_PORT) --tls-port $(SANDBOX_TLS_PORT)

## make docs-screenshots: retake the README's screenshots (docs/*.png) from the end-to-end tests that take them
docs-screenshots: $(STAMP)
	$(BIN)/python tests/e2e/docs_screenshots.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH)

## make lock: re-pin requirements*.txt from requirements*.in (needs pip-tools)
lock:
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-header -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-header -o requirements-dev.txt requirements-dev.in
	sed -i '/^--extra-index-url/d;/^--find-links/d;/^--index-url/d' requirements.txt requirements-dev.txt

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
