"""The segment report and the segment export."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd

from rfm_pipeline.core.delivery import (
    EXPORT_COLUMNS,
    FORECAST_COLUMNS,
    ReportInputs,
    _scored,
    at_a_glance,
    overlap,
    render,
    segment_export,
)
from rfm_pipeline.core.plots import bar_chart, png_bytes
from rfm_pipeline.core.transitions import transitions
from rfm_pipeline_tests.core.test_naming import LOST, LOYAL, week_of_segments


class Page(HTMLParser):
    """Collects tags, attributes, headings and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def profiles() -> pd.DataFrame:
    rows = []
    for i, name in enumerate(["Lost", "Promising", "Loyal"]):
        rows.append(
            {
                "segment_id": i,
                "segment_name": name,
                "strategy": f"do {name.lower()} things",
                "customers": 10 * (i + 1),
                "outliers": 0,
                "customer_share": (i + 1) / 6,
                "revenue_share": (i + 1) / 6,
                "recency_mean": 100.0 - 30 * i,
                "recency_median": 90.0,
                "frequency_mean": 1.0 + i,
                "frequency_median": 1.0,
                "monetary_mean": 100.0 * (i + 1),
                "monetary_median": 90.5,
            }
        )
    return pd.DataFrame(rows)


def test_only_the_segments_when_nothing_else_exists():
    html = render(ReportInputs(segments=profiles(), generated="2011-12-10 06:00 UTC"))
    page = parse(html)
    text = " ".join(page.text)
    for name in ("Lost", "Promising", "Loyal"):
        assert name in text
    assert "do promising things" in text
    headings = [t for t, _ in page.tags if t == "h2"]
    assert len(headings) == 1  # Segments only: no cleaning, data, choice or classifier section
    assert "Cleaning" not in text and "How the segmentation was chosen" not in text


def test_every_section_with_embedded_images_and_nothing_external():
    funnel = pd.DataFrame({"step": ["raw", "drop x"], "rows_removed": [0, 1], "rows_after": [3, 2]})
    images = {
        "segment_profiles_radar": png_bytes(bar_chart(["a"], [1], "t", "x")),
        "umap_scatter": png_bytes(bar_chart(["b"], [2], "t", "x")),
    }
    html = render(
        ReportInputs(
            segments=profiles(),
            generated="2011-12-10 06:00 UTC",
            period="2010-12-01 to 2011-12-09",
            as_of="2011-12-10",
            chosen="the UMAP embedding, kmeans, k = 3",
            funnel=funnel,
            answers=pd.DataFrame({"question": ["What period?"], "answer": ["a year"]}),
            hypotheses=["Sales peak in November."],
            overlap=pd.DataFrame({"RFM segment": ["Champions"], "Loyal": [3]}),
            comparison=pd.DataFrame(
                {"embedding": ["umap"], "silhouette": [0.55], "eligible": [True]}
            ),
            rule="Chosen by silhouette.",
            chosen_scatter="umap_scatter",
            summary=pd.DataFrame({"segment": ["Big spenders"], "expected revenue": [1234.5]}),
            forecast={
                "model": "BG/NBD",
                "backtest": pd.DataFrame({"cutoff": ["2011-09-01"], "auc": [0.742]}),
                "weights": (0.5, 0.75),
                "p_alive": "withheld: its dropout parameter is at its bound",
            },
            classifier={
                "model": "random forest",
                "accuracy": 0.99,
                "macro_f1": 0.98,
                "customers": 867,
            },
            evaluation={
                "cutoff": "2011-10-01",
                "agreement": 0.997,
                "macro_f1": 0.995,
                "new_customers": 721,
            },
            images=images,
        )
    )
    page = parse(html)
    text = " ".join(page.text)
    sources = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert len(sources) == 2
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe")]
    assert "http://" not in html and "https://" not in html
    for expected in (
        "Cleaning",
        "drop x",
        "Sales peak in November.",
        "Champions",
        "Chosen by silhouette.",
        "99.7% of the 721",
        "0.550",
        "yes",
        "Big spenders",
        "1,234.50",
        "BG/NBD",
        "0.742",
        "weighs 0.5 in the probability of buying",
        "0.75 in the correction",
        "alive: withheld: its dropout parameter is at its bound",
    ):
        assert expected in text, expected
    assert text.index("At a glance") < text.index("Cleaning")  # the first screen


