"""The kit's mutation set: the lark sample provider with one planted mistake each, and the run that kills them.

Each :class:`Mutant` is a small change to ``lark_provider.py`` (a text
replacement that must match exactly once), the checks of the kit that are
run on it, and the words the kit's failure must contain: a mutant is killed
when one of those checks fails with a message naming the mistake.

Run ``python tests/kit/samples/mutation.py`` to print the kill rate (it
exits non-zero below 100%); ``tests/kit/test_mutation.py`` asserts it in CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

SAMPLES = Path(__file__).parent
BASE = SAMPLES / "lark_provider.py"


@frozen
class Mutant:
    """One planted mistake: ``old`` becomes ``new`` in the base; ``checks`` must fail saying ``expect``."""

    name: str
    mistake: str
    old: str
    new: str
    checks: str
    expect: str


@frozen
class Verdict:
    """What the kit did to one mutant: killed (a check failed naming the mistake) or not, and the message."""

    mutant: Mutant
    killed: bool
    message: str


FIELDS = "test_request_fields_are_sent_or_refused"

MUTANTS: tuple[Mutant, ...] = (
    # -- the five of the first paragraph ------------------------------------------------
    Mutant(
        "tool_choice_bare_string",
        "tool_choice for one function sent as the bare tool name",
        'payload["tool_choice"] = {"type": "tool", "name": choice.name}',
        'payload["tool_choice"] = choice.name',
        f"{FIELDS} and tool_choice",
        "tool_choice 'lookup_weather' is not an object",
    ),
    Mutant(
        "json_schema_downgraded",
        "a JSON-schema response format downgraded to plain JSON",
        'payload["format"] = {"type": "json_schema", "name": fmt.name, "schema": dict(fmt.schema or {})}',
        'payload["format"] = {"type": "json"}',
        f"{FIELDS} and response_format",
        "response_format sent as json but the request asked json_schema",
    ),
    Mutant(
        "image_drops_text",
        "the text of a message that also has an image is dropped",
        "    content = [_part(p) for p in message.content]\n",
        "    content = [_part(p) for p in message.content]\n"
        '    if any(c["type"] == "image" for c in content):\n'
        '        content = [c for c in content if c["type"] != "text"]\n',
        f"{FIELDS} and messages",
        "text sent as '' but the request asked",
    ),
    Mutant(
        "sse_non_json_crash",
        "a stream event that is not JSON crashes the plugin",
        "    try:\n        event = json.loads(data)\n    except ValueError:\n"
        '        raise ApiError("the stream sent an event that is not JSON", provider=provider) from None\n',
        "    event = json.loads(data)\n",
        "test_stream_garbled_event_is_typed",
        "raised json.decoder.JSONDecodeError",
    ),
    Mutant(
        "error_event_as_success",
        "an error event inside a 200 stream ends the stream as a success",
        "                    raise ApiError(message, provider=wire.provider, retryable=True)",
        '                    tail.finish(FinishReason.STOP, "error")',
        "test_stream_error_event_raises",
        "a 200 stream that carries an error event was reported as a success",
    ),
    # -- options ----------------------------------------------------------------------------------
    Mutant(
        "max_tokens_dropped_when_streaming",
        "max_tokens sent in chat but dropped in streams",
        "    if options.max_tokens is not None:\n",
        "    if options.max_tokens is not None and not stream:\n",
        f"{FIELDS} and asyncio-options-stream",
        "provider_stream with ChatOptions(max_tokens=777): max_tokens (777) asked by the request is not in",
    ),
    Mutant(
        "temperature_into_top_p",
        "the temperature sent as top_p",
        '    for name in ("temperature", "top_p", "top_k", "seed"):\n'
        "        if getattr(options, name) is not None:\n"
        "            params[name] = getattr(options, name)\n",
        '    for name in ("top_k", "seed"):\n'
        "        if getattr(options, name) is not None:\n"
        "            params[name] = getattr(options, name)\n"
        "    if options.temperature is not None or options.top_p is not None:\n"
        '        params["top_p"] = options.top_p if options.top_p is not None else options.temperature\n',
        f"{FIELDS} and options",
        "temperature (0.37) asked by the request is not in what was sent",
    ),
    Mutant(
        "stop_first_only",
        "only the first stop sequence sent",
        '        params["stop"] = list(options.stop)',
        '        params["stop"] = list(options.stop[:1])',
        f"{FIELDS} and options",
        "stop sent as ('ck-stop-word',) but the request asked ('ck-stop-word', 'ck-halt')",
    ),
    Mutant(
        "seed_dropped",
        "the seed never sent",
        '    for name in ("temperature", "top_p", "top_k", "seed"):',
        '    for name in ("temperature", "top_p", "top_k"):',
        f"{FIELDS} and options",
        "seed (424242) asked by the request is not in what was sent",
    ),
    Mutant(
        "top_k_as_string",
        "top_k sent as a string",
        "            params[name] = getattr(options, name)\n",
        '            params[name] = str(getattr(options, name)) if name == "top_k" else getattr(options, name)\n',
        f"{FIELDS} and options",
        "top_k sent as '17' but the request asked 17",
    ),
    Mutant(
        "provider_option_dropped",
        "the provider's own option (creativity) never sent",
        '        payload["creativity"] = own.creativity',
        "        pass",
        f"{FIELDS} and provider_options",
        "provider option creativity (0.61) asked by the request is not in what was sent",
    ),
    # -- tools and tool_choice ------------------------------------------------------------------------
    Mutant(
        "tool_description_dropped",
        "tool descriptions not sent",
        '{"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}',
        '{"name": t.name, "input_schema": dict(t.parameters)}',
        f"{FIELDS} and asyncio-tools-",
        "description sent as '' but the request asked 'Look up the weather'",
    ),
    Mutant(
        "tool_schema_shallow",
        "tool parameters sent without their nested properties",
        '{"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}',
        '{"name": t.name, "description": t.description, "input_schema": {"type": "object"}}',
        f"{FIELDS} and asyncio-tools-",
        "parameters sent as {'type': 'object'}",
    ),
    Mutant(
        "tool_choice_none_as_auto",
        "tool_choice none sent as auto",
        '_CHOICES = {ToolChoiceMode.AUTO: "auto", ToolChoiceMode.NONE: "none", ToolChoiceMode.REQUIRED: "any"}',
        '_CHOICES = {ToolChoiceMode.AUTO: "auto", ToolChoiceMode.NONE: "auto", ToolChoiceMode.REQUIRED: "any"}',
        f"{FIELDS} and tool_choice",
        "tool_choice sent as 'auto' but the request asked 'none'",
    ),
    Mutant(
        "tool_choice_required_dropped",
        "tool_choice required silently left out",
        '            payload["tool_choice"] = {"type": _CHOICES[choice.mode]}',
        "            if choice.mode is not ToolChoiceMode.REQUIRED:\n"
        '                payload["tool_choice"] = {"type": _CHOICES[choice.mode]}',
        f"{FIELDS} and tool_choice",
        "tool_choice sent as nothing but the request asked 'required'",
    ),
    Mutant(
        "tools_refused_despite_capability",
        "tools refused although the model lists function_calling",
        "    if options.tools:\n",
        "    if options.tools:\n"
        "        from clawdesk import CapabilityMissing\n\n"
        '        raise CapabilityMissing("no tools", option="tools", provider=provider)\n',
        f"{FIELDS} and asyncio-tools-",
        "although provider_capabilities('lark-1') lists function_calling",
    ),
    # -- response formats and reasoning ---------------------------------------------------------------
    Mutant(
        "json_mode_dropped",
        "the JSON response format silently left out",
        '        else:\n            payload["format"] = {"type": fmt.kind.value}',
        '        elif fmt.kind is ResponseFormatKind.TEXT:\n            payload["format"] = {"type": fmt.kind.value}',
        f"{FIELDS} and response_format",
        "response_format (json) asked by the request is not in what was sent",
    ),
    Mutant(
        "json_schema_refused_as_invalid",
        "a JSON schema refused with InvalidRequest, which stops a fallback chain",
        '            payload["format"] = {"type": "json_schema", "name": fmt.name, "schema": dict(fmt.schema or {})}',
        '            raise InvalidRequest("no schemas", provider=provider)',
        f"{FIELDS} and response_format",
        "refused with InvalidRequest",
    ),
    Mutant(
        "reasoning_budget_dropped",
        "a reasoning budget silently left out",
        '            payload["thinking"] = {"budget": reasoning.budget_tokens}',
        "            pass",
        f"{FIELDS} and reasoning",
        "reasoning (Reasoning(effort=None, budget_tokens=2048)) asked by the request is not in what was sent",
    ),
    Mutant(
        "reasoning_off_ignored",
        "reasoning effort none sent as the default effort",
        '            payload["thinking"] = {"enabled": False}',
        '            payload["thinking"] = {"effort": "medium"}',
        f"{FIELDS} and reasoning",
        "(on) but the request asked",
    ),
    # -- messages -----------------------------------------------------------------------------------
    Mutant(
        "system_dropped",
        "system messages left out",
        '        "messages": [_message(m) for m in request.messages],',
        '        "messages": [_message(m) for m in request.messages if m.role.value != "system"],',
        f"{FIELDS} and messages",
        "messages: the request asked 2 messages ['system', 'user'], the wire carries 1",
    ),
    Mutant(
        "assistant_sent_as_user",
        "assistant turns sent with the user role",
        '    out: dict[str, Any] = {"role": message.role.value, "content": content}',
        '    role = "user" if message.role.value == "assistant" else message.role.value\n'
        '    out: dict[str, Any] = {"role": role, "content": content}',
        f"{FIELDS} and messages",
        "sent with role 'user' but the request asked 'assistant'",
    ),
    Mutant(
        "image_url_dropped",
        "images given by URL silently left out",
        "    content = [_part(p) for p in message.content]\n",
        "    content = [_part(p) for p in message.content if not (isinstance(p, ImagePart) and p.url)]\n",
        f"{FIELDS} and messages",
        "an image ('https://images.example.com/conformance/cat.png') asked by the request is not in what was sent",
    ),
    Mutant(
        "document_dropped",
        "documents silently left out",
        "    content = [_part(p) for p in message.content]\n",
        "    content = [_part(p) for p in message.content if not isinstance(p, DocumentPart)]\n",
        f"{FIELDS} and messages",
        "a document (",
    ),
    Mutant(
        "image_bytes_garbled",
        "inline image bytes sent as their Python repr instead of base64",
        "        data = part.data\n",
        "        data = repr(part.data).encode()\n",
        f"{FIELDS} and messages",
        "inline image and more text: messages[0]: an image (",
    ),
    Mutant(
        "tool_result_call_id_wrong",
        "a tool result refers to its tool by name instead of the call id",
        '        out["call_id"] = message.tool_call_id',
        '        out["call_id"] = message.name',
        f"{FIELDS} and messages",
        "the tool result's call id sent as 'lookup_weather' but the request asked 'call_conformance_1'",
    ),
    Mutant(
        "history_call_arguments_dropped",
        "the arguments of earlier tool calls left out of the history",
        '"name": c.name, "arguments": dict(c.arguments)})',
        '"name": c.name, "arguments": {}})',
        f"{FIELDS} and messages",
        "tool_calls[0]: arguments sent as {} but the request asked",
    ),
    Mutant(
        "reasoning_signature_dropped",
        "the signature of the provider's own reasoning not sent back",
        '        return {"type": "thinking", "text": part.text, "signature": part.signature}',
        '        return {"type": "thinking", "text": part.text}',
        f"{FIELDS} and messages",
        "a reasoning part 'The user wants a greeting.' (signature 'ck-signature-0001') asked by the request",
    ),
    Mutant(
        "top_k_refused_after_sending",
        "top_k refused, but only once the request has gone out",
        '    reply = await wire.json("POST", "/v1/chat", payload, model=request.model)',
        '    reply = await wire.json("POST", "/v1/chat", payload, model=request.model)\n'
        "    if request.options.top_k is not None:\n"
        "        from clawdesk import CapabilityMissing\n\n"
        '        raise CapabilityMissing("no top_k", option="top_k", provider=wire.provider)',
        f"{FIELDS} and asyncio-options-chat",
        "refused with CapabilityMissing, but only after sending the request",
    ),
    Mutant(
        "stream_flag_always_on",
        "every request asks the backend for a stream",
        '        "stream": stream,',
        '        "stream": True,',
        f"{FIELDS} and asyncio-options-chat",
        "stream sent as True in provider_chat",
    ),
    # -- streams ------------------------------------------------------------------------------------
    Mutant(
        "stream_end_at_stop_event",
        "a stream counted complete at its stop event, before the end marker",
        '                    tail.finish(_finish(event.get("stop")), event.get("stop"))',
        '                    tail.finish(_finish(event.get("stop")), event.get("stop"))\n'
        "                    reply.end()",
        "test_stream_cut_after_every_event_is_truncated",
        "a stream that ends cleanly after 5 of 6 pieces",
    ),
    Mutant(
        "stream_eof_is_success",
        "a stream whose body ends without the end marker reported as finished",
        "                break\n        request_id = reply.request_id",
        "                break\n        reply.end()\n        request_id = reply.request_id",
        "test_stream_cut_after_every_event_is_truncated",
        "was reported as a success (with a Finish event)",
    ),
    Mutant(
        "two_finishes",
        "a Finish yielded at the stop event and again at the end",
        '                    tail.finish(_finish(event.get("stop")), event.get("stop"))',
        '                    tail.finish(_finish(event.get("stop")), event.get("stop"))\n'
        "                    from clawdesk import Finish\n\n"
        '                    yield Finish(_finish(event.get("stop")))',
        "test_stream_round_trip",
        "the stream yielded 2 Finish events, expected exactly one",
    ),
    Mutant(
        "finish_missing",
        "a stream that never yields its Finish",
        "    for final in tail.events(request_id=request_id):\n        yield final\n",
        "    for final in tail.events(request_id=request_id)[:-1]:\n        yield final\n",
        "test_stream_round_trip",
        "the stream yielded 0 Finish events, expected exactly one",
    ),
    Mutant(
        "finish_reason_ignored",
        "every answer said to stop normally, whatever the backend said",
        "    return _STOPS.get(raw, FinishReason.OTHER) if isinstance(raw, str) else FinishReason.OTHER",
        "    return FinishReason.STOP",
        "test_finish_reason_follows_the_backend",
        "the finish reason is <FinishReason.STOP: 'stop'>, expected FinishReason.LENGTH",
    ),
    Mutant(
        "stream_usage_dropped",
        "the usage a stream reports is never passed on",
        '                    if "usage" in event:\n                        tail.usage(_usage(event["usage"]))\n',
        "",
        "test_usage_is_reported and stream",
        "0 UsageEvents, expected exactly one (the backend sent usage)",
    ),
    Mutant(
        "usage_swapped",
        "input and output tokens swapped",
        '    return Usage(data.get("in"), data.get("out"), raw=data)',
        '    return Usage(data.get("out"), data.get("in"), raw=data)',
        "test_usage_is_reported and chat",
        "usage (input, output) is (3, 11), but the backend sent (11, 3)",
    ),
    Mutant(
        "stream_tool_call_twice",
        "a streamed tool call yielded twice",
        '                    yield ToolCallEvent(ToolCall(event["id"], event["name"], event["arguments"]))',
        '                    yield ToolCallEvent(ToolCall(event["id"], event["name"], event["arguments"]))\n'
        '                    yield ToolCallEvent(ToolCall(event["id"], event["name"], event["arguments"]))',
        "test_stream_tool_call",
        "the stream yielded 2 ToolCallEvents, expected exactly 1",
    ),
    # -- errors -------------------------------------------------------------------------------------
    Mutant(
        "rate_limit_as_api_error",
        "HTTP 429 made a plain ApiError",
        '    if error.status == 400 and kind == "unknown_model":',
        "    if error.status == 429:\n"
        "        return ApiError(error.message, **error.kw())\n"
        '    if error.status == 400 and kind == "unknown_model":',
        "test_chat_error_status",
        "chat answered with HTTP 429: raised ApiError",
    ),
    Mutant(
        "server_error_not_retryable",
        "HTTP 503 marked not retryable",
        '    if error.status == 400 and kind == "unknown_model":',
        "    if error.status == 503:\n"
        "        return ApiError(error.message, **{**error.kw(), 'retryable': False})\n"
        '    if error.status == 400 and kind == "unknown_model":',
        "test_stream_error_status",
        "stream answered with HTTP 503: the ApiError has retryable=False, expected True",
    ),
    Mutant(
        "error_body_read_blindly",
        "the error body read as if always JSON: an HTML or text page crashes the plugin",
        '    body = data.get("error") if isinstance(data, dict) else None\n',
        '    body = data["error"]\n',
        "test_garbled_error_bodies_are_typed",
        "and a text/plain body b'upstream connect error o': raised builtins.TypeError",
    ),
    Mutant(
        "answer_read_blindly",
        "a 200 answer read without checking its shape",
        "    except (KeyError, TypeError, AttributeError) as exc:\n"
        '        raise ApiError(f"unexpected answer: {exc!r}", provider=wire.provider, status=reply.status) from None',
        "    except ZeroDivisionError:\n        raise",
        "test_chat_unexpected_success_body_is_typed",
        "answered with HTTP 200 and a application/json body",
    ),
    # -- secrets -----------------------------------------------------------------------------------
    # The head with no "..." after it: core's redact() masks a known key's head that an ellipsis follows.
    Mutant(
        "key_prefix_in_message",
        "an auth error that shows the start of the key",
        '    if error.status == 400 and kind == "unknown_model":',
        "    if error.status == 401:\n"
        "        from clawdesk import AuthFailed\n\n"
        "        return AuthFailed(f'{error.message} (key starting {_KEY[0][:10]})', **error.kw())\n"
        '    if error.status == 400 and kind == "unknown_model":',
        "test_api_key_never_leaks",
        "the error raised for HTTP 401 (chat) shows it in its message",
    ),
    Mutant(
        "key_in_error_headers_attribute",
        "an error that keeps the request's headers, the key among them",
        '    if error.status == 400 and kind == "unknown_model":',
        "    if error.status == 403:\n"
        "        from clawdesk import PermissionDenied\n\n"
        "        denied = PermissionDenied(error.message, **error.kw())\n"
        "        denied.sent = {'headers': [('authorization', 'Bearer ' + _KEY[0])]}\n"
        "        return denied\n"
        '    if error.status == 400 and kind == "unknown_model":',
        "test_api_key_never_leaks",
        "shows it in its sent attribute['headers'][0][1]",
    ),
    Mutant(
        "key_in_debug_log",
        "the key logged at DEBUG on a logger that does not propagate",
        "    wire = _wire(config, http)\n    payload = _payload(request, wire.provider, stream=False)\n",
        "    wire = _wire(config, http)\n"
        "    quiet = logging.getLogger('lark.wire')\n"
        "    quiet.propagate = False\n"
        "    quiet.debug('calling with key %s', config.api_key.reveal() if config.api_key else None)\n"
        "    payload = _payload(request, wire.provider, stream=False)\n",
        "test_api_key_never_leaks",
        "the log record of 'lark.wire' at DEBUG shows it",
    ),
    Mutant(
        "key_printed",
        "the key printed to stderr while debugging",
        "    wire = _wire(config, http)\n    payload = _payload(request, wire.provider, stream=False)\n",
        "    wire = _wire(config, http)\n"
        "    import sys\n\n"
        "    print('lark key:', config.api_key.reveal() if config.api_key else None, file=sys.stderr)\n"
        "    payload = _payload(request, wire.provider, stream=False)\n",
        "test_api_key_never_leaks",
        "what the plugin wrote to stderr shows it",
    ),
    Mutant(
        "key_in_url",
        "the key sent in the URL's query",
        '    reply = await wire.json("POST", "/v1/chat", payload, model=request.model)',
        "    key = config.api_key.reveal() if config.api_key else ''\n"
        '    reply = await wire.json("POST", f"/v1/chat?key={key}", payload, model=request.model)',
        "test_api_key_never_leaks",
        "the URL of a request (POST …) shows it",
    ),
    Mutant(
        "key_in_cause_chain",
        "an auth error caused by an exception that shows the key",
        '    if error.status == 400 and kind == "unknown_model":',
        "    if error.status == 401:\n"
        "        from clawdesk import AuthFailed\n\n"
        "        refused = AuthFailed(error.message, **error.kw())\n"
        "        refused.__cause__ = ValueError('the server refused key ' + _KEY[0])\n"
        "        return refused\n"
        '    if error.status == 400 and kind == "unknown_model":',
        "test_api_key_never_leaks",
        "shows it in its exception chain (ValueError)",
    ),
    Mutant(
        "key_printed_to_stdout",
        "the request printed to stdout, its headers and the key among them",
        "    wire = _wire(config, http)\n    payload = _payload(request, wire.provider, stream=False)\n",
        "    wire = _wire(config, http)\n"
        "    key = config.api_key.reveal() if config.api_key else ''\n"
        "    print('lark request', {'authorization': 'Bearer ' + key})\n"
        "    payload = _payload(request, wire.provider, stream=False)\n",
        "test_api_key_never_leaks",
        "what the plugin wrote to stdout shows it",
    ),
    # -- hygiene ------------------------------------------------------------------------------------
    Mutant(
        "new_client_per_request",
        "a new httpx.AsyncClient made for every request",
        "    wire = _wire(config, http)\n    payload = _payload(request, wire.provider, stream=False)\n",
        "    import httpx\n\n"
        "    async with httpx.AsyncClient(timeout=config.timeout_secs) as own:\n"
        "        await own.aclose()\n"
        "    wire = _wire(config, http)\n"
        "    payload = _payload(request, wire.provider, stream=False)\n",
        "test_one_http_client_is_reused",
        "provider_chat made a new httpx.AsyncClient",
    ),
    Mutant(
        "blocking_sleep",
        "a blocking time.sleep as a backoff inside the hook",
        "    wire = _wire(config, http)\n    payload = _payload(request, wire.provider, stream=False)\n",
        "    import time\n\n"
        "    time.sleep(0.01)\n"
        "    wire = _wire(config, http)\n"
        "    payload = _payload(request, wire.provider, stream=False)\n",
        "test_hooks_do_not_block_the_event_loop",
        "provider_chat blocks the event loop with time.sleep(0.01)",
    ),
    Mutant(
        "blocking_socket",
        "a blocking socket connection (a health check) inside the hook",
        "    wire = _wire(config, http)\n    payload = _payload(request, wire.provider, stream=False)\n",
        "    import socket\n    from urllib.parse import urlsplit\n\n"
        "    where = urlsplit(config.base_url)\n"
        "    socket.create_connection((where.hostname, where.port), timeout=2).close()\n"
        "    wire = _wire(config, http)\n"
        "    payload = _payload(request, wire.provider, stream=False)\n",
        "test_hooks_do_not_block_the_event_loop",
        "blocks the event loop with a blocking socket connect()",
    ),
    Mutant(
        "httpx_at_import",
        "httpx imported when the module is imported",
        "from attrs import frozen\n",
        "import httpx  # noqa: F401\nfrom attrs import frozen\n",
        "test_import_is_cheap",
        "imports httpx",
    ),
)


def mutate(mutant: Mutant, base: str) -> str:
    """The base source with ``mutant``'s change; the change must match exactly once."""
    count = base.count(mutant.old)
    if count != 1:
        raise ValueError(f"mutant {mutant.name}: its text matches the base {count} times, not once")
    source = base.replace(mutant.old, mutant.new)
    # Some mutants show the key the way a careless plugin would: from the config the hook was given.
    return source + "\n_KEY = ['']\n"


