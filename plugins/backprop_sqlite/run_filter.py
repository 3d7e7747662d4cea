"""The SQL ``WHERE`` clause of a ``RunFilter``: what ``list_runs`` and ``count_runs`` select.
Every condition reads a column of ``runs`` (tags, parameters and origin have their own), never
the JSON record: SQLite's JSON functions refuse the NaN a record's metrics may hold."""

from __future__ import annotations

from typing import Any

from backprop_core import RunFilter


def where_clause(flt: RunFilter) -> tuple[str, list[Any]]:
    """`` WHERE …`` (empty when nothing is filtered) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.statuses is not None:
        marks = ",".join("?" for _ in flt.statuses)
        clauses.append(f"status IN ({marks})" if marks else "0")
        params.extend(s.value for s in flt.statuses)
    if flt.name is not None:
        clauses.append("bp_glob(?, name)")
        params.append(flt.name)
    if flt.origin is not None:
        if flt.origin:
            clauses.append("origin = ?")
            params.append(flt.origin)
        else:  # LOCAL_ORIGIN: runs recorded here, without an origin
            clauses.append("origin IS NULL")
    for key, value in flt.tags:
        clauses.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE key = ? AND value = ?)")
        params.extend((key, value))
    for cond in flt.params:
        clauses.append("bp_params(runs.params, ?, ?, ?)")
        params.extend((cond.name, cond.op, cond.text))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params
