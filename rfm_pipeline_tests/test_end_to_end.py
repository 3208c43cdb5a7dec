"""The whole pipeline on the bundled UCI data, asserting the study's published figures."""

from __future__ import annotations

import contextlib
import io
import json

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from rfm_pipeline.cli import main
from rfm_pipeline.core.naming import base_name
from rfm_pipeline.core.rfm import SEGMENTS
from rfm_pipeline.definitions import defs
from rfm_pipeline.settings import BUNDLED_INPUT
from rfm_pipeline_tests.conftest import split_by_month

ASSETS = (
    "raw_transactions",
    "clean_transactions",
    "rfm_table",
    "rfm_scores",
    "rfm_features",
    "pca_segmentation",
    "pca_sweep",
    "umap_segmentation",
    "tsne_segmentation",
    "customer_segments",
    "segment_profiles",
    "segment_classifier",
    "new_customer_evaluation",
    "eda_report",
    "segment_report",
    "product_categories",
    "customer_interests",
    "interest_classifier",
)

FUNNEL = [
    ("raw", 0, 541_909),
    ("drop missing customer", 135_080, 406_829),
    ("drop missing or unusable value", 0, 406_829),
    ("drop exact duplicate", 5_225, 401_604),
    ("drop cancellation", 8_872, 392_732),
    ("drop non-product stock code", 1_549, 391_183),
    ("drop non-positive unit price", 33, 391_150),
]


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory):
    """`rfm-pipeline run` on the bundled data, once for the module; yields the folder and the
    metadata, and writes what the command printed to `printed.txt` in the folder."""
    folder = tmp_path_factory.mktemp("e2e")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("DAGSTER_HOME", str(folder / "dagster_home"))
        assert main(["run", "--warehouse", str(folder / "warehouse")]) == 0
        (folder / "printed.txt").write_text(printed.getvalue())
        with dg.DagsterInstance.get() as instance:
            events = {
                name: instance.get_latest_materialization_event(dg.AssetKey(name))
                for name in ASSETS
            }
    yield folder, {name: e.asset_materialization.metadata for name, e in events.items()}


def test_raw_transactions_match_the_published_file(bundled_run):
    folder, metadata = bundled_run
    raw = metadata["raw_transactions"]
    assert raw["dagster/row_count"].value == 541_909
    assert raw["invoices"].value == 25_900
    assert raw["products"].value == 4_070
    assert raw["customers"].value == 4_372
    assert raw["first_invoice_date"].value == "2010-12-01 08:26:00"
    assert raw["last_invoice_date"].value == "2011-12-09 12:50:00"
    nulls = {r.data["column"]: r.data["nulls"] for r in raw["nulls_per_column"].records}
    assert nulls["customer_id"] == 135_080
    assert nulls["description"] == 1_454
    assert pq.read_metadata(folder / "warehouse" / "raw_transactions.parquet").num_rows == 541_909


def test_cleaning_funnel_and_cancellations_match_the_study(bundled_run):
    _, metadata = bundled_run
    clean = metadata["clean_transactions"]
    funnel = [
        (r.data["step"], r.data["rows_removed"], r.data["rows_after"])
        for r in clean["funnel"].records
    ]
    assert funnel == FUNNEL
    assert clean["cancellations_cancellation_lines"].value == 8_872
    assert clean["cancellations_matched"].value == 7_521
    assert clean["cancellations_no_earlier_purchase"].value == 1_226


def test_clean_transactions_table(bundled_run):
    folder, _ = bundled_run
    table = pq.read_table(folder / "warehouse" / "clean_transactions.parquet")
    assert table.num_rows == 391_150
    assert {f.name: str(f.type) for f in table.schema} == {
        "line_no": "int64",
        "invoice_no": "string",
        "stock_code": "string",
        "description": "string",
        "quantity": "int64",
        "invoice_date": "timestamp[us]",
        "unit_price": "double",
        "customer_id": "string",
        "country": "string",
        "quantity_canceled": "int64",
        "total_price": "double",
    }
    frame = table.to_pandas()
    assert frame["customer_id"].nunique() == 4_334
    assert round(frame["total_price"].sum(), 2) == 8_263_592.99
    assert round(frame["total_price"].mean(), 2) == 21.13
    assert frame["customer_id"].str.fullmatch(r"\d{5}").all()
    assert (frame["quantity_canceled"] > frame["quantity"]).sum() == 36


