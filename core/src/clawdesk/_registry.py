"""Finding, validating and holding provider plugins.

A :class:`Registry` is an object you build; there is no global one. It
discovers plugins through the ``clawdesk.providers`` entry-point group (unless
told not to), accepts plugin objects at run time, and keeps one
:class:`PluginStatus` per plugin it saw, broken ones included: a plugin that
fails to import (or takes longer than the import timeout), misses a hook,
mis-signs one (an argument the hookspec does not provide, ``async`` where
the hook is called plainly or the reverse), implements a hook that does not
exist, declares no contract version or one this clawdesk does not speak,
raises from ``provider_name``, returns a bad name, config class or options
class, or takes a name already taken is reported with its reason and never stops the
others from working. A package with an unreadable ``entry_points.txt`` is
skipped (and reported when it declares clawdesk providers).

Loading a plugin imports its module and calls ``provider_name`` and
``provider_config_type``; nothing else runs until a provider is used, and no
network call is ever made here.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Literal

import attrs
import pluggy
from attrs import frozen

from . import _hookspecs
from ._errors import PluginError, ProviderNotFound
from ._modelid import PROVIDER_NAME_RE
from ._provider_config import ProviderConfig

__all__ = ["ENTRY_POINT_GROUP", "PLUGINS_ENV", "PluginStatus", "Provider", "Registry"]

ENTRY_POINT_GROUP = "clawdesk.providers"
PLUGINS_ENV = "CLAWDESK_PLUGINS"
#: Overrides the import timeout (seconds) when ``import_timeout`` is not given.
IMPORT_TIMEOUT_ENV = "CLAWDESK_PLUGIN_IMPORT_TIMEOUT"
#: A plugin whose import takes longer than this is reported broken and left
#: behind, so one plugin stuck at import cannot hang every command.
DEFAULT_IMPORT_TIMEOUT = 10.0
#: The longest import timeout: a larger value (1e300 meaning "no limit") counts as this much.
MAX_IMPORT_TIMEOUT = 3600.0

# Hooks that are called and awaited (``async def``), and hooks called plainly.
_ASYNC_HOOKS = frozenset({"provider_models", "provider_chat"})
_SYNC_HOOKS = frozenset({"provider_name", "provider_config_type", "provider_options_type", "provider_capabilities"})


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

    __slots__ = ("_impls", "config_type", "distribution", "name", "options_type", "plugin", "version")

    def __init__(
        self,
        name: str,
        plugin: object,
        config_type: type[ProviderConfig],
        impls: Mapping[str, tuple[Callable[..., Any], tuple[str, ...]]],
        distribution: str | None,
        version: str | None,
        options_type: type | None = None,
    ) -> None:
        self.name = name
        self.plugin = plugin
        self.config_type = config_type
        self.options_type = options_type
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
    Names match the entry point's name or the distribution's (``-``, ``_``
    and ``.`` count as the same, case does not matter). The list applies to
    discovered plugins only; :meth:`register` always registers.

    ``import_timeout`` (seconds; default ``$CLAWDESK_PLUGIN_IMPORT_TIMEOUT``,
    else 10) bounds each plugin's import. ``lazy=True`` imports each plugin
    only when its provider is first used (see :meth:`discover`).
    """

    def __init__(
        self,
        *,
        discover: bool = True,
        plugins: str | None = None,
        import_timeout: float | None = None,
        lazy: bool = False,
    ) -> None:
        self._pm = pluggy.PluginManager(_hookspecs.PROJECT)
        self._pm.add_hookspecs(_hookspecs)
        self._providers: dict[str, Provider] = {}
        self._statuses: list[PluginStatus] = []
        self._seen: set[tuple[str, str, str | None]] = set()
        # With lazy=True: entry points found but not imported yet, by entry-point (= provider) name.
        self._lazy = lazy
        self._pending: dict[str, list[tuple[metadata.EntryPoint, str | None, str | None]]] = {}
        spec = os.environ.get(PLUGINS_ENV) if plugins is None else plugins
        self._allow, self._deny = _parse_filter(spec or "")
        self._import_timeout = _import_timeout() if import_timeout is None else import_timeout
        if discover:
            self.discover()

    # -- discovery ----------------------------------------------------------

    def discover(self) -> None:
        """Load every plugin of the ``clawdesk.providers`` entry-point group.

        Calling it again loads only entry points that appeared since (a
        package installed meanwhile); those already seen are left alone.
        A lazy registry (``lazy=True``) only notes them here: each is imported
        when its provider is first asked for (:meth:`provider`), all of them
        when the whole list is (:meth:`names`, :meth:`providers`,
        :meth:`statuses`). Entry-point names are provider names, so a call
        to one provider imports that plugin alone, and a plugin that hangs or
        balloons at import costs nothing to the others.
        """
        for ep, dist_name, version in self._entry_points():
            key = (ep.name, ep.value, dist_name)
            if key in self._seen:
                continue
            self._seen.add(key)
            if self._lazy:
                self._pending.setdefault(ep.name, []).append((ep, dist_name, version))
            else:
                self._load_entry(ep, dist_name, version)

    def _load_entry(self, ep: metadata.EntryPoint, dist_name: str | None, version: str | None) -> None:
        info: dict[str, Any] = {"distribution": dist_name, "version": version}
        if not self._allowed(ep.name, dist_name):
            self._statuses.append(PluginStatus(ep.name, "disabled", f"disabled by {PLUGINS_ENV}", **info))
            return
        if ep.name in self._providers:
            other = self._providers[ep.name].distribution or "a plugin registered at run time"
            self._statuses.append(
                PluginStatus(
                    ep.name, "error", f"duplicate provider name {ep.name!r}, already provided by {other}", **info
                )
            )
            return
        try:
            plugin = self._import(ep)
            self._add(plugin, expected_name=ep.name, distribution=dist_name, version=version)
        except PluginError as exc:
            self._statuses.append(PluginStatus(ep.name, "error", exc.detail, **info))
        else:
            self._statuses.append(PluginStatus(ep.name, "ok", **info))

    def _load_pending(self, name: str | None = None) -> None:
        """Import the pending entry points of provider ``name`` (``None``: all of them)."""
        if not self._pending:
            return
        names = list(self._pending) if name is None else [name]
        for each in names:
            for ep, dist_name, version in self._pending.pop(each, ()):
                self._load_entry(ep, dist_name, version)

    def _entry_points(self) -> list[tuple[metadata.EntryPoint, str | None, str | None]]:
        """The group's entry points with their distribution's name and version.

        Read distribution by distribution rather than through
        ``metadata.entry_points()``: one installed package with a malformed
        ``entry_points.txt`` (any package, any group) makes that call raise,
        which would take every provider down with it. A malformed file that
        mentions our group is reported; others are none of our business.
        """
        found: list[tuple[metadata.EntryPoint, str | None, str | None]] = []
        seen: set[str] = set()
        for dist in metadata.distributions():
            # METADATA (name, version) is parsed only for a distribution that
            # declares our group: parsing it for every installed package cost
            # about 1 ms per package at each start-up. The shadowing key comes
            # from the directory name when importlib can tell it that way.
            key = _cheap_key(dist)
            if key is None:
                try:
                    dist_name = dist.metadata["Name"]
                except Exception:  # noqa: BLE001 - unreadable metadata: not a plugin we can name
                    continue
                key = _normalize(dist_name) if dist_name else f"?{id(dist)}"
            if key in seen:  # shadowed by an earlier entry of sys.path, as importlib does
                continue
            seen.add(key)
            eps: list[metadata.EntryPoint] = []
            error: Exception | None = None
            try:
                eps = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
            except Exception as exc:  # noqa: BLE001 - see the docstring
                error = exc
            if not eps and error is None:
                continue
            try:
                meta = dist.metadata
                dist_name, version = meta["Name"], meta["Version"]
            except Exception:  # noqa: BLE001 - unreadable metadata: not a plugin we can name
                continue
            if error is not None:
                self._report_unreadable(dist, dist_name, version, error)
                continue
            found.extend((ep, dist_name, version) for ep in eps)
        return found

    def _report_unreadable(
        self, dist: metadata.Distribution, dist_name: str | None, version: str | None, exc: Exception
    ) -> None:
        try:
            text = dist.read_text("entry_points.txt") or ""
        except Exception:  # noqa: BLE001 - unreadable file: nothing more to say
            text = ""
        name = dist_name or "?"
        if f"[{ENTRY_POINT_GROUP}]" not in text or not self._allowed(name, dist_name):
            return
        key = ("?", name, dist_name)
        if key in self._seen:
            return
        self._seen.add(key)
        self._statuses.append(
            PluginStatus(
                name,
                "error",
                f"entry_points.txt of {name} cannot be read: {_exc_text(exc)}",
                distribution=dist_name,
                version=version,
            )
        )

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
            raise PluginError(ep.name, f"import of {ep.value} did not finish within {self._import_timeout:g}s")
        if failure:
            exc = failure[0]
            if isinstance(exc, KeyboardInterrupt):
                raise exc
            raise PluginError(ep.name, f"import of {ep.value} failed: {_exc_text(exc)}")
        return result[0]

    # -- run-time registration ------------------------------------------------

    def register(self, plugin: object, *, name: str | None = None) -> Provider:
        """Register a plugin object (a module or any object with hookimpls) now.

        ``name``, when given, must equal what ``provider_name`` returns. Raises
        :class:`~clawdesk.PluginError` when the plugin is invalid or its name is
        taken; the registry is unchanged then (apart from the error status).
        """
        label = name or _label(plugin)
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
        label = expected_name or _label(plugin)
        if self._pm.is_registered(plugin):
            raise PluginError(label, "this plugin object is already registered")
        try:
            # Our own check first: it names the hook and the bad argument
            # plainly, where pluggy's message carries internal plugin ids.
            problem = self._signature_problem(plugin)
        except Exception as exc:  # noqa: BLE001 - a hostile object (a __dir__ or __getattr__ that raises)
            raise PluginError(label, f"cannot be inspected: {_exc_text(exc)}") from None
        if problem is not None:
            raise PluginError(label, problem)
        try:
            self._pm.register(plugin, name=f"{label}@{id(plugin)}")
        except pluggy.PluginValidationError as exc:
            raise PluginError(label, f"invalid hook: {_exc_text(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - e.g. ValueError: already registered under another name
            raise PluginError(label, f"cannot be registered: {_exc_text(exc)}") from None
        try:
            return self._validate(plugin, label, expected_name, distribution, version)
        except PluginError:
            self._pm.unregister(plugin)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a plugin does, the registry stays up
            self._pm.unregister(plugin)
            raise PluginError(label, f"cannot be loaded: {_exc_text(exc)}") from None

    def _signature_problem(self, plugin: object) -> str | None:
        """Why a plugin's hook implementations cannot be called as the hookspecs say, or ``None``."""
        for attr in sorted(dir(plugin)):
            try:
                opts = self._pm.parse_hookimpl_opts(plugin, attr)
            except Exception:  # noqa: BLE001 - an odd attribute is pluggy's to judge, at register()
                continue
            if opts is None:
                continue
            caller = getattr(self._pm.hook, attr, None)
            spec = getattr(caller, "spec", None)
            if spec is None:
                close = difflib.get_close_matches(attr, _ALL_HOOKS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                return f"implements unknown hook {attr!r}{hint}"
            function = getattr(plugin, attr)
            problem = _check_signature(attr, function, spec.argnames)
            if problem is not None:
                return problem
        return None

    def _validate(
        self, plugin: object, label: str, expected_name: str | None, distribution: str | None, version: str | None
    ) -> Provider:
        impls: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {}
        for caller in self._pm.get_hookcallers(plugin) or ():
            if caller.spec is None:
                raise PluginError(label, f"implements unknown hook {caller.name!r} (a typo?)")
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    impls[caller.name] = (impl.function, _call_argnames(impl.function, caller.spec.argnames))
        missing = [hook for hook in _hookspecs.REQUIRED_HOOKS if hook not in impls]
        if missing:
            unmarked = [hook for hook in missing if callable(getattr(plugin, hook, None))]
            hint = f" ({', '.join(unmarked)} defined but not marked with @hookimpl)" if unmarked else ""
            raise PluginError(label, f"missing hook{'s' if len(missing) > 1 else ''}: {', '.join(missing)}{hint}")
        for hook, (function, _) in impls.items():
            problem = _check_kind(hook, function)
            if problem is not None:
                raise PluginError(label, problem)
        _check_contract(label, plugin)
        name = _call_plain(label, "provider_name", impls["provider_name"][0])
        if not isinstance(name, str) or not PROVIDER_NAME_RE.fullmatch(name) or len(name) > _MAX_NAME:
            raise PluginError(
                label,
                f"provider_name returned {_short(name)}, expected a name like 'my-provider' "
                f"(lower-case letters, digits, '-' and '_', at most {_MAX_NAME} characters)",
            )
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
                    label, f"provider_config_type returned {_short(config_type)}, expected a ProviderConfig subclass"
                )
            problem = _config_type_problem(config_type)
            if problem is not None:
                raise PluginError(label, f"provider_config_type returned {config_type.__qualname__}: {problem}")
        options_type: type | None = None
        if "provider_options_type" in impls:
            returned = _call_plain(label, "provider_options_type", impls["provider_options_type"][0])
            problem = _options_type_problem(returned)
            if problem is not None:
                raise PluginError(label, f"provider_options_type returned {_short(returned)}: {problem}")
            options_type = returned
        provider = Provider(name, plugin, config_type, impls, distribution, version, options_type)
        self._providers[name] = provider
        return provider

    # -- queries ----------------------------------------------------------------

    def provider(self, name: str) -> Provider:
        """The provider ``name``, imported now by a lazy registry; raises :class:`~clawdesk.ProviderNotFound`."""
        found = self._providers.get(name)
        if found is not None:
            return found
        if name in self._pending:
            self._load_pending(name)
            found = self._providers.get(name)
            if found is not None:
                return found
        self._load_pending()  # the error lists every provider
        raise ProviderNotFound(name, sorted(self._providers))

    def providers(self) -> list[Provider]:
        """Every provider that loaded, in load order."""
        self._load_pending()
        return list(self._providers.values())

    def names(self) -> list[str]:
        self._load_pending()
        return list(self._providers)

    def statuses(self) -> list[PluginStatus]:
        """One status per plugin seen, broken and disabled ones included."""
        self._load_pending()
        return list(self._statuses)

    def _allowed(self, name: str, dist: str | None) -> bool:
        names = {_normalize(name), _normalize(dist)} if dist else {_normalize(name)}
        if names & self._deny:
            return False
        return not self._allow or bool(names & self._allow)


_ALL_HOOKS = (*_hookspecs.REQUIRED_HOOKS, "provider_config_type", "provider_options_type")
#: Longer provider names are refused: they are typed in model ids and config tables.
_MAX_NAME = 64


def _label(plugin: object) -> str:
    """What to call a plugin in messages before its provider_name is known."""
    try:
        name = getattr(plugin, "__name__", None)
    except Exception:  # noqa: BLE001 - a hostile __getattr__
        name = None
    return name if isinstance(name, str) and name else type(plugin).__name__


def _import_timeout() -> float:
    text = os.environ.get(IMPORT_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_IMPORT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value > 0 and not math.isnan(value):
        # Beyond an hour (up to inf) is taken as "as long as may be": an hour, not an OverflowError from
        # Thread.join.
        return min(value, MAX_IMPORT_TIMEOUT)
    # A bad value must not turn into "wait forever" or "fail every plugin": the default, said once.
    import logging

    logging.getLogger("clawdesk").warning(
        "%s=%r is not a number of seconds above 0; using %gs", IMPORT_TIMEOUT_ENV, text[:40], DEFAULT_IMPORT_TIMEOUT
    )
    return DEFAULT_IMPORT_TIMEOUT


def _cheap_key(dist: metadata.Distribution) -> str | None:
    """The distribution's normalised name from its directory name, without parsing METADATA (else ``None``)."""
    stem = os.path.basename(str(getattr(dist, "_path", "")))
    base, ext = os.path.splitext(stem)
    if ext not in (".dist-info", ".egg-info") or not base:
        return None
    return _normalize(base.partition("-")[0])


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _short(value: object, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real problem
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exc_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__ must not hide the real problem
        text = ""
    text = " ".join(text.split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_signature(hook: str, function: Callable[..., Any], provided: tuple[str, ...]) -> str | None:
    """A hook implementation may take any of the hook's arguments, by name, and nothing else it needs."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None  # not introspectable (a C function): pluggy decides
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        required = param.default is param.empty
        if param.name not in provided:
            if required:
                return (
                    f"hook {hook!r} takes argument {param.name!r}, which the hook does not provide "
                    f"(it provides: {', '.join(provided) or 'nothing'})"
                )
            continue
        if param.kind is param.POSITIONAL_ONLY:
            return f"hook {hook!r}: argument {param.name!r} must not be positional-only (arguments are passed by name)"
    return None


def _call_argnames(function: Callable[..., Any], provided: tuple[str, ...]) -> tuple[str, ...]:
    """The hook arguments to pass to ``function``: every parameter named like one, defaulted or not."""
    try:
        names = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return tuple(provided)
    return tuple(name for name in names if name in provided)


def _check_kind(hook: str, function: Callable[..., Any]) -> str | None:
    """Async hooks must be ``async def``-compatible, sync hooks must not be."""
    target = inspect.unwrap(function)
    is_coroutine = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(function)
    is_asyncgen = inspect.isasyncgenfunction(target)
    if hook in _SYNC_HOOKS and (is_coroutine or is_asyncgen):
        return f"hook {hook!r} must be a plain function, not async"
    if hook in _ASYNC_HOOKS and is_asyncgen:
        return f"hook {hook!r} must be an 'async def' function returning its result, not an async generator"
    if hook == "provider_stream" and is_coroutine:
        return "hook 'provider_stream' must be an async generator (use 'yield'), not a coroutine function"
    return None


def _config_type_problem(config_type: type[ProviderConfig]) -> str | None:
    from ._config import unsupported_fields

    try:
        bad = unsupported_fields(config_type)
    except Exception as exc:  # noqa: BLE001 - e.g. a NameError in a string annotation
        return f"its field types cannot be read ({_exc_text(exc)})"
    if bad:
        return f"field{'s' if len(bad) > 1 else ''} {', '.join(bad)} cannot be read from config.toml"
    return None


def _check_contract(label: str, plugin: object) -> None:
    attribute = _hookspecs.CONTRACT_ATTRIBUTE
    try:
        declared = getattr(plugin, attribute, None)
    except Exception:  # noqa: BLE001 - a hostile __getattr__
        declared = None
    wanted = _hookspecs.CONTRACT_VERSION
    if declared is None:
        raise PluginError(
            label,
            f"declares no contract version ({attribute}); it was written for an older clawdesk. "
            f"This clawdesk speaks contract {wanted}: update the plugin, which then sets {attribute} = {wanted}",
        )
    if isinstance(declared, bool) or not isinstance(declared, int):
        raise PluginError(
            label, f"{attribute} is {_short(declared)}, expected a contract version number such as {wanted}"
        )
    if declared not in _hookspecs.SUPPORTED_CONTRACTS:
        newer = "a newer clawdesk: upgrade clawdesk" if declared > wanted else "an older clawdesk: update the plugin"
        raise PluginError(
            label, f"written for clawdesk contract {declared}, this clawdesk speaks contract {wanted} ({newer})"
        )


def _options_type_problem(value: object) -> str | None:
    if not (isinstance(value, type) and attrs.has(value)):
        return "expected an attrs class"
    for attribute in attrs.fields(value):
        if attribute.init and attribute.default is attrs.NOTHING:
            return f"field {attribute.name!r} has no default (every provider option must be optional)"
    from ._config import unsupported_fields

    try:
        bad = unsupported_fields(value)
    except Exception as exc:  # noqa: BLE001 - e.g. a NameError in a string annotation
        return f"its field types cannot be read ({_exc_text(exc)})"
    if bad:
        return f"field{'s' if len(bad) > 1 else ''} {', '.join(bad)} cannot be given as options"
    return None


def _call_plain(label: str, hook: str, function: Callable[[], Any]) -> Any:
    try:
        return function()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's bug must not take the registry down
        raise PluginError(label, f"{hook} raised {_exc_text(exc)}") from None


def _parse_filter(spec: str) -> tuple[frozenset[str], frozenset[str]]:
    allow: set[str] = set()
    deny: set[str] = set()
    for token in (t.strip() for t in spec.split(",")):
        if token.startswith("-"):
            if token[1:].strip():
                deny.add(_normalize(token[1:].strip()))
        elif token:
            allow.add(_normalize(token))
    return frozenset(allow), frozenset(deny)
