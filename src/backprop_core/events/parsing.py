"""How chunks of output lines become events: the parser chain (docs/plugins.md, "How parsers
combine").

Parsers are plugins implementing ``backprop_parse_lines`` (a chunk at once) or
``backprop_parse_line`` (one line at a time); a plugin implementing both is called through its
batch hook only. They run one after the other in hook order (``tryfirst``, unmarked, then
``trylast``; within each group the most recently registered first, as pluggy orders a hook's
implementations), and each sees only the lines no parser before it claimed. A claimed line is
an event line (a protocol line): parsed once, and kept off the terminal unless
``--show-events``. A parser may also read events from lines without claiming them (the output
scalars parser does): those lines stay plain output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from backprop_core.events.event import Event, ParseContext
from backprop_core.events.ingest import MetricLines

Item = Union[Event, MetricLines]
LineParser = Callable[[str, ParseContext], Union[Event, None]]
BatchParser = Callable[[list[bytes], ParseContext], Any]


@dataclass
class ParsedLines:
    """What a batch parser made of the lines it was given.

    ``items``: the events, in order (``MetricLines`` for runs of plain metrics events).
    ``claimed``: indexes, into the lines the parser was given, of the lines that were events;
    ``None`` means every line. Claimed lines are offered to no later parser and kept off the
    terminal; unclaimed lines stay plain output even when events were read from them.
    """

    items: list[Item] = field(default_factory=list)
    claimed: Sequence[int] | None = None


@dataclass
class ChunkResult:
    """The chain's answer for one chunk: its events, and which lines were event lines."""

    items: list[Item]
    #: One flag per line of the chunk: ``True`` for a line some parser claimed.
    claimed: list[bool]


@dataclass(frozen=True)
class ChainLink:
    """One parser of the chain: its plugin's name and the hook it is called through."""

    name: str
    batch: BatchParser | None = None
    line: LineParser | None = None


def _last_step(items: Sequence[Item]) -> int | None:
    for item in reversed(items):
        if isinstance(item, MetricLines):
            for step in reversed(item.steps):
                if step is not None:
                    return step
        elif item.step is not None:
            return item.step
    return None


def _track(context: ParseContext, items: list[Item], claimed_any: bool) -> None:
    """Keep the session's shared parse state: the run's last known step, and whether the
    script reported metrics itself (events from claimed lines or from the SDK's pipe)."""
    state = context.state
    step = _last_step(items)
    if step is not None:
        state.step = step
    if (claimed_any or context.stream == "events") and not state.reported_metrics:
        state.reported_metrics = any(
            isinstance(i, MetricLines) or i.kind == "metrics" for i in items
        )


class ParserChain:
    """The parsers of a session in the order they see each chunk."""

    def __init__(self, links: Sequence[ChainLink]) -> None:
        self.links = tuple(links)

    def names(self) -> list[str]:
        return [link.name for link in self.links]

    def parse(self, lines: list[bytes], context: ParseContext) -> ChunkResult:
        """Run every parser over ``lines``. A parser that raises loses its part of the
        chunk, never the run."""
        n = len(lines)
        claimed = [False] * n
        items: list[Item] = []
        left: Sequence[int] = range(n)  # the lines no parser has claimed yet
        for link in self.links:
            if not left:
                break
            subset = lines if len(left) == n else [lines[i] for i in left]
            if link.batch is not None:
                got, taken = _run_batch(link.batch, subset, context)
            else:
                assert link.line is not None
                got, taken = _run_lines(link.line, subset, context)
            if got:
                items.extend(got)
                _track(context, got, taken is None or bool(taken))
            if taken is None:
                if len(left) == n:
                    claimed = [True] * n  # the usual chunk of an instrumented script
                else:
                    for i in left:
                        claimed[i] = True
                left = range(0)
            elif taken:
                gone = set(taken)
                for j in gone:
                    claimed[left[j]] = True
                left = [i for j, i in enumerate(left) if j not in gone]
        return ChunkResult(items, claimed)


def _run_batch(
    parse: BatchParser, lines: list[bytes], context: ParseContext
) -> tuple[list[Item], Sequence[int] | None]:
    try:
        result = parse(lines, context)
    except Exception:  # a broken parser plugin must not take the run down
        return [], ()
    if not isinstance(result, ParsedLines):
        return [], ()
    taken = result.claimed
    if taken is not None:
        taken = [j for j in taken if 0 <= j < len(lines)]
    return list(result.items), taken


def _run_lines(
    parse: LineParser, lines: list[bytes], context: ParseContext
) -> tuple[list[Item], list[int]]:
    items: list[Item] = []
    taken: list[int] = []
    session = context.session
    for j, raw in enumerate(lines):
        try:
            event = parse(raw.decode("utf-8", "replace"), context)
        except Exception:  # a broken parser plugin must not take the run down
            continue
        if isinstance(event, Event):
            if event.session is None:
                event = Event(event.kind, event.time, event.step, event.payload, session)
            items.append(event)
            taken.append(j)
    return items, taken


def chain_links(
    batch_impls: Sequence[Any], line_impls: Sequence[Any], registered: Sequence[str]
) -> list[ChainLink]:
    """The chain from both hooks' implementations (pluggy ``HookImpl`` objects): each plugin
    once, through its batch hook when it has one, ordered by that hook's marker and by
    registration (``registered``: plugin names, oldest first), newest first within a marker."""
    batch_names = {impl.plugin_name for impl in batch_impls}
    chosen = [*batch_impls, *(i for i in line_impls if i.plugin_name not in batch_names)]
    age = {name: n for n, name in enumerate(registered)}
    chosen.sort(
        key=lambda i: (0 if i.tryfirst else 2 if i.trylast else 1, -age.get(i.plugin_name, -1))
    )
    links = []
    for impl in chosen:
        function = impl.function
        if impl.plugin_name in batch_names:
            links.append(ChainLink(impl.plugin_name, batch=_batch_call(function)))
        else:
            links.append(ChainLink(impl.plugin_name, line=_line_call(function)))
    return links


def _batch_call(function: Callable[..., Any]) -> BatchParser:
    # Called directly, with keyword arguments as pluggy would: no hook machinery per chunk.
    return lambda lines, context: function(lines=lines, context=context)


def _line_call(function: Callable[..., Any]) -> LineParser:
    return lambda line, context: function(line=line, context=context)
