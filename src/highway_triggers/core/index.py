"""The in-memory trigger index: phase 1 as a dict lookup."""

from collections import defaultdict
from collections.abc import Iterable, Iterator

from highway_triggers.core.trigger import BaseTrigger


class TriggerIndex:
    """``(subtype, index_key) → triggers`` plus each subtype's key-less triggers.

    Kept equal to the active rows of ``trigger_index`` by the TriggerManager; a lookup
    costs the same with a thousand triggers as with a million.
    """

    def __init__(self) -> None:
        self._keyed: dict[tuple[str, str], dict[str, BaseTrigger]] = defaultdict(dict)
        self._unkeyed: dict[str, dict[str, BaseTrigger]] = defaultdict(dict)
        self._by_id: dict[str, tuple[BaseTrigger, str | None]] = {}
        self._by_workflow: dict[str, dict[str, BaseTrigger]] = defaultdict(dict)

    def add(self, trigger: BaseTrigger, index_key: str | None) -> None:
        self.remove(trigger.id)
        self._by_id[trigger.id] = (trigger, index_key)
        self._by_workflow[trigger.workflow_id][trigger.id] = trigger
        if index_key is None:
            self._unkeyed[trigger.subtype][trigger.id] = trigger
        else:
            self._keyed[(trigger.subtype, index_key)][trigger.id] = trigger

    def remove(self, trigger_id: str) -> BaseTrigger | None:
        entry = self._by_id.pop(trigger_id, None)
        if entry is None:
            return None
        trigger, index_key = entry
        _discard(self._by_workflow, trigger.workflow_id, trigger_id)
        if index_key is None:
            _discard(self._unkeyed, trigger.subtype, trigger_id)
        else:
            _discard(self._keyed, (trigger.subtype, index_key), trigger_id)
        return trigger

    def candidates(self, subtype: str, index_keys: Iterable[str]) -> list[BaseTrigger]:
        """Phase 1: active triggers of ``subtype`` keyed by one of ``index_keys``, or key-less."""
        found: list[BaseTrigger] = []
        for key in dict.fromkeys(index_keys):  # a key given twice finds its triggers once
            bucket = self._keyed.get((subtype, key))
            if bucket:
                found.extend(bucket.values())
        unkeyed = self._unkeyed.get(subtype)
        if unkeyed:
            found.extend(unkeyed.values())
        return found

    def of_workflow(self, workflow_id: str, subtype: str | None = None) -> list[BaseTrigger]:
        triggers = self._by_workflow.get(workflow_id, {}).values()
        return [t for t in triggers if subtype is None or t.subtype == subtype]

    def __iter__(self) -> Iterator[BaseTrigger]:
        return (entry[0] for entry in list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def count_by_subtype(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for trigger, _ in self._by_id.values():
            counts[trigger.subtype] += 1
        return dict(counts)


def _discard(buckets: dict, key: object, trigger_id: str) -> None:  # type: ignore[type-arg]
    bucket = buckets.get(key)
    if bucket is not None:
        bucket.pop(trigger_id, None)
        if not bucket:
            del buckets[key]
