"""What leaves the pipeline: the segment report (one self-contained HTML file, images embedded,
nothing external) and the segment export for a CRM or e-mail tool."""

from __future__ import annotations

import base64
import numbers
from dataclasses import dataclass, field

import jinja2
import pandas as pd

from rfm_pipeline.core.eda import eda_figures
from rfm_pipeline.core.plots import png_bytes
from rfm_pipeline.core.rfm import RFM_COLUMNS, SEGMENTS
from rfm_pipeline.core.segments import COMPARISON_COLUMNS, RULE, RULED_NAMES, profile_figures
from rfm_pipeline.core.spaces import SPACE_NAMES
from rfm_pipeline.core.value import value_columns


@dataclass
class ReportInputs:
    """What the report shows; `None` leaves a section out."""

    segments: pd.DataFrame  # segment_profiles: name, strategy, sizes, shares, means, medians
    generated: str
    summary: pd.DataFrame | None = None  # `at_a_glance`: the first screen, for the marketing team
    forecast: dict | None = None  # customer_value's model, horizon and backtest figures
    period: str = ""
    as_of: str | None = None
    chosen: str | None = None  # "UMAP embedding, kmeans, k = 7"
    funnel: pd.DataFrame | None = None
    answers: pd.DataFrame | None = None
    hypotheses: list[str] = field(default_factory=list)
    overlap: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    rule: str = ""
    chosen_scatter: str = ""  # image name of the chosen embedding's scatter plot
    classifier: dict | None = None  # model, accuracy, macro_f1, customers
    evaluation: dict | None = None  # cutoff, agreement, macro_f1, new_customers
    interests: pd.DataFrame | None = None  # interest group, customers
    images: dict[str, bytes] = field(default_factory=dict)  # name -> PNG


def _number(value: object) -> str:
    """Numbers for people: thousands separated, decimals only where they say something."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        if value != value:
            return "n/a"
        if float(value).is_integer() or abs(value) >= 1e6:
            return f"{value:,.0f}"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def overlap(rule_based: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """Customers per (rule-based segment, cluster): rows in the grid's order, columns by id."""
    joined = rule_based[["customer_id", "segment"]].merge(
        clusters[["customer_id", "segment_id", "segment_name"]]
    )
    columns = clusters.drop_duplicates("segment_id").sort_values("segment_id")["segment_name"]
    table = pd.crosstab(joined["segment"], joined["segment_name"])
    rows = [s for s in SEGMENTS if s in table.index]
    table = table.reindex(index=rows, columns=list(columns), fill_value=0)
    return table.rename_axis(index=None, columns=None).reset_index(names="RFM segment")


def interest_sizes(interests: pd.DataFrame) -> pd.DataFrame | None:
    """Customers per interest group, largest first; None without interest groups."""
    if interests.empty:
        return None
    sizes = interests.groupby("group_name").size().rename("customers").reset_index()
    return sizes.sort_values("customers", ascending=False, kind="stable", ignore_index=True)


def at_a_glance(profiles: pd.DataFrame, moves: pd.DataFrame) -> pd.DataFrame:
    """Per segment, largest expected spend first: customers, revenue share, expected revenue
    over the forecast's horizon, share likely to buy, the week's change in customers (this
    week's minus last week's; empty in a week compared with none) and the strategy."""
    spend = next((c for c in profiles.columns if c.startswith("expected_spend_")), None)
    ids = profiles["segment_id"]
    now = ids.map(moves.groupby("segment_id").size()).fillna(0)
    before = ids.map(moves.groupby("previous_segment_id").size()).fillna(0)
    change = (now - before).astype("float64")
    if moves["previous_segment_id"].isna().all():
        change[:] = float("nan")
    table = pd.DataFrame(
        {
            "segment": profiles["segment_name"],
            "customers": profiles["customers"],
            "revenue share": profiles["revenue_share"],
            "expected revenue": profiles[spend] if spend else float("nan"),
            "likely to buy": profiles.get("likely_active_share", float("nan")),
            "change this week": change,
            "strategy": profiles["strategy"],
        }
    )
    order = table["expected revenue"].fillna(table["revenue share"])
    return table.iloc[order.argsort(kind="stable")[::-1]].reset_index(drop=True)


