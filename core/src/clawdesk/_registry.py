"""Finding, validating and holding provider plugins.

A :class:`Registry` is an object you build; there is no global one. It
discovers plugins through the ``clawdesk.providers`` entry-point group (unless
told not to), accepts plugin objects at run time, and keeps one
:class:`PluginStatus` per plugin it saw, broken ones included: a plugin that
fails to import, misses a hook, mis-signs one, raises from
``provider_name``, returns a bad name or takes a name already taken is
reported with its reason and never stops the others from working.

Loading a plugin imports its module and calls ``provider_name`` and
``provider_config_type``; nothing else runs until a provider is used, and no
network call is ever made here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Literal

import pluggy
from attrs import frozen

from . import _hookspecs
from ._errors import PluginError, ProviderNotFound
from ._modelid import PROVIDER_NAME_RE
from ._provider_config import ProviderConfig

__all__ = ["ENTRY_POINT_GROUP", "PLUGINS_ENV", "PluginStatus", "Provider", "Registry"]

ENTRY_POINT_GROUP = "clawdesk.providers"
PLUGINS_ENV = "CLAWDESK_PLUGINS"
#: A plugin whose import takes longer than this is reported broken and left
#: behind, so one plugin stuck at import cannot hang every command.
DEFAULT_IMPORT_TIMEOUT = 10.0


@frozen
class PluginStatus:
    """What happened to one plugin: ``status`` is ``"ok"``, ``"error"`` or ``"disabled"``.

    ``error`` says why when the status is not ok. ``distribution`` and
    ``version`` are those of the installed package (``None`` for plugins
    registered at run time).
    """

    name: str
    status: Literal["ok", "error", "disabled"]
    error: str | None = None
    distribution: str | None = None
    version: str | None = None
    source: str = "entry point"


class Provider:
    """One loaded provider: its name, config class and hook implementations.

    Calls go straight to this provider's own hook functions, never through a
    broadcast over every plugin.
    """

    __slots__ = ("_impls", "config_type", "distribution", "name", "plugin", "version")

    def __init__(
        self,
        name: str,
        plugin: object,
        config_type: type[ProviderConfig],
        impls: Mapping[str, tuple[Callable[..., Any], tuple[str, ...]]],
        distribution: str | None,
        version: str | None,
    ) -> None:
        self.name = name
        self.plugin = plugin
        self.config_type = config_type
        self._impls = dict(impls)
        self.distribution = distribution
        self.version = version

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call this provider's implementation of ``hook`` with the arguments it takes."""
        function, argnames = self._impls[hook]
        return function(**{name: kwargs[name] for name in argnames})

    def __repr__(self) -> str:
        return f"<Provider {self.name!r} from {self.distribution or 'runtime'}>"


