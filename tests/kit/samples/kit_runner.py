"""Run pytest on generated test files in a subprocess and read each test's outcome from JUnit XML."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from attrs import frozen

SAMPLES = Path(__file__).parent


@frozen
class Result:
    """One test's outcome (``passed``, ``failed``, ``error``, ``skipped``, ``xfailed``) and its message."""

    outcome: str
    message: str


def run_pytest(tmp_path: Path, files: dict[str, str], *args: str) -> tuple[dict[str, Result], str]:
    """Write ``files`` into ``tmp_path``, run pytest there and return ``{test id: Result}`` and the output."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    report = tmp_path / "report.xml"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SAMPLES), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--junitxml", str(report), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    results: dict[str, Result] = {}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            test_id = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            outcome, message = "passed", ""
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome, message = ("failed" if child.tag == "failure" else "error"), child.get("message", "")
                elif child.tag == "skipped":
                    kind = child.get("type", "")
                    outcome = "xfailed" if kind == "pytest.xfail" else "skipped"
                    message = child.get("message", "")
            results[test_id] = Result(outcome, message)
    return results, output