def test_monthly_csv_exports_give_the_single_files_tables_and_so_its_segments(
    bundled_run, tmp_path, monkeypatch
):
    """The bundled log as 13 monthly CSV files in a folder: the same lines, funnel, revenue
    and RFM table as the single file. Every table customer_segments is computed from is one
    of these or comes from rfm_table, so its segments are the single file's too."""
    folder, _ = bundled_run
    split_by_month(tmp_path / "exports", pd.read_parquet(BUNDLED_INPUT))
    assert len(list((tmp_path / "exports").iterdir())) == 13
    warehouse = tmp_path / "warehouse"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    select = "raw_transactions,clean_transactions,rfm_table"
    assert (
        main(
            [
                "run",
                "--input",
                str(tmp_path / "exports"),
                "--warehouse",
                str(warehouse),
                "--select",
                select,
            ]
        )
        == 0
    )
    for name in select.split(","):
        mine, single = (
            pd.read_parquet(w / f"{name}.parquet") for w in (warehouse, folder / "warehouse")
        )
        if name == "clean_transactions":  # no set order: compared in line order
            mine, single = (t.sort_values("line_no", ignore_index=True) for t in (mine, single))
        pd.testing.assert_frame_equal(mine, single)
    clean = pd.read_parquet(warehouse / "clean_transactions.parquet")
    assert (len(pd.read_parquet(warehouse / "raw_transactions.parquet")), len(clean)) == (
        541_909,
        391_150,
    )
    assert round(clean["total_price"].sum(), 2) == 8_263_592.99

    graph = defs.resolve_asset_graph()
    upstream = dg.AssetSelection.assets("customer_segments").upstream().resolve(graph)
    whole = {k.to_user_string() for k in upstream if not graph.get(k).is_partitioned}
    assert whole == {"raw_transactions", "raw_summary", "clean_transactions", "cleaning_summary"}
    for key in upstream - {k for k in upstream if not graph.get(k).is_partitioned}:
        ancestors = dg.AssetSelection.assets(key).upstream().resolve(graph)  # itself included
        assert dg.AssetKey("rfm_table") in ancestors, key


def test_cli_summary_prints_the_funnel(bundled_run):
    folder, _ = bundled_run
    out = (folder / "printed.txt").read_text()
    assert out.startswith("  running  raw_transactions")
    for step, removed, after in FUNNEL:
        assert f"{step:<32} {removed:>9,} {after:>11,}" in out


def test_bundled_input_is_the_published_file():
    frame = pd.read_parquet(BUNDLED_INPUT, columns=["InvoiceNo"])
    assert len(frame) == 541_909


