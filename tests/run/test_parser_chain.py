"""Batch parsers (``backprop_parse_lines``) and line parsers (``backprop_parse_line``) in one
chain, through a real plugin manager: order, claiming, a line parsed once, failures contained."""

from __future__ import annotations

import time

from backprop_core import Event, ParseContext, ParsedLines, hookimpl
from backprop_core.events.event import ParseState
from backprop_core.events.ingest import MetricLines, expand
from backprop_core.plugin.manager import PluginManager

JSON_LINE = b'{"event": "metrics", "step": 7, "data": {"loss": 0.25}}'


class CheckpointLines:
    """A third-party batch parser: ``CKPT <path>`` lines are checkpoints."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    @hookimpl
    def backprop_parse_lines(self, lines: list[bytes], context: ParseContext) -> ParsedLines | None:
        self.seen.extend(lines)
        items: list[Event | MetricLines] = []
        claimed = []
        for i, line in enumerate(lines):
            if line.startswith(b"CKPT "):
                path = line[5:].decode()
                items.append(Event("checkpoint_saved", time.time(), None, {"path": path}))
                claimed.append(i)
        return ParsedLines(items, claimed) if items else None


class StepLines:
    """A third-party line parser: ``STEP <n>`` lines are progress events."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def backprop_parse_line(self, line: str, context: ParseContext) -> Event | None:
        self.seen.append(line)
        if line.startswith("STEP "):
            return Event("progress", time.time(), int(line.split()[1]))
        if line.startswith("{"):
            return Event("progress", time.time(), None)
        return None


class Broken:
    @hookimpl
    def backprop_parse_lines(self, lines: list[bytes], context: ParseContext) -> ParsedLines:
        raise RuntimeError("a bug in a plugin")


def _context() -> ParseContext:
    return ParseContext("r1", 1, "stdout", ".", None, ParseState())


def test_hook_backprop_parse_lines_runs_with_line_parsers_in_one_chain() -> None:
    pm = PluginManager()  # the installed plugins, as a run loads them
    batch, line, broken = CheckpointLines(), StepLines(), Broken()
    pm.register(line, "step-lines")
    pm.register(batch, "checkpoint-lines")
    pm.register(broken, "broken")
    chain = pm.parser_chain()
    # JSON first (tryfirst), output scalars last (trylast), the newest unmarked plugin first.
    names = chain.names()
    assert names[0] == "json_events" and names[-1] == "output_scalars"
    assert names.index("broken") < names.index("checkpoint-lines") < names.index("step-lines")

    lines = [
        b"CKPT out/ckpt-7.pt",
        b"STEP 8",
        b"iter 9: loss 0.125, time 12.5ms",
        b"plain text",
    ]
    context = _context()
    result = chain.parse(lines, context)
    assert result.claimed == [True, True, False, False]
    events = expand(result.items)
    assert [(e.kind, e.step) for e in events] == [
        ("checkpoint_saved", None),
        ("progress", 8),
        ("metrics", 9),
    ]
    assert events[0].payload["path"] == "out/ckpt-7.pt"
    assert events[2].data == {"loss": 0.125, "time_ms": 12.5}
    assert context.state.step == 9 and not context.state.reported_metrics

    # A line is parsed once: each parser sees only what the ones before it left.
    batch.seen.clear()
    line.seen.clear()
    result = chain.parse([JSON_LINE, b"STEP 10", b"iter 11: loss 0.1, time 12.5ms"], context)
    assert result.claimed == [True, True, False]
    assert batch.seen == [b"STEP 10", b"iter 11: loss 0.1, time 12.5ms"]
    assert line.seen == ["STEP 10", "iter 11: loss 0.1, time 12.5ms"]
    # The JSON line was the script reporting metrics itself: from then on printed lines are
    # no longer read for metrics (in that chunk already, since JSON comes first).
    assert context.state.reported_metrics
    assert [(e.kind, e.step) for e in expand(result.items)] == [("metrics", 7), ("progress", 10)]


def test_a_json_event_line_is_an_event_before_any_other_parser_sees_it() -> None:
    pm = PluginManager()
    line = StepLines()  # it would claim every line starting with "{"
    pm.register(line, "step-lines")
    result = pm.parser_chain().parse([JSON_LINE, b"{not json"], _context())
    assert [e.kind for e in expand(result.items)] == ["metrics", "progress"]
    assert line.seen == ["{not json"]


def test_printed_metrics_are_read_without_claiming_their_lines() -> None:
    pm = PluginManager()
    context = _context()
    result = pm.parser_chain().parse([b"Epoch 3/10", b"loss: 0.45 - accuracy: 0.91"], context)
    assert result.claimed == [False, False]
    (item,) = result.items
    assert isinstance(item, MetricLines)
    assert item.steps == [3] and item.data == [{"loss": 0.45, "accuracy": 0.91}]
    assert context.state.step == 3 and not context.state.reported_metrics
