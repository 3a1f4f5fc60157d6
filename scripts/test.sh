#!/usr/bin/env bash
# Set up .venv with core, the plugins and the dev tools, then run every check:
# ruff, mypy --strict, the docs build (strict) and the whole test suite.
# Needs only Python 3.11+ with pip and venv; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r requirements-dev.txt \
    -e "./core[testing]" -e ./plugins/clawdesk-mistral -e ./plugins/clawdesk-ollama -e ./plugins/clawdesk-gemini

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy --strict"
"$VENV/bin/mypy"
if [ -f mkdocs.yml ]; then
    echo "== docs (mkdocs --strict)"
    "$VENV/bin/mkdocs" build --strict --quiet --site-dir "${TMPDIR:-/tmp}/clawdesk-site"
fi
echo "== tests"
"$VENV/bin/python" -m pytest "$@"
