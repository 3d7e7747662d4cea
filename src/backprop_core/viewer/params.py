"""Reading and checking query parameters; a bad one is a 422 that says which and why."""

from __future__ import annotations

from collections.abc import Mapping

from backprop_core.store.records import ACTIVE_STATUSES, RunStatus

# The API's limits, in one place for the handlers and the OpenAPI description.
DEFAULT_RUNS_LIMIT = 50
MAX_RUNS_LIMIT = 500
SORT_KEYS = ("created", "started", "name", "status", "sessions", "duration", "step")
MAX_KEYS = 64
MIN_MAX_POINTS = 10
DEFAULT_MAX_POINTS = 2000
MAX_MAX_POINTS = 100_000
# Every integer reaches SQLite or a file offset: neither takes more than a signed 64-bit value.
INT64_MAX = (1 << 63) - 1


class ParamError(ValueError):
    """A query parameter the API cannot use; becomes a 422 response."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"query parameter '{name}': {message}")
        self.name = name


def int_param(
    query: Mapping[str, str],
    name: str,
    default: int | None,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(name, f"expected an integer, got {raw!r}") from None
    low = -INT64_MAX - 1 if low is None else low
    high = INT64_MAX if high is None else high
    if value < low:
        raise ParamError(name, f"must be at least {low}, got {value}")
    if value > high:
        raise ParamError(name, f"must be at most {high}, got {value}")
    return value


def bool_param(query: Mapping[str, str], name: str) -> bool:
    """``1``/``true``/``yes`` or ``0``/``false``/``no`` (default false)."""
    raw = (query.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ParamError(name, f"expected true or false, got {raw!r}")


def choice_param(
    query: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]
) -> str:
    raw = query.get(name) or default
    if raw not in choices:
        raise ParamError(name, f"expected one of {', '.join(choices)}, got {raw!r}")
    return raw


def list_param(query: Mapping[str, str], name: str) -> list[str]:
    """A comma-separated list; empty items dropped."""
    raw = query.get(name) or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def statuses_param(query: Mapping[str, str]) -> frozenset[RunStatus] | None:
    names = list_param(query, "status")
    if not names:
        return None
    out: set[RunStatus] = set()
    for name in names:
        if name == "active":
            out.update(ACTIVE_STATUSES)
            continue
        try:
            out.add(RunStatus(name))
        except ValueError:
            known = ", ".join(["active", *(s.value for s in RunStatus)])
            raise ParamError("status", f"unknown status {name!r} (known: {known})") from None
    return frozenset(out)


def tags_param(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``tag=key=value`` (repeatable): all must match."""
    out = []
    for raw in values:
        if not raw:
            continue
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise ParamError("tag", f"expected KEY=VALUE, got {raw!r}")
        out.append((key, value))
    return tuple(out)
