"""Finding runs in the PostgreSQL store: by reference, listing and counting with filters, and
the marks ``pull`` compares."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from backprop_core import AmbiguousRun, RunFilter, RunMark, RunNotFound, RunRecord
from backprop_core.plugin_kit import RESOLVE_HINT, marks_from_rows, run_from_dict
from backprop_postgres.rows import matching_ids
from backprop_postgres.series_pg import clean_text

if TYPE_CHECKING:
    from backprop_postgres.database import Database, Reader


class RunQueries:
    """``resolve``, ``list_runs``, ``count_runs`` and ``run_marks`` of ``PostgresStore``."""

    db: Database

    def resolve(self, ref: str) -> RunRecord:
        if not ref:
            raise RunNotFound("no run matches an empty reference", hint=RESOLVE_HINT)
        order = " ORDER BY created_at DESC, id DESC"
        rows = self.db.read("SELECT record FROM runs WHERE id = %s", (ref,))
        if not rows:
            rows = self.db.read(f"SELECT record FROM runs WHERE starts_with(id, %s){order}", (ref,))
        if not rows:
            rows = self.db.read(
                f"SELECT record FROM runs WHERE name = %s{order}", (clean_text(ref),)
            )
        if not rows and "-" not in ref:
            rows = self.db.read(
                "SELECT record FROM runs WHERE right(id, %s) = %s"
                f" AND substr(id, length(id) - %s, 1) = '-'{order}",
                (len(ref), ref, len(ref)),
            )
        if not rows:
            raise RunNotFound(f"no run matches '{ref}'", hint=RESOLVE_HINT)
        if len(rows) > 1:
            raise AmbiguousRun(ref, [json.loads(r[0])["id"] for r in rows])
        return run_from_dict(json.loads(rows[0][0]))

    def _matching(self, flt: RunFilter) -> list[str] | None:
        """The ids of the runs matching ``flt``'s name, tag and param filters, newest first,
        or ``None`` when it has none."""
        if flt.name is None and not flt.tags and not flt.params:
            return None
        where, params = self._status_where(flt)
        rows = self.db.read(
            f"SELECT id, name, tags, params FROM runs{where} ORDER BY created_at DESC, id DESC",
            params,
        )
        return matching_ids(rows, flt)

    @staticmethod
    def _status_where(flt: RunFilter) -> tuple[str, list[Any]]:
        """`` WHERE …`` for ``flt``'s statuses and origin (the filters applied in SQL)."""
        clauses: list[str] = []
        params: list[Any] = []
        if flt.statuses is not None:
            clauses.append("status = ANY(%s)")
            params.append([s.value for s in flt.statuses])
        if flt.origin is not None:
            if flt.origin:
                clauses.append("origin = %s")
                params.append(clean_text(flt.origin))
            else:  # LOCAL_ORIGIN: runs recorded here, without an origin
                clauses.append("origin IS NULL")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list_runs(self, flt: RunFilter | None = None) -> list[RunRecord]:
        flt = flt or RunFilter()
        ids = self._matching(flt)
        if ids is None:
            where, params = self._status_where(flt)
            sql = f"SELECT record FROM runs{where} ORDER BY created_at DESC, id DESC"
            if flt.limit is not None or flt.offset:
                sql += " LIMIT %s OFFSET %s"
                params += [flt.limit, flt.offset]
            return [run_from_dict(json.loads(r[0])) for r in self.db.read(sql, params)]
        end = None if flt.limit is None else flt.offset + flt.limit
        page = ids[flt.offset : end]
        if not page:
            return []
        records = dict(self.db.read("SELECT id, record FROM runs WHERE id = ANY(%s)", (page,)))
        return [run_from_dict(json.loads(records[i])) for i in page if i in records]

    def count_runs(self, flt: RunFilter | None = None) -> int:
        flt = flt or RunFilter()
        ids = self._matching(flt)
        if ids is not None:
            return len(ids)
        where, params = self._status_where(flt)
        return int(self.db.read(f"SELECT count(*) FROM runs{where}", params)[0][0])

    def run_marks(self, origin: str) -> list[RunMark]:
        # The stored text as it is (a session's heartbeat has its own column), in one
        # snapshot: no record decoded.
        where, params = self._status_where(RunFilter(origin=origin))

        def read(query: Reader) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            runs = query(
                f"SELECT id, status, event_seq, record FROM runs{where}"
                " ORDER BY created_at DESC, id DESC",
                params,
            )
            sessions = query(
                "SELECT run_id, number, record, heartbeat_at FROM sessions"
                f" WHERE run_id IN (SELECT id FROM runs{where}) ORDER BY run_id, number",
                params,
            )
            return runs, sessions

        runs, sessions = self.db.snapshot(read)
        return marks_from_rows(
            runs, [(run_id, n, f"{text}\x1f{beat!r}") for run_id, n, text, beat in sessions]
        )
