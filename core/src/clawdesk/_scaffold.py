"""``clawdesk new-provider NAME``: write a provider package to start from.

The package is a working provider: ``pyproject.toml`` with the
``clawdesk.providers`` entry point, the provider module, tests that run the
conformance kit, and a README. Two wires (``wire``):

- ``compat`` (the default), for an OpenAI-compatible chat completions
  backend: the provider is a dialect of the wire library clawdesk's providers
  share (``clawdesk-openai-compat``, a dependency of the package), never a
  copy of it;
- ``bare``, for a backend of its own kind: a provider written on the wire
  toolkit (``clawdesk.provider``) for a documented made-up JSON and
  server-sent events wire, with a kit adapter that reads its requests back,
  to change into the backend's own.

Either installs with pip, shows up in ``clawdesk plugins`` and its tests pass
as generated.

Templates live next to this module in ``_scaffold_templates``; placeholders
are ``{{name}}``-style and replaced literally (no template engine, so the
templates stay plain Python and TOML).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from ._errors import ConfigError

__all__ = ["WIRES", "package_files", "validate_name", "write_provider_package"]

# Stricter than a provider name in general: it also becomes a Python package
# name (clawdesk_<name>) and a distribution name, so no leading digit or
# separator, no trailing separator, no doubled separators.
_NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_MAX_NAME = 40

#: The wires a package can be written for.
WIRES = ("compat", "bare")
#: Templates the bare wire has of its own (in ``_scaffold_templates/bare``); the rest are shared.
_BARE = frozenset(
    {"pyproject.toml.tmpl", "README.md.tmpl", "_plugin.py.tmpl", "test_conformance.py.tmpl", "test_plugin.py.tmpl"}
)

#: template file -> path in the package; ``{module}`` is the import name.
_FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/{module}/__init__.py",
    "_plugin.py.tmpl": "src/{module}/_plugin.py",
    "conftest.py.tmpl": "tests/conftest.py",
    "test_conformance.py.tmpl": "tests/test_conformance.py",
    "test_plugin.py.tmpl": "tests/test_plugin.py",
}


def validate_name(name: str) -> str:
    """``name`` if it can name a provider package, else :class:`~clawdesk.ConfigError` saying why."""
    if not _NAME_RE.fullmatch(name) or len(name) > _MAX_NAME:
        raise ConfigError(
            f"invalid provider name {name!r}: use lower-case letters and digits, optionally joined by "
            f"single '-' or '_', starting with a letter, at most {_MAX_NAME} characters (e.g. 'acme')"
        )
    return name


def _placeholders(name: str) -> dict[str, str]:
    module = "clawdesk_" + name.replace("-", "_")
    words = re.split(r"[-_]", name)
    return {
        "name": name,
        "name_key": name if "-" not in name else f'"{name}"',
        "module": module,
        "dist": "clawdesk-" + name.replace("_", "-"),
        "Class": "".join(w[:1].upper() + w[1:] for w in words),
        "env": "_".join(w.upper() for w in words) + "_API_KEY",
    }


@functools.cache
def _template(name: str, wire: str) -> str:
    folder = resources.files(__package__ or "clawdesk").joinpath("_scaffold_templates")
    if wire == "bare" and name in _BARE:
        folder = folder.joinpath("bare")
    return folder.joinpath(name).read_text(encoding="utf-8")


def _check_wire(wire: str) -> str:
    if wire not in WIRES:
        raise ConfigError(f"invalid --wire {wire!r}: choose one of {', '.join(WIRES)}")
    return wire


def package_files(name: str, wire: str = "compat") -> dict[str, str]:
    """The generated package as ``{relative path: text}`` (nothing is written); ``wire`` as in :data:`WIRES`."""
    values = _placeholders(validate_name(name))
    _check_wire(wire)
    files: dict[str, str] = {}
    for template, target in _FILES.items():
        text = _template(template, wire)
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        files[target.format(module=values["module"])] = text
    files["src/{module}/py.typed".format(module=values["module"])] = ""
    return files


def write_provider_package(name: str, directory: str | os.PathLike[str] = ".", wire: str = "compat") -> Path:
    """Write the package ``clawdesk-<name>`` for ``wire`` into ``directory`` and return its path.

    Raises :class:`~clawdesk.ConfigError` for a bad name or when the target
    already exists; nothing is written then. The package appears whole or not
    at all: it is assembled in a temporary folder next to the target and
    renamed into place.
    """
    files = package_files(name, wire)
    parent = Path(directory)
    target = parent / _placeholders(name)["dist"]
    if target.exists():
        raise ConfigError(f"{target} already exists; remove it or choose another --dir")
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"--dir {parent} is not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=parent))
        staging.chmod(0o755)  # mkdtemp makes it private; a package folder is not
    except OSError as exc:
        raise ConfigError(f"cannot create the package in {parent}: {exc.strerror or exc}") from None
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
