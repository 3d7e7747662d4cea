"""The runs table's query: filter, sort and page through runs without loading them all.

``Store.list_runs`` returns newest first with limit/offset, so the default order (and its
reverse) pages in the store; other orders sort the filtered runs here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from backprop_core.render.runs import LOCAL_HOST, origin_filter
from backprop_core.store.contract import Store
from backprop_core.store.records import LOCAL_ORIGIN, RunFilter, RunRecord
from backprop_core.viewer.params import (
    DEFAULT_RUNS_LIMIT,
    MAX_RUNS_LIMIT,
    SORT_KEYS,
    choice_param,
    int_param,
    statuses_param,
    tags_param,
)


@dataclass(frozen=True)
class RunsQuery:
    """A runs-table request: filter, sort, order and page."""

    flt: RunFilter
    sort: str = "created"
    order: str = "desc"
    limit: int = DEFAULT_RUNS_LIMIT
    offset: int = 0

    def as_params(self) -> dict[str, Any]:
        return {
            "status": ",".join(sorted(s.value for s in self.flt.statuses or ())),
            "name": self.flt.name or "",
            "tag": [f"{k}={v}" for k, v in self.flt.tags],
            "host": LOCAL_HOST if self.flt.origin == LOCAL_ORIGIN else self.flt.origin or "",
            "sort": self.sort,
            "order": self.order,
            "limit": self.limit,
            "offset": self.offset,
        }


def parse_runs_query(query: Mapping[str, str], tags: list[str]) -> RunsQuery:
    """Build a ``RunsQuery`` from query parameters; raises ``ParamError``."""
    limit = int_param(query, "limit", DEFAULT_RUNS_LIMIT, low=1, high=MAX_RUNS_LIMIT)
    offset = int_param(query, "offset", 0, low=0)
    name = (query.get("name") or "").strip() or None
    host = (query.get("host") or "").strip() or None
    flt = RunFilter(
        statuses=statuses_param(query),
        name=name,
        tags=tags_param(tags),
        origin=origin_filter(host),
    )
    return RunsQuery(
        flt=flt,
        sort=choice_param(query, "sort", "created", SORT_KEYS),
        order=choice_param(query, "order", "desc", ("asc", "desc")),
        limit=limit if limit is not None else DEFAULT_RUNS_LIMIT,
        offset=offset or 0,
    )


def _none_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value)


_SORT_FIELDS: dict[str, Callable[[RunRecord], Any]] = {
    "started": lambda r: _none_last(r.started_at),
    "name": lambda r: _none_last((r.name or "").lower() or None),
    "status": lambda r: r.status.value,
    "sessions": lambda r: r.session_count,
    "duration": lambda r: r.active_seconds,
    "step": lambda r: _none_last(r.last_step),
}


def run_query(store: Store, q: RunsQuery) -> tuple[int, list[RunRecord]]:
    """``(total matching, the requested page)``."""
    total = store.count_runs(q.flt)
    if q.offset >= total:
        return total, []
    if q.sort == "created":
        if q.order == "desc":
            return total, store.list_runs(replace(q.flt, limit=q.limit, offset=q.offset))
        # Oldest first: the mirror-image page of the newest-first order.
        count = min(q.limit, total - q.offset)
        start = total - q.offset - count
        page = store.list_runs(replace(q.flt, limit=count, offset=start))
        return total, list(reversed(page))
    runs = store.list_runs(replace(q.flt, limit=None, offset=0))
    key = _SORT_FIELDS[q.sort]
    runs.sort(key=lambda r: (key(r), r.created_at, r.id), reverse=q.order == "desc")
    return total, runs[q.offset : q.offset + q.limit]