def _for_people(glance: pd.DataFrame) -> pd.DataFrame:
    """Shares as percentages and money in whole units, as the first screen shows them."""

    def percent(share: float) -> str:
        return "" if share != share else f"{share:.1%}"

    return glance.assign(
        **{c: glance[c].map(percent) for c in ("revenue share", "likely to buy")},
        **{"expected revenue": glance["expected revenue"].round(0)},
    )


FORECAST_COLUMNS = ["cutoff", "model", "customers", "buyers", "auc", "r2", "mae", "total_error"]


def _scored(backtest: pd.DataFrame) -> pd.DataFrame | None:
    """The forecast's backtest as the report shows it; None where no cut-off had the history to
    be scored (a log of a few months)."""
    return backtest[FORECAST_COLUMNS] if set(FORECAST_COLUMNS) <= set(backtest.columns) else None


def _forecast(card: dict) -> dict:
    """The forecast's part of the report, from the card `customer_value` carries: the model,
    its backtest, the weights the backtest chose for the learned layer, and whether BG/NBD's
    probability alive is exported."""
    choice = card.get("choice") or {}
    return {
        "model": card["model"],
        "backtest": _scored(pd.DataFrame(card["backtest"]).round(4)),
        "weights": (choice.get("buyer_weight"), choice.get("spend_weight")),
        "p_alive": card.get("p_alive_bgnbd", ""),
    }


def _chosen(chosen: pd.Series) -> str:
    """The segmentation behind the segments, in words."""
    if chosen["embedding"] in RULED_NAMES:
        return f"{RULED_NAMES[chosen['embedding']]}, k = {chosen['k']}"
    space = SPACE_NAMES[chosen["embedding"]]
    return f"the {space} embedding, {chosen['algorithm']}, k = {chosen['k']}"


@dataclass
class Sources:
    """What the report shows besides the week's tables: what its sources carry with them."""

    raw: dict  # raw_summary: the log's first and last invoice dates
    cleaning: dict  # cleaning_summary: the funnel
    as_of: str
    classifier: dict  # segment_classifier's card
    evaluation: dict  # new_customer_evaluation's summary
    forecast: dict | None  # customer_value's card; None without a forecast


def report_inputs(
    week: str,
    profiles: pd.DataFrame,
    segmented: pd.DataFrame,
    moves: pd.DataFrame,
    rfm_scores: pd.DataFrame,
    answers: pd.DataFrame,
    interests: pd.DataFrame,
    sources: Sources,
    images: dict[str, bytes],
) -> ReportInputs:
    """What the report of a week shows, from its tables and what they carry (`attrs`)."""
    choice = segmented.attrs.get("choice", {})
    chosen = segmented.iloc[0]
    funnel = pd.DataFrame(sources.cleaning["funnel"])
    comparison = pd.DataFrame(choice["comparison"]) if choice.get("comparison") else None
    test = sources.classifier["metrics"]["test"]
    evaluation = sources.evaluation
    raw = sources.raw
    return ReportInputs(
        segments=profiles,
        generated=f"for the week of {week}",
        summary=_for_people(at_a_glance(profiles, moves)),
        forecast=_forecast(sources.forecast) if sources.forecast else None,
        period=f"{raw['first_invoice_date'][:10]} to {raw['last_invoice_date'][:10]}",
        as_of=sources.as_of,
        chosen=_chosen(chosen),
        funnel=funnel[["step", "rows_removed", "rows_after"]],
        answers=answers[["question", "answer"]] if len(answers) else None,
        hypotheses=list(answers.attrs.get("hypotheses", [])),
        overlap=overlap(rfm_scores, segmented),
        comparison=None if comparison is None else comparison.reindex(columns=COMPARISON_COLUMNS),
        rule=f"Chosen by the {choice.get('rule', RULE)}.",
        chosen_scatter=f"{chosen['embedding']}_scatter",
        classifier={
            "model": sources.classifier["model"].replace("_", " "),
            "accuracy": test["accuracy"],
            "macro_f1": test["macro_f1"],
            "customers": test["customers"],
        },
        evaluation={k: evaluation[k] for k in ("cutoff", "agreement", "macro_f1", "new_customers")}
        if evaluation.get("note") == "evaluated"
        else None,
        interests=interest_sizes(interests),
        images=images,
    )


