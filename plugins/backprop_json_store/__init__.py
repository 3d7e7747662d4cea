"""The JSON run store: ``home/experiments.json`` plus ``runs/<id>/events.jsonl``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Store


@hookimpl
def backprop_register_stores() -> list[type[Store]]:
    from backprop_json_store.store import JsonStore

    return [JsonStore]
