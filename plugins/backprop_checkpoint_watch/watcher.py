"""The ``checkpoints`` watcher: records a checkpoint when a matching file (or a Hugging Face
``checkpoint-N`` folder) is created or rewritten during a session and has stopped changing."""

from __future__ import annotations

import os
from dataclasses import dataclass

from backprop_checkpoint_watch.names import checkpoint_of, step_of
from backprop_checkpoint_watch.tree import MAX_FOLDERS, TreeScan
from backprop_core import Event, WatchContext, Watcher
from backprop_core.plugin_kit import checkpoint_key, identify

#: What tells one version of a checkpoint from another: for a file its device, inode, size and
#: modification time; for a folder those of each matching file in it, and the folder's time.
Signature = tuple[object, ...]
#: An announcement counts for the version of a file written up to this long after it.
ANNOUNCE_SLACK_NS = 1_000_000_000


@dataclass
class _Unit:
    """One checkpoint as seen by one scan."""

    signature: Signature
    mtime_ns: int  # the newest modification time of its files
    ctime: float  # the newest status change (creation, write, rename) of its files


class CheckpointWatcher(Watcher):
    name = "checkpoints"

    def __init__(self, context: WatchContext, tree: TreeScan) -> None:
        self.context = context
        self.tree = tree
        self.poll_seconds = context.settings.checkpoints.poll_seconds
        # What was there before the script started: not this session's checkpoints.
        self._before = {k: u.signature for k, u in self._scan().items()}
        self._recorded: dict[str, Signature] = {}
        self._pending: dict[str, tuple[Signature, int | None]] = {}
        self._warned = False

    @classmethod
    def _tree(cls, context: WatchContext) -> TreeScan | None:
        watching = context.settings.checkpoints
        if not watching.watch or not context.cwd.is_dir():
            return None
        return TreeScan(context.cwd, watching.watch, watching.max_depth, skip=[context.home])

    @classmethod
    def create(cls, context: WatchContext) -> CheckpointWatcher | None:
        tree = cls._tree(context)
        return cls(context, tree) if tree is not None else None

    @classmethod
    def resumable(cls, context: WatchContext) -> list[Event]:
        tree = cls._tree(context)
        if tree is None:
            return []
        found = sorted(_units(tree).items(), key=lambda kv: kv[1].mtime_ns)
        return [
            _event(context, rel, step_of(rel), unit.mtime_ns / 1e9, with_file=False)
            for rel, unit in found
            if unit.ctime >= context.created_at
        ]

    def _scan(self) -> dict[str, _Unit]:
        return _units(self.tree)

    def poll(self, now: float) -> list[Event]:
        return self._look(now, final=False)

    def finish(self, now: float) -> list[Event]:
        # The script and its processes are gone: whatever changed is complete.
        return self._look(now, final=True)

    def _look(self, now: float, final: bool) -> list[Event]:
        events: list[Event] = []
        if self.tree.truncated and not self._warned:
            self._warned = True
            events.append(self._truncated_alert(now))
        units = self._scan()
        for gone in self._pending.keys() - units.keys():
            del self._pending[gone]
        for rel, unit in units.items():
            signature = unit.signature
            if signature in (self._before.get(rel), self._recorded.get(rel)):
                self._pending.pop(rel, None)
                continue
            if self._announced(rel, unit):
                self._recorded[rel] = signature
                self._pending.pop(rel, None)
                continue
            pending = self._pending.get(rel)
            stable = pending is not None and pending[0] == signature
            # The step when this version first showed up, closest to when it was saved.
            seen_step = pending[1] if stable and pending else self.context.last_step()
            if final or stable:
                step = step_of(rel)
                events.append(_event(self.context, rel, seen_step if step is None else step, now))
                self._recorded[rel] = signature
                self._pending.pop(rel, None)
            else:
                self._pending[rel] = (signature, seen_step)
        return events

    def _announced(self, rel: str, unit: _Unit) -> bool:
        """Whether the script announced this version of the checkpoint itself, or a folder
        holding it (a checkpoint saved as a folder: its files are not checkpoints of their own)."""
        top = os.path.normpath(self.context.cwd)
        path = os.path.join(top, rel)
        while len(path) > len(top):
            when = self.context.announced(checkpoint_key(path, None))
            if when is not None and unit.mtime_ns <= when * 1e9 + ANNOUNCE_SLACK_NS:
                return True
            path = os.path.dirname(path)
        return False

    def _truncated_alert(self, now: float) -> Event:
        text = (
            f"checkpoint watching covers the first {MAX_FOLDERS:,} folders under "
            f"{self.context.cwd} only: narrow checkpoints.watch or lower checkpoints.maxDepth"
        )
        payload = {"level": "warning", "text": text}
        return Event("alert", now, None, payload, self.context.session)


def _units(tree: TreeScan) -> dict[str, _Unit]:
    """The checkpoints under the tree now: files, and folders made of their matching files."""
    units: dict[str, _Unit] = {}
    members: dict[str, list[tuple[str, os.stat_result]]] = {}
    for rel, st in tree.scan().items():
        unit = checkpoint_of(rel)
        if unit == rel:
            signature: Signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            units[rel] = _Unit(signature, st.st_mtime_ns, st.st_ctime)
        elif unit is not None:
            members.setdefault(unit, []).append((rel, st))
    for folder, files in members.items():
        files.sort()
        signature = (
            tree.folder_mtime_ns(folder),
            *((rel, st.st_ino, st.st_size, st.st_mtime_ns) for rel, st in files),
        )
        mtime = max(st.st_mtime_ns for _, st in files)
        units[folder] = _Unit(signature, mtime, max(st.st_ctime for _, st in files))
    return units


def _event(
    context: WatchContext, rel: str, step: int | None, when: float, with_file: bool = True
) -> Event:
    path = os.path.join(context.cwd, rel)
    payload: dict[str, object] = {"path": path, "found_by": CheckpointWatcher.name}
    if step is not None:
        payload["step"] = step
    # gc's ownership rules rely on what was seen of the file the run made (docs/store.md)
    found = identify(path, None, context.created_at, context.home) if with_file else None
    # The step stays in the payload only: it is older than the output the session has shown.
    return Event("checkpoint_saved", when, None, payload, context.session, file=found)