def _module(mutant: Mutant) -> str:
    return f"lark_mutant_{mutant.name}"


def _class(mutant: Mutant) -> str:
    return "TestMutant_" + mutant.name


def _selection(mutants: Sequence[Mutant]) -> str:
    terms = []
    for mutant in mutants:
        checks = " and ".join(f"({part.strip()})" for part in mutant.checks.split(" and "))
        terms.append(f"({_class(mutant)} and {checks})")
    return "not trio and (" + " or ".join(terms) + ")"


def run(mutants: Sequence[Mutant] = MUTANTS, workdir: Path | None = None) -> list[Verdict]:
    """Run the selected checks of the kit on every mutant in one pytest subprocess; one verdict each."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="kit-mutants-") as tmp:
            return run(mutants, Path(tmp))
    base = BASE.read_text()
    lines = [
        "from lark_wire import LarkWire",
        "from clawdesk.testing import ProviderConformance",
        "",
    ]
    for mutant in mutants:
        source = mutate(mutant, base)
        if "_KEY[0]" in mutant.new:
            source = source.replace(
                "def _wire(config: ProviderConfig, http: Any) -> Any:\n",
                "def _wire(config: ProviderConfig, http: Any) -> Any:\n"
                "    _KEY[0] = config.api_key.reveal() if config.api_key else ''\n",
            )
        (workdir / f"{_module(mutant)}.py").write_text(source)
        lines += [
            f"import {_module(mutant)}",
            "",
            "",
            f"class {_class(mutant)}(LarkWire, ProviderConformance):",
            f"    plugin = {_module(mutant)}",
            "",
        ]
    (workdir / "test_mutants.py").write_text("\n".join(lines))
    report = workdir / "report.xml"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), str(SAMPLES), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
    command += ["--junitxml", str(report), "-k", _selection(mutants), "test_mutants.py"]
    subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False)
    failures: dict[str, list[str]] = {}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            owner = case.get("classname", "").rsplit(".", 1)[-1]
            for child in case:
                if child.tag in ("failure", "error"):
                    failures.setdefault(owner, []).append(child.get("message", ""))
    verdicts = []
    for mutant in mutants:
        messages = failures.get(_class(mutant), [])
        named = [m for m in messages if mutant.expect in m]
        shown = named[0] if named else (messages[0] if messages else "no check failed")
        verdicts.append(Verdict(mutant, bool(named), re.sub(r"^Failed: ", "", shown)))
    return verdicts


def main() -> int:
    """Print every mutant's verdict and the kill rate; non-zero exit below 100%."""
    verdicts = run()
    for verdict in verdicts:
        mark = "killed  " if verdict.killed else "SURVIVED"
        print(f"{mark} {verdict.mutant.name}: {verdict.mutant.mistake}\n         {verdict.message[:300]}")
    killed = sum(v.killed for v in verdicts)
    print(f"kill rate: {killed}/{len(verdicts)} ({100 * killed / len(verdicts):.0f}%)")
    return 0 if killed == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