def test_rfm_table_figures(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["rfm_table"]
    assert meta["as_of"].value == "2011-12-10"
    assert meta["dagster/row_count"].value == 4_334
    assert meta["recency_mean_days"].value == 92.23
    assert meta["recency_median_days"].value == 50
    assert meta["customers_recency_over_200_days"].value == 743
    assert meta["frequency_mean_invoices"].value == 4.25
    assert meta["monetary_mean"].value == 1_906.69
    table = pd.read_parquet(folder / "warehouse" / "rfm_table.parquet").set_index("customer_id")
    assert len(table) == 4_334
    assert table.loc["12360", ["recency", "frequency", "monetary"]].tolist() == [52, 3, 2_302.06]


def test_every_customer_has_one_of_the_11_rfm_segments(bundled_run):
    folder, metadata = bundled_run
    scores = pd.read_parquet(folder / "warehouse" / "rfm_scores.parquet")
    assert len(scores) == 4_334
    assert set(scores["segment"]) == set(SEGMENTS)
    assert scores["action"].notna().all()
    edges = metadata["rfm_scores"]["edges"].value
    assert edges["frequency"] == [1.0, 2.0, 3.0, 5.0]


def test_rfm_features_hold_out_the_studys_outliers(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["rfm_features"]
    assert meta["frequency_threshold"].value == 13
    assert meta["monetary_threshold"].value == 5_659.85
    features = pd.read_parquet(folder / "warehouse" / "rfm_features.parquet")
    assert len(features) == 4_334
    assert (~features["is_outlier"]).sum() == 4_044


def test_pca_segmentation_reproduces_the_study(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["pca_segmentation"]
    assert meta["explained_variance_ratio"].value == [0.677, 0.240]
    assert meta["kept_per_algorithm"].value == {
        "kmeans": {"k": 3, "silhouette": 0.524},
        "gmm": {"k": 3, "silhouette": 0.436},
    }
    assert meta["algorithm"].value == "kmeans"
    clusters = {r.data["segment_id"]: r.data for r in meta["segments_of_fitted_customers"].records}
    assert [clusters[i]["customers"] for i in range(3)] == [1_001, 2_267, 776]
    assert [clusters[i]["recency"] for i in range(3)] == [253.3, 51.1, 31.9]
    assert [clusters[i]["frequency"] for i in range(3)] == [1.4, 2.3, 7.1]
    assert [round(clusters[i]["monetary"]) for i in range(3)] == [387, 660, 2_658]
    table = pd.read_parquet(folder / "warehouse" / "pca_segmentation.parquet")
    assert len(table) == 4_334
    assert table["segment_id"].notna().all()
    sweep = pd.read_parquet(folder / "warehouse" / "pca_sweep.parquet")
    assert len(sweep) == 18
    assert sweep["kept"].sum() == 2


def test_tsne_reproduces_the_studys_seven_segments(bundled_run):
    _, metadata = bundled_run
    meta = metadata["tsne_segmentation"]
    kept = meta["kept_per_algorithm"].value
    assert kept["kmeans"]["k"] == 7
    assert kept["kmeans"]["silhouette"] == pytest.approx(0.48, abs=0.02)
    assert kept["gmm"]["k"] == 4
    assert kept["gmm"]["silhouette"] == pytest.approx(0.47, abs=0.02)
    study = {r.data["algorithm"]: r.data for r in meta["beside_the_study"].records}
    assert study["kmeans"]["study_k"] == 7 and study["kmeans"]["our_k"] == 7
    assert metadata["umap_segmentation"]["dagster/row_count"].value == 4_334


def test_customer_segments_name_every_customer(bundled_run):
    folder, metadata = bundled_run
    segments = pd.read_parquet(folder / "warehouse" / "customer_segments.parquet")
    assert len(segments) == segments["customer_id"].nunique() == 4_334
    assert segments["segment_name"].notna().all() and segments["strategy"].notna().all()
    meta = metadata["customer_segments"]
    comparison = [r.data for r in meta["comparison"].records]
    first = comparison[0]
    assert (meta["embedding"].value, meta["algorithm"].value) == (
        first["embedding"],
        first["algorithm"],
    )
    # the rule: the fewest segments among the kept solutions within 0.02 of the best
    # silhouette, of those eligible and as predictive as the RFM grid; the numeric targets are
    # fixed, so this is the choice on any machine
    assert (first["embedding"], first["algorithm"], first["k"]) == ("umap", "kmeans", 5)
    assert first["preferred"] and first["silhouette"] == pytest.approx(0.553, abs=5e-4)
    assert meta["tied"].value == ["umap/kmeans k=5 (0.553)", "umap/agglomerative k=6 (0.544)"]
    assert meta["margin"].value == pytest.approx(0.0387, abs=1e-4)
    assert meta["stability_ari"].value > 0.99
    assert meta["rule"].value.startswith("the fewest segments among")
    assert meta["usual_gap_days"].value == 55.0
    names = set(segments["segment_name"].map(base_name))
    assert names == {"Loyal", "Promising", "Newcomers", "At risk", "Lost"}
    assert segments.groupby("segment_name")["segment_id"].nunique().eq(1).all()  # no two alike
    by_name = segments.groupby("segment_name")
    assert (by_name["recency"].median()[["At risk", "Lost"]] > 55).all()
    assert (by_name["recency"].median()[["Loyal", "Promising", "Newcomers"]] <= 55).all()
    assert {"Loyal", "Lost"} <= names


def test_segment_profiles_and_plots(bundled_run):
    folder, metadata = bundled_run
    profiles = pd.read_parquet(folder / "warehouse" / "segment_profiles.parquet")
    segments = pd.read_parquet(folder / "warehouse" / "customer_segments.parquet")
    assert profiles["customers"].sum() == 4_334
    assert set(profiles["segment_name"]) == set(segments["segment_name"])
    assert profiles["strategy"].str.len().min() > 20
    plots = ["segment_profiles_radar", "segment_profiles_snake"]
    plots += [
        f"{space}_{kind}" for space in ("pca", "umap", "tsne") for kind in ("silhouette", "scatter")
    ]
    for plot in plots:
        stable = folder / "warehouse" / "plots" / f"{plot}.png"
        assert 5_000 < stable.stat().st_size < 150_000, plot
        week = folder / "warehouse" / "plots" / plot / "2011-12-05.png"
        assert week.read_bytes() == stable.read_bytes(), plot
    every = metadata["segment_profiles"]["every_solution"].records
    assert {r.data["embedding"] for r in every} == {"pca", "umap", "tsne"}


def test_segment_classifier_reaches_the_studys_accuracy(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["segment_classifier"]
    assert meta["test_accuracy"].value >= 0.98
    assert meta["test_macro_f1"].value >= 0.97
    assert meta["test_customers"].value == 867
    card = json.loads((folder / "warehouse" / "segment_classifier.json").read_text())
    assert card["features"] == ["recency", "frequency", "monetary"]
    assert card["as_of"] == "2011-12-10"
    assert card["cleaning_rules"]["cancellation_prefix"] == "C"
    assert card["customers"] == {"trained": 3_467, "tested": 867}
    assert len(card["classes"]) == metadata["customer_segments"]["k"].value
    assert (folder / "warehouse" / "segment_classifier.skops").stat().st_size > 10_000


def customers_around(folder, cutoff: str) -> tuple[set, set, set]:
    """From the clean table, independently: customers who bought before the cut-off, those
    whose first purchase is on or after it, and those who bought on or after it."""
    clean = pd.read_parquet(folder / "warehouse" / "clean_transactions.parquet")
    before = clean["invoice_date"] < pd.Timestamp(cutoff)
    first = clean.groupby("customer_id")["invoice_date"].min()
    later = set(clean.loc[~before, "customer_id"])
    return set(clean.loc[before, "customer_id"]), set(first[first >= cutoff].index), later


def test_new_customers_are_segmented_like_the_clustering_would(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["new_customer_evaluation"]
    fitted, new, _ = customers_around(folder, "2011-10-01")
    assert meta["fitted_customers"].value == len(fitted) == 3_613
    assert meta["new_customers"].value == len(new) == 721
    assert meta["agreement"].value >= 0.95
    assert meta["macro_f1"].value >= 0.9


def test_predict_segments_another_period_given_only_a_column_map(bundled_run, tmp_path, capsys):
    folder, _ = bundled_run
    source = pd.read_parquet(BUNDLED_INPUT)
    autumn = source[source["InvoiceDate"] >= "2011-10-01"].rename(
        columns={"InvoiceNo": "Beleg", "CustomerID": "Kunde", "UnitPrice": "Preis"}
    )
    path = tmp_path / "autumn.csv"
    autumn.to_csv(path, index=False)
    out = tmp_path / "segments.parquet"
    args = [
        "predict",
        "--transactions",
        str(path),
        "--out",
        str(out),
        "--warehouse",
        str(folder / "warehouse"),
    ]
    for pair in ("Beleg=invoice_no", "Kunde=customer_id", "Preis=unit_price"):
        args += ["--map", pair]
    assert main(args) == 0
    scored = pd.read_parquet(out)
    customers = autumn["Kunde"].dropna().nunique()
    assert len(scored) == customers == scored["customer_id"].nunique()
    named = scored["segment_name"].notna()
    assert (named | scored["reason"].notna()).all()
    assert named.sum() > 0.95 * len(scored)
    assert scored.loc[named, "probability"].between(0, 1).all()
    assert "scored" in capsys.readouterr().out


def test_score_new_customers_job_runs_in_dagster(bundled_run, tmp_path, monkeypatch):
    folder, _ = bundled_run
    monkeypatch.setenv("RFM_PIPELINE_WAREHOUSE", str(folder / "warehouse"))
    sample = pd.read_parquet(BUNDLED_INPUT).head(2_000)
    sample.to_parquet(tmp_path / "sample.parquet")
    out = tmp_path / "scored.csv"
    config = {"path": str(tmp_path / "sample.parquet"), "out": str(out)}
    result = defs.resolve_job_def("score_new_customers").execute_in_process(
        run_config={"ops": {"score_transactions": {"config": config}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    scored = pd.read_csv(out, dtype={"customer_id": str})
    assert len(scored) == sample["CustomerID"].dropna().nunique()


def test_eda_answers_the_studys_questions(bundled_run):
    folder, metadata = bundled_run
    answers = pd.read_parquet(folder / "warehouse" / "eda_report.parquet")
    answer = answers.set_index("question")["answer"]
    assert answer["How big is the log?"] == "541,909 lines x 8 columns"
    assert answer["What period?"] == "2010-12-01 to 2011-12-09"
    assert answer["How many values are missing?"].startswith("136,534 (")
    assert "customer_id 135,080" in answer["How many values are missing?"]
    assert answer["How many customers?"] == "4,372 distinct customer ids"
    assert answer["How many countries?"] == "37 besides unspecified"
    assert answer["Which product is sold most often?"].startswith("85123A")
    assert answer["What share of orders are cancellations?"].startswith("16% (3,654 of 22,190")
    assert answer["Where are most customers?"] == "United Kingdom"
    assert answer["Top three countries by orders"] == "United Kingdom, Germany, France"
    assert answer["Top three countries by revenue"] == "United Kingdom, Netherlands, EIRE"
    assert answer["Which month has the most revenue?"].startswith("November 2011")
    assert answer["On which weekdays are there no orders?"] == "Saturday"
    assert answer["When are most orders placed?"].startswith("between 10:00 and 16:00")
    assert answer["At which hours are there no orders?"] == "21:00-6:00"
    assert answer["Mean line value (total_price)?"] == "21.13"
    assert "November" in metadata["eda_report"]["hypotheses"].value
    for plot in ("revenue_by_month", "orders_by_weekday", "orders_by_hour", "order_values"):
        size = (folder / "warehouse" / "plots" / f"eda_{plot}.png").stat().st_size
        assert 5_000 < size < 150_000, plot


def test_segment_report_is_one_self_contained_page(bundled_run):
    folder, metadata = bundled_run
    path = folder / "warehouse" / "segment_report.html"
    assert metadata["segment_report"]["path"].value == str(path)
    html = path.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert html.count('src="data:image/png;base64,') == metadata["segment_report"]["images"].value
    assert metadata["segment_report"]["images"].value >= 5
    segments = pd.read_parquet(folder / "warehouse" / "customer_segments.parquet")
    for name in segments["segment_name"].unique():
        assert f"<h3>{name}</h3>" in html
    for section in (
        "Cleaning",
        "The data at a glance",
        "Rule-based RFM segments beside",
        "How the segmentation was chosen",
        "Segments for new customers",
        "Interest groups",
    ):
        assert section in html, section
    assert "of the 721" in html


def test_product_categories_follow_the_reference(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["product_categories"]
    assert meta["dagster/row_count"].value == 3_659
    assert meta["keywords_kept"].value == 236
    assert meta["keyword_candidates"].value == 1_591
    assert meta["k"].value == 5
    assert meta["silhouette"].value == pytest.approx(0.15, abs=0.005)
    table = pd.read_parquet(folder / "warehouse" / "product_categories.parquet")
    assert table["stock_code"].is_unique
    assert table.groupby("category_id")["category_name"].nunique().max() == 1
    assert table["category_name"].str.contains(" / ").all()


def test_customer_interest_groups(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["customer_interests"]
    assert meta["k"].value == 11
    assert meta["silhouette"].value == pytest.approx(0.215, abs=0.01)
    table = pd.read_parquet(folder / "warehouse" / "customer_interests.parquet")
    assert len(table) == table["customer_id"].nunique() == 4_334
    assert table["group_name"].str.contains(" buyers, ").all()
    shares = table[[c for c in table.columns if c.startswith("share_")]]
    assert shares.sum(axis=1).round(6).eq(1).mean() > 0.99


def test_interest_classifier_beats_the_reference_on_the_later_period(bundled_run):
    folder, metadata = bundled_run
    meta = metadata["interest_classifier"]
    assert meta["later_accuracy"].value >= 0.80
    assert meta["soft_voting_later_accuracy"].value >= 0.80
    fitted, _, later = customers_around(folder, "2011-10-01")
    assert meta["fitted_customers"].value == len(fitted)
    assert meta["later_customers"].value == len(later)
    models = {r.data["model"]: r.data for r in meta["models"].records}
    assert set(models) == {
        "logistic_regression",
        "k_nearest_neighbours",
        "random_forest",
        "gradient_boosting",
        "soft_voting",
    }
    card = json.loads((folder / "warehouse" / "interest_classifier.json").read_text())
    assert card["cutoff"] == "2011-10-01"
    assert (folder / "warehouse" / "interest_classifier.skops").exists()
