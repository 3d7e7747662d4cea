"""Store contract: run parameters (``RunRecord.params``, ``RunFilter.params``) and what the
``params``, ``summary`` and ``environment`` events add to a run."""

from __future__ import annotations

import math

from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.params import ParamCondition
from backprop_core.store.records import RunFilter
from backprop_core.testing.builders import T0, make_run, metrics


class ParamsContract:
    def _three_runs(self, store: Store) -> None:
        store.create_run(make_run("a", T0, params={"lr": 3e-4, "opt": "adamw", "amp": True}))
        store.create_run(make_run("b", T0 + 1, params={"lr": 0.001, "opt": "sgd", "layers": 6}))
        store.create_run(make_run("c", T0 + 2, params={"lr": "3e-4", "amp": False}))

    def _ids(self, store: Store, *raw: str) -> list[str]:
        flt = RunFilter(params=tuple(ParamCondition.parse(r) for r in raw))
        return [r.id for r in store.list_runs(flt)]

    def test_param_filter_compares_numbers_as_numbers(self, store: Store) -> None:
        self._three_runs(store)
        # 3e-4 and 0.0003 are one number; the string "3e-4" (run c) matches as its text.
        assert self._ids(store, "lr=0.0003") == ["a"]
        assert self._ids(store, "lr=3e-4") == ["c", "a"]
        assert self._ids(store, "lr>1e-4") == ["b", "a"]
        assert self._ids(store, "lr<=3e-4") == ["a"]
        assert self._ids(store, "layers>=6", "lr!=1") == ["b"]

    def test_param_filter_on_text_booleans_and_missing_names(self, store: Store) -> None:
        self._three_runs(store)
        assert self._ids(store, "opt=sgd") == ["b"]
        assert self._ids(store, "opt!=sgd") == ["a"]  # run c has no opt: never matches
        assert self._ids(store, "amp=true") == ["a"]
        assert self._ids(store, "amp=False") == ["c"]
        assert self._ids(store, "opt>a") == []  # ordering needs numbers
        assert self._ids(store, "nothing=1") == []
        flt = RunFilter(params=(ParamCondition.parse("lr>1e-4"),), limit=1)
        assert store.count_runs(flt) == 2 and len(store.list_runs(flt)) == 1

    def test_a_nan_in_a_run_never_breaks_filtering_by_param(self, store: Store) -> None:
        store.create_run(make_run("a", params={"lr": 0.1, "beta": math.nan}))
        store.append_events("a", [metrics(1, loss=math.nan)])
        store.create_run(make_run("b", T0 + 1, params={"lr": 0.2}))
        assert self._ids(store, "lr=0.1") == ["a"]
        assert self._ids(store, "lr>0") == ["b", "a"]

    def test_params_events_merge_over_the_arguments(self, store: Store) -> None:
        store.create_run(make_run("r1", params={"lr": 0.1, "batch_size": 32, "amp": True}))
        store.append_events(
            "r1",
            [
                Event("params", T0, None, {"data": {"lr": 3e-4, "optim": {"beta1": 0.9}}}),
                Event("summary", T0 + 1, None, {"data": {"config": {"warmup": 100}}}),
            ],
        )
        run = store.get_run("r1")
        assert run.params == {
            "lr": 3e-4,
            "batch_size": 32,
            "amp": True,
            "optim.beta1": 0.9,
            "warmup": 100,
        }
        assert run.summary == {"config": {"warmup": 100}}
        assert [
            r.id for r in store.list_runs(RunFilter(params=(ParamCondition.parse("lr=3e-4"),)))
        ] == ["r1"]

    def test_environment_events_merge_into_the_environment(self, store: Store) -> None:
        store.create_run(make_run("r1", environment={"launch": {"mode": "script"}}))
        store.append_events(
            "r1", [Event("environment", T0, None, {"data": {"python": {"version": "3.11"}}})]
        )
        store.append_events(
            "r1", [Event("environment", T0, None, {"data": {"git": {"commit": "abc"}}})]
        )
        assert store.get_run("r1").environment == {
            "launch": {"mode": "script"},
            "python": {"version": "3.11"},
            "git": {"commit": "abc"},
        }
