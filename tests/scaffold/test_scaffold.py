"""`clawdesk new-provider`: the generated package is valid, installs, is discovered and passes its own tests."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import ConfigError
from clawdesk._cli import main
from clawdesk._scaffold import _NAME_RE, package_files, write_provider_package


@pytest.mark.slow
@pytest.mark.timeout(600)  # pip install, a type check and a whole test run in subprocesses
@pytest.mark.parametrize("wire", ["compat", "bare"])
def test_generated_acme_installs_is_listed_and_passes_its_tests(
    tmp_path: Path, private_install: Any, wire: str
) -> None:
    """`clawdesk new-provider acme` (either wire) gives a package that installs, is listed and passes its tests."""
    run = subprocess.run(
        [sys.executable, "-m", "clawdesk", "new-provider", "acme", "--dir", str(tmp_path / "src"), "--wire", wire],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    package = tmp_path / "src" / "clawdesk-acme"
    assert f"created {package}" in run.stdout
    private_install.install(package)
    listed = private_install.plugins()
    assert listed["acme"]["status"] == "ok", listed["acme"]
    assert listed["acme"]["distribution"] == "clawdesk-acme"
    # The package is a starting point people copy: it passes strict linters as generated.
    bin_dir = Path(sys.executable).parent
    for tool in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy", "--strict", "src", "tests"]):
        exe = bin_dir / tool[0]
        if not exe.exists():
            continue
        lint = subprocess.run(
            [str(exe), *tool[1:]],
            cwd=package,
            capture_output=True,
            text=True,
            timeout=300,
            env=private_install.env,
            check=False,
        )
        assert lint.returncode == 0, f"{' '.join(tool)}: {lint.stdout}{lint.stderr}"
    tests = private_install.pytest(package)
    assert "skipped" not in tests.stdout


@pytest.mark.parametrize("name", ["Acme", "1acme", "ac me", "acme-", "ac--me", "ac_-me", "ac/me", "", "a" * 41])
def test_bad_name_is_one_line_exit_2(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A name that cannot be a provider package is refused with one line on stderr and exit status 2."""
    assert main(["new-provider", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"clawdesk: error: invalid provider name {name!r}")
    assert list(tmp_path.iterdir()) == []


def test_leading_dash_name_is_refused(tmp_path: Path) -> None:
    """A name starting with '-' (which argparse would read as an option) is refused by the writer too."""
    with pytest.raises(ConfigError, match="invalid provider name '-acme'"):
        write_provider_package("-acme", tmp_path)


def test_existing_directory_is_refused_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target that already exists is refused with exit 2 and left exactly as it was."""
    target = tmp_path / "clawdesk-acme"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    assert main(["new-provider", "acme", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"clawdesk: error: {target} already exists; remove it or choose another --dir\n"
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clawdesk-acme"]


def test_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """--dir naming a file is a usage error, not a traceback."""
    (tmp_path / "file").write_text("")
    assert main(["new-provider", "acme", "--dir", str(tmp_path / "file")]) == 2


def test_write_returns_the_package_path(tmp_path: Path) -> None:
    """write_provider_package creates a missing --dir and returns the package folder with every file in it."""
    path = write_provider_package("my-llm", tmp_path / "new" / "dir")
    assert path == tmp_path / "new" / "dir" / "clawdesk-my-llm"
    written = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    assert written == sorted(package_files("my-llm"))
    assert "src/clawdesk_my_llm/_plugin.py" in written


@given(st.from_regex(_NAME_RE, fullmatch=True).filter(lambda n: len(n) <= 40), st.sampled_from(["compat", "bare"]))
def test_any_valid_name_renders_a_consistent_package(name: str, wire: str) -> None:
    """For every valid name and wire the files have no placeholder left, parse, and agree on names and entry point."""
    files = package_files(name, wire)
    module = "clawdesk_" + name.replace("-", "_")
    assert module.isidentifier()
    for path, text in files.items():
        assert "{{" not in text, path
        if path.endswith(".py"):
            ast.parse(text, filename=path)
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["entry-points"]["clawdesk.providers"] == {name: f"{module}._plugin"}
    assert project["project"]["name"] == "clawdesk-" + name.replace("_", "-")
    assert f'NAME = "{name}"' in files[f"src/{module}/_plugin.py"]


def test_the_wires_differ_where_they_should() -> None:
    """The openai package is a dialect of the shared wire; the bare one needs no such library and reads back."""
    openai, bare = package_files("acme", "compat"), package_files("acme", "bare")
    assert "clawdesk-openai-compat" in openai["pyproject.toml"]
    assert "clawdesk-openai-compat" not in bare["pyproject.toml"]
    assert "DIALECT = Dialect(" in openai["src/clawdesk_acme/_plugin.py"]
    assert "def read_request" in bare["tests/test_conformance.py"]
    assert sorted(openai) == sorted(bare)


def test_an_unknown_wire_is_refused() -> None:
    """A wire that is not offered is a ConfigError naming the choices; nothing is rendered."""
    with pytest.raises(ConfigError, match="invalid --wire 'grpc': choose one of compat, bare"):
        package_files("acme", "grpc")


def test_the_cli_refuses_an_unknown_wire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--wire grpc` is a usage error (exit 2) and writes nothing."""
    with pytest.raises(SystemExit) as exit_info:
        main(["new-provider", "acme", "--dir", str(tmp_path), "--wire", "grpc"])
    assert exit_info.value.code == 2
    assert "--wire" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
