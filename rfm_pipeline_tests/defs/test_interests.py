"""customer_interests: spend shares per category and an interest group per customer."""


def test_every_customer_has_shares_that_add_up(graph):
    interests = graph.table("customer_interests", week=None)
    meta = graph.metadata("customer_interests")
    if "skipped" in meta:
        assert interests.empty
        return
    shares = interests[[c for c in interests.columns if c.startswith("share_")]]
    assert (shares.sum(axis=1).round(6) == 1).mean() > 0.95  # a customer who spent 0 has none
    assert interests["group_name"].notna().all()
    assert meta["settings"] == {"ks": list(range(4, 13)), "random_state": 42}
