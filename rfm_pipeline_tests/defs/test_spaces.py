"""The three spaces' multi-assets: each customer placed, every (algorithm, k) scored."""

import pandas as pd
import pytest

from rfm_pipeline_tests.defs.conftest import WEEK

MIN_SHARE = 0.02
"""The sweeps' default: a solution whose smallest segment holds less is not eligible."""

TIE_WITHIN = {"pca": 0.02, "umap": 0.02, "tsne": 0.0}
"""The defaults: silhouettes this near the best are tied, and the tie goes to the fewest
segments; t-SNE keeps the study's rule, the best silhouette."""


def kept_by_the_rule(sweep: pd.DataFrame, tie_within: float) -> dict[str, int]:
    """Each algorithm's k as the rule keeps it, from the sweep's scores alone (no week before
    this one to stay with): among the eligible solutions (all of them when none is), the
    fewest segments whose silhouette is within `tie_within` of the best."""
    kept = {}
    for algorithm, rows in sweep.groupby("algorithm"):
        eligible = rows[rows["min_share"] >= MIN_SHARE]
        pool = eligible if len(eligible) else rows
        tied = pool[pool["silhouette"] >= pool["silhouette"].max() - tie_within]
        kept[algorithm] = int(tied["k"].min())
    return kept


@pytest.mark.parametrize("space", ["pca", "umap", "tsne"])
def test_each_space_places_every_customer_and_keeps_the_rules_solutions(graph, space):
    table, sweep = graph.table(f"{space}_segmentation"), graph.table(f"{space}_sweep")
    assert sorted(table["customer_id"]) == sorted(graph.table("rfm_features")["customer_id"])
    meta = graph.metadata(f"{space}_segmentation")
    assert meta["options"]["random_state"] == (100 if space == "tsne" else 42)
    assert graph.metadata(f"{space}_sweep")["compared_with_week"] == (
        "none: 2011-11-21 has not been materialised"
    )
    # eligibility and the kept k, worked out from the scores
    assert sweep["eligible"].tolist() == (sweep["min_share"] >= MIN_SHARE).tolist()
    expected = kept_by_the_rule(sweep, TIE_WITHIN[space])
    kept = sweep[sweep["kept"]]
    assert dict(zip(kept["algorithm"], kept["k"], strict=True)) == expected
    # the space's segments: the kept solution with the best silhouette (eligible ones first)
    kept = kept.assign(eligible_first=kept["eligible"]).sort_values(
        ["eligible_first", "silhouette"], ascending=False
    )
    chosen = kept.iloc[0]
    assert set(table["algorithm"]) == {chosen["algorithm"]}
    assert set(table["k"]) == {chosen["k"]}
    assert table["segment_id"].equals(table[f"{chosen['algorithm']}_segment"])
    assert table["segment_id"].nunique() == chosen["k"]
    assert (graph.warehouse / "plots" / f"{space}_silhouette" / f"{WEEK}.png").exists()


def test_the_tie_rule_keeps_fewer_segments_than_the_best_silhouette_somewhere(graph):
    """The graph's data reaches the tie: in UMAP's space, some algorithm's best silhouette is
    not the k it keeps (so the test above checks the tie, not only the maximum)."""
    sweep = graph.table("umap_sweep")
    eligible = sweep[sweep["min_share"] >= MIN_SHARE]
    best = eligible.loc[eligible.groupby("algorithm")["silhouette"].idxmax()]
    best_k = dict(zip(best["algorithm"], best["k"], strict=True))
    kept = kept_by_the_rule(sweep, TIE_WITHIN["umap"])
    assert any(kept[a] < best_k[a] for a in kept)


def test_umap_is_a_kind_of_its_space(graph):
    from rfm_pipeline.definitions import defs

    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert "umap" in specs["umap_segmentation"].kinds
