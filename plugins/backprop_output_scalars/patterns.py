"""Your own patterns (``outputScalars.patterns``): regular expressions tried first on every
printed line, with named groups saying what is what (docs/unmodified-scripts.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backprop_output_scalars.rules import normalise_key


def _number(text: str) -> float:
    return float(text.replace(",", ""))


class UserPattern:
    """One ``outputScalars.patterns`` entry: named groups ``step``, ``key``/``value``, or one
    group per metric (validated with the settings)."""

    def __init__(self, source: str) -> None:
        self.regex = re.compile(source)
        names = set(self.regex.groupindex)
        self.pairs = "key" in names and "value" in names
        self.metric_groups = sorted(names - {"step", "key", "value"})

    def read(self, line: str) -> tuple[dict[str, float], int | None]:
        data: dict[str, float] = {}
        step = None
        for m in self.regex.finditer(line):
            groups = m.groupdict()
            if step is None and groups.get("step") is not None:
                try:
                    step = int(float(groups["step"]))
                except ValueError:
                    pass
            pairs = [(groups["key"], groups["value"])] if self.pairs else []
            pairs += [(name, groups[name]) for name in self.metric_groups]
            for key, value in pairs:
                if key is None or value is None:
                    continue
                try:
                    number = _number(value)
                except ValueError:
                    continue
                data.setdefault(normalise_key(key), number)
        return data, step


@dataclass(frozen=True, eq=False)
class UserLine:
    """A line read by one of the user's patterns."""

    values: tuple[tuple[str, float], ...]
    step: int | None