REPORTED_TRENDS = ("revenue_by_month", "orders_by_weekday", "orders_by_hour")
"""The exploration's plots the report shows, drawn from the tables `eda_report` carries."""


def report_images(
    trends: dict[str, list[dict]],
    profiles: pd.DataFrame,
    segmented: pd.DataFrame,
    spaces: dict[str, pd.DataFrame],
) -> dict[str, bytes]:
    """The report's plots as PNG: the exploration's trends over time (`REPORTED_TRENDS`, as
    records), the segments' radar chart and snake plot, and the customers in the chosen
    embedding (where the segments come from one)."""
    figures = eda_figures({name: pd.DataFrame(records) for name, records in trends.items()})
    figures = {f"eda_{name}": figure for name, figure in figures.items()}
    chosen = segmented["embedding"].iloc[0]
    points = {chosen: spaces[chosen]} if chosen in spaces else {}
    figures |= profile_figures(profiles, segmented, points)
    return {name: png_bytes(figure) for name, figure in figures.items()}


def render(inputs: ReportInputs) -> str:
    """The report as an HTML string."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("rfm_pipeline.core", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = _number
    template = environment.get_template("segment_report.html.j2")
    segments = inputs.segments.sort_values("segment_id")
    return template.render(
        **{k: v for k, v in vars(inputs).items() if k not in ("images", "segments")},
        segments=list(segments.itertuples(index=False)),
        customers=int(segments["customers"].sum()),
        expected_spend=next((c for c in segments.columns if c.startswith("expected_spend_")), ""),
        images={k: base64.b64encode(v).decode("ascii") for k, v in inputs.images.items()},
    )


EXPORT_COLUMNS = {
    "customer_id": "str",
    "segment_id": "int64",
    "segment_name": "str",
    "strategy": "str",
    "rfm_segment": "str",
    "interest_group": "str",
    "recency": "int64",
    "frequency": "int64",
    "monetary": "float64",
    "previous_segment_name": "str",
    "changed_since_last_week": "bool",
}
"""The export's columns and types; `interest_group` and `previous_segment_name` may be empty.
Then the forecast's: `p_active`, `expected_spend_90d` and `clv_12m` (as configured)."""


def segment_export(
    segments: pd.DataFrame,
    scores: pd.DataFrame,
    interests: pd.DataFrame,
    moves: pd.DataFrame,
    value: pd.DataFrame,
) -> pd.DataFrame:
    """This week's customers with segment, strategy, rule-based segment, interest group, RFM
    values, last week's segment name (empty when new), whether the segment changed (new
    customers count as changed), and the forecast: probability of buying within the horizon,
    expected spend in it and discounted value.
    """
    rule = scores[["customer_id", "segment"]].rename(columns={"segment": "rfm_segment"})
    groups = interests[["customer_id", "group_name"]].rename(
        columns={"group_name": "interest_group"}
    )
    change = moves[moves["movement"] != "gone"][
        ["customer_id", "previous_segment_name", "movement"]
    ]
    table = (
        segments[["customer_id", "segment_id", "segment_name", "strategy", *RFM_COLUMNS]]
        .merge(rule, on="customer_id", how="left")
        .merge(groups, on="customer_id", how="left")
        .merge(change, on="customer_id", how="left")
        .merge(value[["customer_id", *value_columns(value)]], on="customer_id", how="left")
    )
    table["previous_segment_name"] = table["previous_segment_name"].where(
        table["movement"] != "new"
    )
    table["changed_since_last_week"] = table["movement"] != "same"
    columns = {**EXPORT_COLUMNS, **dict.fromkeys(value_columns(value), "float64")}
    return table[list(columns)].astype(columns).sort_values("customer_id", ignore_index=True)
