"""The capability negotiator: what a request needs, and whether a candidate has it.

Pure functions over the data types, no I/O: the fallback engine asks them
before each candidate, and anyone can call them to answer "why not X?".
"""

from __future__ import annotations

from collections.abc import Iterable

from ._types import Capability, ChatRequest, DocumentPart, ImagePart, ResponseFormatKind, ToolChoiceMode

__all__ = ["describe_missing", "missing_capabilities", "required_capabilities"]


def required_capabilities(request: ChatRequest, *, stream: bool = False) -> frozenset[Capability]:
    """The capabilities a model needs to serve ``request``.

    Always :attr:`~Capability.CHAT`; plus :attr:`~Capability.STREAMING` for a
    stream, :attr:`~Capability.FUNCTION_CALLING` when tools are offered (unless
    ``tool_choice`` is ``none``), :attr:`~Capability.JSON_MODE` or
    :attr:`~Capability.JSON_SCHEMA` for a JSON response format,
    :attr:`~Capability.VISION` when any message holds an image,
    :attr:`~Capability.DOCUMENTS` when one holds a document, and
    :attr:`~Capability.REASONING` when ``options.reasoning`` asks for
    reasoning (not turned off by effort ``none`` or a budget of 0).
    """
    needed = {Capability.CHAT}
    if stream:
        needed.add(Capability.STREAMING)
    options = request.options
    if options.tools and not (options.tool_choice is not None and options.tool_choice.mode is ToolChoiceMode.NONE):
        needed.add(Capability.FUNCTION_CALLING)
    if options.response_format is not None:
        kind = options.response_format.kind
        if kind is ResponseFormatKind.JSON:
            needed.add(Capability.JSON_MODE)
        elif kind is ResponseFormatKind.JSON_SCHEMA:
            needed.add(Capability.JSON_SCHEMA)
    for message in request.messages:
        for part in message.content:
            if type(part) is ImagePart:
                needed.add(Capability.VISION)
            elif type(part) is DocumentPart:
                needed.add(Capability.DOCUMENTS)
    if options.reasoning is not None and options.reasoning.enabled:
        needed.add(Capability.REASONING)
    return frozenset(needed)


def missing_capabilities(
    required: Iterable[Capability], available: frozenset[Capability] | None
) -> frozenset[Capability]:
    """What of ``required`` is not in ``available``; nothing when ``available`` is ``None`` (unknown).

    An unknown capability set never rules a candidate out: the provider is
    allowed to try and answers with :class:`~clawdesk.CapabilityMissing` if
    it cannot.
    """
    if available is None:
        return frozenset()
    return frozenset(required) - available


def describe_missing(missing: Iterable[Capability]) -> str:
    """``"lacks function_calling, vision"``: a skip reason, in a stable order."""
    return "lacks " + ", ".join(sorted(c.value for c in missing))
