"""product_categories: one category per stock code, with the settings it used."""


def test_every_product_has_a_category_and_the_settings_are_recorded(graph):
    products = graph.table("product_categories", week=None)
    clean = graph.table("clean_transactions", week=None)
    assert set(products["stock_code"]) == set(clean["stock_code"])
    meta = graph.metadata("product_categories")
    if "skipped" not in meta:
        assert products["category_id"].notna().all()
        assert meta["settings"]["min_count"] == 13
        assert meta["k"] == products["category_id"].nunique()
