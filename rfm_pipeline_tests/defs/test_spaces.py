"""The three spaces' multi-assets: each customer placed, every (algorithm, k) scored."""

import pytest

from rfm_pipeline_tests.defs.conftest import WEEK


@pytest.mark.parametrize("space", ["pca", "umap", "tsne"])
def test_each_space_places_every_customer_and_records_its_options(graph, space):
    table, sweep = graph.table(f"{space}_segmentation"), graph.table(f"{space}_sweep")
    assert len(table) == len(graph.table("rfm_features"))
    assert table["segment_id"].notna().all()
    meta = graph.metadata(f"{space}_segmentation")
    assert meta["options"]["random_state"] == (100 if space == "tsne" else 42)
    assert graph.metadata(f"{space}_sweep")["compared_with_week"] == (
        "none: 2011-11-21 has not been materialised"
    )
    assert set(sweep.loc[sweep["kept"], "k"]) <= set(sweep["k"])
    assert (graph.warehouse / "plots" / f"{space}_silhouette" / f"{WEEK}.png").exists()


def test_umap_is_a_kind_of_its_space(graph):
    from rfm_pipeline.definitions import defs

    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert "umap" in specs["umap_segmentation"].kinds