class Registry:
    """The providers this process can use.

    ``discover=False`` loads no entry points (for tests and embedding);
    ``plugins`` is an allow/deny list in the form of ``CLAWDESK_PLUGINS``
    (default: that variable): comma-separated names, a leading ``-`` denies
    one (``-acme``), and any plain name turns the list into an allow-list.
    Names match the entry point's name or the distribution's.
    """

    def __init__(
        self,
        *,
        discover: bool = True,
        plugins: str | None = None,
        import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    ) -> None:
        self._pm = pluggy.PluginManager(_hookspecs.PROJECT)
        self._pm.add_hookspecs(_hookspecs)
        self._providers: dict[str, Provider] = {}
        self._statuses: list[PluginStatus] = []
        spec = os.environ.get(PLUGINS_ENV) if plugins is None else plugins
        self._allow, self._deny = _parse_filter(spec or "")
        self._import_timeout = import_timeout
        if discover:
            self.discover()

    # -- discovery ----------------------------------------------------------

    def discover(self) -> None:
        """Load every plugin of the ``clawdesk.providers`` entry-point group."""
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            self._statuses.append(self._discover_one(ep))

    def _discover_one(self, ep: metadata.EntryPoint) -> PluginStatus:
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None

        def status(state: Literal["ok", "error", "disabled"], error: str | None = None) -> PluginStatus:
            return PluginStatus(ep.name, state, error, distribution=dist_name, version=version)

        if not self._allowed(ep.name, dist_name):
            return status("disabled", f"disabled by {PLUGINS_ENV}")
        if ep.name in self._providers:
            other = self._providers[ep.name].distribution
            return status("error", f"duplicate provider name {ep.name!r}, already provided by {other}")
        try:
            plugin = self._import(ep)
            self._add(plugin, expected_name=ep.name, distribution=dist_name, version=version)
        except PluginError as exc:
            return status("error", exc.detail)
        return status("ok")

    def _import(self, ep: metadata.EntryPoint) -> object:
        # Import in a worker thread so that a plugin stuck at import (a sleep,
        # a network call) is reported after a timeout instead of hanging us.
        result: list[object] = []
        failure: list[BaseException] = []

        def load() -> None:
            try:
                result.append(ep.load())
            except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin is a plugin bug too
                failure.append(exc)

        worker = threading.Thread(target=load, name=f"clawdesk-load-{ep.name}", daemon=True)
        worker.start()
        worker.join(self._import_timeout)
        if worker.is_alive():
            raise PluginError(ep.name, f"import did not finish within {self._import_timeout:g}s")
        if failure:
            exc = failure[0]
            if isinstance(exc, KeyboardInterrupt):
                raise exc
            raise PluginError(ep.name, f"import of {ep.value} failed: {type(exc).__name__}: {exc}")
        return result[0]

    # -- run-time registration ------------------------------------------------

    def register(self, plugin: object, *, name: str | None = None) -> Provider:
        """Register a plugin object (a module or any object with hookimpls) now.

        ``name``, when given, must equal what ``provider_name`` returns. Raises
        :class:`~clawdesk.PluginError` when the plugin is invalid or its name is
        taken; the registry is unchanged then.
        """
        label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            provider = self._add(plugin, expected_name=name, distribution=None, version=None)
        except PluginError as exc:
            self._statuses.append(PluginStatus(name or label, "error", exc.detail, source="runtime"))
            raise
        self._statuses.append(PluginStatus(provider.name, "ok", source="runtime"))
        return provider

    def _add(
        self, plugin: object, *, expected_name: str | None, distribution: str | None, version: str | None
    ) -> Provider:
        label = expected_name or getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            self._pm.register(plugin, name=f"{label}@{id(plugin)}")
        except pluggy.PluginValidationError as exc:
            raise PluginError(label, f"invalid hook: {exc}") from None
        except ValueError as exc:  # already registered
            raise PluginError(label, str(exc)) from None
        try:
            return self._validate(plugin, label, expected_name, distribution, version)
        except PluginError:
            self._pm.unregister(plugin)
            raise

    def _validate(
        self, plugin: object, label: str, expected_name: str | None, distribution: str | None, version: str | None
    ) -> Provider:
        impls: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {}
        for caller in self._pm.get_hookcallers(plugin) or ():
            if caller.spec is None:
                raise PluginError(label, f"implements unknown hook {caller.name!r} (a typo?)")
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    impls[caller.name] = (impl.function, tuple(impl.argnames))
        missing = [hook for hook in _hookspecs.REQUIRED_HOOKS if hook not in impls]
        if missing:
            raise PluginError(label, f"missing hook{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        name = _call_plain(label, "provider_name", impls["provider_name"][0])
        if not isinstance(name, str) or not PROVIDER_NAME_RE.fullmatch(name):
            raise PluginError(label, f"provider_name returned {name!r}, expected a name like 'my-provider'")
        if expected_name is not None and name != expected_name:
            raise PluginError(label, f"provider_name returned {name!r} but the entry point is named {expected_name!r}")
        if name in self._providers:
            other = self._providers[name].distribution or "a plugin registered at run time"
            raise PluginError(label, f"duplicate provider name {name!r}, already provided by {other}")
        config_type: Any = ProviderConfig
        if "provider_config_type" in impls:
            config_type = _call_plain(label, "provider_config_type", impls["provider_config_type"][0])
            if not (isinstance(config_type, type) and issubclass(config_type, ProviderConfig)):
                raise PluginError(
                    label, f"provider_config_type returned {config_type!r}, expected a ProviderConfig subclass"
                )
        provider = Provider(name, plugin, config_type, impls, distribution, version)
        self._providers[name] = provider
        return provider

    # -- queries ----------------------------------------------------------------

    def provider(self, name: str) -> Provider:
        """The loaded provider ``name``; raises :class:`~clawdesk.ProviderNotFound`."""
        try:
            return self._providers[name]
        except KeyError:
            raise ProviderNotFound(name, sorted(self._providers)) from None

    def providers(self) -> list[Provider]:
        """Every provider that loaded, in load order."""
        return list(self._providers.values())

    def names(self) -> list[str]:
        return list(self._providers)

    def statuses(self) -> list[PluginStatus]:
        """One status per plugin seen, broken and disabled ones included."""
        return list(self._statuses)

    def _allowed(self, name: str, dist: str | None) -> bool:
        names = {name, dist} if dist else {name}
        if names & self._deny:
            return False
        return not self._allow or bool(names & self._allow)


def _call_plain(label: str, hook: str, function: Callable[[], Any]) -> Any:
    try:
        return function()
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not take the registry down
        raise PluginError(label, f"{hook} raised {type(exc).__name__}: {exc}") from None


def _parse_filter(spec: str) -> tuple[frozenset[str], frozenset[str]]:
    allow: set[str] = set()
    deny: set[str] = set()
    for token in (t.strip() for t in spec.split(",")):
        if token.startswith("-"):
            deny.add(token[1:].strip())
        elif token:
            allow.add(token)
    return frozenset(allow), frozenset(deny)
