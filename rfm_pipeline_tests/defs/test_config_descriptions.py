"""Every setting is described where people set it: each field of every op's and asset's config
and of every resource, as Dagster's config schema holds it (what the launchpad shows)."""

from collections.abc import Iterator

import dagster as dg

from rfm_pipeline.definitions import defs
from rfm_pipeline.defs.ingest import IngestConfig


class Bare(dg.Config):
    """A config whose one field has no description."""

    k_max: int = 8


class BareStore(dg.ConfigurableResource):
    """A resource whose one field has no description."""

    base: str = "here"


def schema_fields(where: str, config_type: object) -> Iterator[tuple[str, str | None]]:
    """(name, description) of every field of a config type, nested fields included, named
    `<where>.<field>`; lists, optional and map values are walked into."""
    for name, field in (getattr(config_type, "fields", None) or {}).items():
        yield f"{where}.{name}", field.description
        yield from schema_fields(f"{where}.{name}", field.config_type)
    for inner in ("inner_type", "key_type"):
        if getattr(config_type, inner, None) is not None:
            yield from schema_fields(where, getattr(config_type, inner))


def launchpad_fields(definitions: dg.Definitions) -> dict[str, str | None]:
    """Every config field of every job's ops (the asset job holds every asset) and resources."""
    found: dict[str, str | None] = {}
    for job in definitions.resolve_all_job_defs():
        for node in job.all_node_defs:
            if node.config_schema is not None:
                found.update(schema_fields(f"op {node.name}", node.config_schema.config_type))
        for key, resource in job.resource_defs.items():
            if resource.config_schema is not None:
                found.update(schema_fields(f"resource {key}", resource.config_schema.config_type))
    return found


def undescribed(definitions: dg.Definitions) -> list[str]:
    fields = launchpad_fields(definitions)
    return sorted(name for name, text in fields.items() if not (text or "").strip())


def test_every_setting_the_launchpad_shows_has_a_description():
    fields = launchpad_fields(defs)
    assert {
        "op raw_transactions.path",
        "op raw_transactions.column_map",
        "op score_transactions.out",
        "op tsne_segmentation.tie_within",
        "op value_backtest.cutoff_count",
        "resource engine.backend",
        "resource warehouse.base_path",
    } <= set(fields)
    assert len(fields) >= 99
    missing = undescribed(defs)
    assert not missing, f"{len(missing)} config fields without a description: {missing}"


def test_a_field_without_a_description_is_found():
    @dg.asset
    def swept(config: Bare, store: BareStore) -> None:
        """An asset whose config and resource fields have no description."""

    definitions = dg.Definitions(
        assets=[swept], resources={"store": BareStore(), "io_manager": dg.mem_io_manager}
    )
    assert undescribed(definitions) == ["op swept.k_max", "resource store.base"]


def test_list_and_map_defaults_are_not_shared_between_configs():
    first, second = IngestConfig(), IngestConfig()
    first.column_map["Price"] = "unit_price"
    first.line_order.append("invoice_date")
    assert second.column_map == {} and second.line_order == []
