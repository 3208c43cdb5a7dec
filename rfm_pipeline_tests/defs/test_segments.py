"""customer_segments with segment_registry, and segment_profiles."""


def test_every_customer_has_a_named_segment_registered(graph):
    segments, registry = graph.table("customer_segments"), graph.table("segment_registry")
    assert len(segments) == len(graph.table("rfm_features"))
    assert set(segments["segment_id"]) == set(registry.loc[registry["customers"] > 0, "segment_id"])
    assert (registry["first_week"] == "2011-11-28").all()
    meta = graph.metadata("customer_segments")
    assert meta["compared_with_week"] == "none: 2011-11-21 has not been materialised"
    assert meta["segments_new"] == segments["segment_id"].nunique()
    assert meta["k"] == segments["segment_id"].nunique()


def test_profiles_add_up_to_every_customer(graph):
    profiles = graph.table("segment_profiles")
    assert profiles["customers"].sum() == len(graph.table("customer_segments"))
    assert abs(profiles["revenue_share"].sum() - 1) < 1e-9
    assert set(graph.metadata("segment_profiles")["strategies"]) == set(profiles["segment_name"])