def test_a_classifier_too_few_customers_could_test_says_so_without_figures():
    majority = {
        "model": "majority",
        "accuracy": float("nan"),
        "macro_f1": float("nan"),
        "customers": 0,
    }
    html = render(ReportInputs(segments=profiles(), generated="week", classifier=majority))
    text = " ".join(parse(html).text)
    assert "Segments for new customers" in text
    assert "Too few customers in the smallest segment to train and test a classifier" in text
    assert "nan" not in text and "held-out" not in text


def test_a_forecast_no_cut_off_could_test_is_shown_as_untested():
    untested = {"model": "BG/NBD + Gamma-Gamma", "backtest": _scored(pd.DataFrame())}
    html = render(ReportInputs(segments=profiles(), generated="week", forecast=untested))
    assert "the forecast is untested" in html and "<td>nan" not in html
    scored = _scored(pd.DataFrame([dict.fromkeys(FORECAST_COLUMNS, 1)]).assign(extra=2))
    assert list(scored.columns) == FORECAST_COLUMNS


def test_at_a_glance_orders_segments_by_expected_revenue_with_the_weeks_change():
    last_week = week_of_segments({0: ("Loyal", LOYAL), 1: ("Lost", LOST)})
    this_week = last_week.copy()
    this_week.loc[0, ["segment_id", "segment_name"]] = [1, "Lost"]  # one Loyal customer lost
    moves = transitions(last_week, this_week)
    table = profiles().assign(expected_spend_90d=[10.0, 500.0, 50.0], likely_active_share=0.4)
    glance = at_a_glance(table, moves)  # segment ids 0, 1, 2: Lost, Promising, Loyal
    assert glance.columns.tolist() == [
        "segment",
        "customers",
        "revenue share",
        "expected revenue",
        "likely to buy",
        "change this week",
        "strategy",
    ]
    assert glance["segment"].tolist() == ["Promising", "Loyal", "Lost"]
    assert glance["change this week"].tolist() == [1.0, 0.0, -1.0]
    assert at_a_glance(table, transitions(None, this_week))["change this week"].isna().all()


def test_overlap_counts_customers_per_rule_based_segment_and_cluster():
    rule_based = pd.DataFrame(
        {"customer_id": ["1", "2", "3"], "segment": ["Lost", "Champions", "Champions"]}
    )
    clusters = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3"],
            "segment_id": [0, 1, 1],
            "segment_name": ["Gone", "Best", "Best"],
        }
    )
    table = overlap(rule_based, clusters)
    assert table.columns.tolist() == ["RFM segment", "Gone", "Best"]
    assert table.values.tolist() == [["Champions", 0, 2], ["Lost", 1, 0]]


def test_export_has_the_documented_columns_and_types():
    last_week = week_of_segments({0: ("Loyal", LOYAL), 1: ("Lost", LOST)})
    this_week = last_week.copy()
    this_week.loc[0, ["segment_id", "segment_name"]] = [1, "Lost"]
    newcomer = week_of_segments({1: ("Lost", [(20, 1, 50.0)])}, start=100)
    this_week = pd.concat([this_week, newcomer], ignore_index=True)
    scores = this_week[["customer_id"]].assign(segment="Champions")
    interests = pd.DataFrame({"customer_id": ["c001"], "group_name": ["lantern buyers"]})
    forecast = (
        this_week[["customer_id"]]
        .assign(p_active=0.5, expected_purchases_90d=1.0, expected_spend_90d=100.0, clv_12m=300.0)
        .iloc[1:]
    )  # c000 has no forecast
    table = segment_export(
        this_week, scores, interests, transitions(last_week, this_week), forecast
    )
    value = ["p_active", "expected_spend_90d", "clv_12m"]
    assert table.columns.tolist() == [*EXPORT_COLUMNS, *value]
    assert {c: str(t) for c, t in table.dtypes.items()} == {
        **EXPORT_COLUMNS,
        **dict.fromkeys(value, "float64"),
    }
    assert table.set_index("customer_id").loc["c001", value].tolist() == [0.5, 100.0, 300.0]
    assert table.set_index("customer_id").loc["c000", value].isna().all()
    rows = table.set_index("customer_id")
    assert rows.loc["c000", "previous_segment_name"] == "Loyal"
    assert rows.loc["c000", "changed_since_last_week"]
    assert not rows.loc["c001", "changed_since_last_week"]
    assert rows.loc["c001", "interest_group"] == "lantern buyers"
    assert pd.isna(rows.loc["c002", "interest_group"])  # where available
    assert pd.isna(rows.loc["c100", "previous_segment_name"])  # new this week
    assert rows.loc["c100", "changed_since_last_week"]
    assert len(table) == len(this_week)
