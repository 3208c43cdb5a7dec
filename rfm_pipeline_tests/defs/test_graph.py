"""The asset graph as review sees it: a snapshot of its assets (group, kinds, partitions, code
version, checks, freshness, the assets each reads and on which weeks), jobs, schedules and
sensors, kept in the repository, so that a change to the lineage shows up in the diff.

After a deliberate change: `.venv/bin/python -m rfm_pipeline_tests.defs.test_graph` writes the
snapshot again."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).with_name("graph_snapshot.json")


def _weeks(mapping: dg.PartitionMapping) -> str:
    """Which weeks of an upstream asset a week reads: its own, or one earlier (-1) and so on."""
    if isinstance(mapping, dg.TimeWindowPartitionMapping):
        if mapping.start_offset == mapping.end_offset == 0:
            return "same week"
        return f"weeks {mapping.start_offset} to {mapping.end_offset}"
    return type(mapping).__name__


def graph_snapshot() -> dict:
    """The definitions' graph as plain data, in a stable order."""
    from rfm_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        weekly = node.partitions_def is not None
        reads = {}
        for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
            both = weekly and graph.get(parent).partitions_def is not None
            mapping = graph.get_partition_mapping(key, parent) if both else None
            reads[parent.to_user_string()] = _weeks(mapping) if mapping else "whole"
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": node.partitions_def.cron_schedule if weekly else None,
            "code_version": node.code_version,
            "checks": sorted(check.name for check in node.check_keys),
            "fresh_within_days": node.freshness_policy.fail_window.days
            if node.freshness_policy
            else None,
            "reads": reads,
        }
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if job.name[0] != "_"),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
    }


def test_the_asset_graph_is_the_one_in_the_repository():
    kept = json.loads(SNAPSHOT.read_text())
    found = graph_snapshot()
    changed = sorted(
        name
        for name in set(kept["assets"]) | set(found["assets"])
        if kept["assets"].get(name) != found["assets"].get(name)
    )
    assert not changed, (
        f"the asset graph changed ({', '.join(changed)}): if it is meant to, write the snapshot"
        " again with `python -m rfm_pipeline_tests.defs.test_graph` and review its diff"
    )
    assert {k: v for k, v in found.items() if k != "assets"} == {
        k: v for k, v in kept.items() if k != "assets"
    }


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(graph_snapshot(), indent=1) + "\n")
