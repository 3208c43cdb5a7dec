"""The study's exploratory questions, answered from the data on the engine (study part 3).

Every answer is computed: the same code on another shop's log gives that shop's answers. The
tables are small aggregates (months, weekdays, hours, countries, products), so they come back as
pandas frames for plots and text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd
from matplotlib.figure import Figure

from rfm_pipeline.core.engine import exact_mean, exact_sum, most_common
from rfm_pipeline.core.ingest import summarise
from rfm_pipeline.core.plots import bar_chart, column_chart, histogram

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SOURCE_COLUMNS = ("invoice_no", "stock_code", "description", "quantity", "invoice_date",
                  "unit_price", "customer_id", "country")  # fmt: skip
UNSPECIFIED_COUNTRIES = ("Unspecified",)


@dataclass
class Exploration:
    """Question-and-answer pairs, the tables behind them, and hypotheses drawn from them."""

    answers: pd.DataFrame  # topic, question, answer
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    hypotheses: list[str] = field(default_factory=list)


def explore(raw: ir.Table, clean: ir.Table, cancellation_prefix: str = "C") -> Exploration:
    """Answer the study's questions on the raw and the clean transactions."""
    overview = data_overview(raw)
    tables = {
        "missing_values": overview["missing"],
        "revenue_by_month": revenue_by_month(clean),
        "orders_by_weekday": orders_by_weekday(clean),
        "orders_by_hour": orders_by_hour(clean),
        "countries": countries(clean),
        "order_values": order_values(clean),
        "top_products": top_products(clean),
    }
    cancelled = cancellations(raw, cancellation_prefix)
    rows: list[tuple[str, str, str]] = []

    def add(topic: str, question: str, answer: str) -> None:
        rows.append((topic, question, answer))

    add(
        "data", "How big is the log?", f"{overview['rows']:,} lines x {overview['columns']} columns"
    )
    add("data", "Which types?", overview["types"])
    add("data", "What period?", f"{overview['first']:%Y-%m-%d} to {overview['last']:%Y-%m-%d}")
    missing = tables["missing_values"]
    gaps = ", ".join(
        f"{r.column} {r.missing:,}" for r in missing[missing["missing"] > 0].itertuples()
    )
    add(
        "data",
        "How many values are missing?",
        f"{int(missing['missing'].sum()):,} ({gaps or 'none'})",
    )
    add("data", "How many customers?", f"{overview['customers']:,} distinct customer ids")
    add("data", "How many countries?", f"{overview['countries']:,} besides unspecified")
    add("data", "Which product is sold most often?",
        f"{overview['top_stock_code']} ({overview['top_description']}), on "
        f"{overview['top_lines']:,} lines")  # fmt: skip
    add("cancellations", "What share of orders are cancellations?",
        f"{cancelled['share']:.0%} ({cancelled['cancelled']:,} of {cancelled['orders']:,} orders"
        " of identified customers)")  # fmt: skip
    add("cancellations", "How many items were cancelled?", f"{cancelled['items']:,}")
    by_country = tables["countries"]
    add("countries", "Where are most customers?",
        f"{by_country.sort_values('customers', ascending=False).iloc[0]['country']}")  # fmt: skip
    add(
        "countries",
        "Top three countries by orders",
        ", ".join(by_country.sort_values("orders", ascending=False)["country"].head(3)),
    )
    add(
        "countries",
        "Top three countries by revenue",
        ", ".join(by_country.sort_values("revenue", ascending=False)["country"].head(3)),
    )
    months = tables["revenue_by_month"]
    best_month = months.loc[months["revenue"].idxmax()]
    add("time", "Which month has the most revenue?",
        f"{best_month['month']:%B %Y} ({best_month['revenue']:,.0f})")  # fmt: skip
    weekdays = tables["orders_by_weekday"]
    closed = [d for d in WEEKDAYS if weekdays.loc[weekdays["weekday"] == d, "orders"].sum() == 0]
    add("time", "On which weekdays are there no orders?", ", ".join(closed) or "none")
    hours = tables["orders_by_hour"]
    busiest = hours.sort_values("orders", ascending=False).head(6)["hour"].sort_values()
    add(
        "time",
        "When are most orders placed?",
        f"between {busiest.min()}:00 and {busiest.max() + 1}:00 ({_share(hours, busiest):.0%})",
    )
    silent = sorted(set(range(24)) - set(hours.loc[hours["orders"] > 0, "hour"]))
    add("time", "At which hours are there no orders?", _hour_ranges(silent) or "none")
    value = exact_mean(clean.total_price).execute()
    add("money", "Mean line value (total_price)?", f"{value:,.2f}")
    baskets = tables["order_values"]
    add("money", "Order values?",
        f"median {baskets['value'].median():,.2f}, mean {baskets['value'].mean():,.2f}, "
        f"largest {baskets['value'].max():,.2f}")  # fmt: skip
    top = tables["top_products"].iloc[0]
    add("money", "Which product brings the most revenue?",
        f"{top['stock_code']} ({top['description']}), {top['revenue']:,.0f}")  # fmt: skip
    answers = pd.DataFrame(rows, columns=["topic", "question", "answer"])
    return Exploration(answers, tables, hypotheses(tables))


def data_overview(raw: ir.Table) -> dict:
    """The log's summary (size, period, customers, nulls), types, countries and the product on
    most lines."""
    summary = summarise(raw)
    columns = [c for c in SOURCE_COLUMNS if c in raw.columns]
    countries = raw.country.nunique(where=~raw.country.isin(UNSPECIFIED_COUNTRIES)).execute()
    products = raw.group_by("stock_code").aggregate(lines=raw.count())
    products = products.left_join(most_common(raw, "stock_code", "description"), "stock_code")
    top = products.order_by([ibis.desc("lines"), "stock_code"]).limit(1).execute().iloc[0]
    return {
        "rows": summary["rows"],
        "columns": len(columns),
        "types": ", ".join(f"{c} {_type_name(raw, c)}" for c in columns),
        "first": pd.Timestamp(summary["first_invoice_date"]),
        "last": pd.Timestamp(summary["last_invoice_date"]),
        "customers": summary["customers"],
        "countries": int(countries),
        "missing": pd.DataFrame(
            {"column": columns, "missing": [summary["nulls"][c] for c in columns]}
        ),
        "top_stock_code": top["stock_code"],
        "top_description": top["description"],
        "top_lines": int(top["lines"]),
    }


def cancellations(raw: ir.Table, prefix: str) -> dict:
    """Orders and cancelled orders among identified customers (duplicates do not matter here)."""
    known = raw.filter(raw.customer_id.notnull())
    is_cancel = known.invoice_no.startswith(prefix)
    row = (
        known.aggregate(
            orders=known.invoice_no.nunique(),
            cancelled=known.invoice_no.nunique(where=is_cancel),
            items=(-known.quantity).sum(where=is_cancel),
        )
        .execute()
        .iloc[0]
    )
    orders, cancelled = int(row["orders"]), int(row["cancelled"] or 0)
    return {"orders": orders, "cancelled": cancelled, "items": int(row["items"] or 0),
            "share": cancelled / orders if orders else 0.0}  # fmt: skip


def revenue_by_month(clean: ir.Table) -> pd.DataFrame:
    month = clean.invoice_date.truncate("M").name("month")
    frame = clean.group_by(month).aggregate(revenue=exact_sum(clean.total_price)).execute()
    return frame.sort_values("month", ignore_index=True)


def orders_by_weekday(clean: ir.Table) -> pd.DataFrame:
    day = clean.invoice_date.day_of_week.index().name("day")
    frame = clean.group_by(day).aggregate(orders=clean.invoice_no.nunique()).execute()
    frame = frame.set_index("day").reindex(range(7), fill_value=0).reset_index()
    frame["weekday"] = [WEEKDAYS[d] for d in frame["day"]]
    return frame[["weekday", "orders"]]


def orders_by_hour(clean: ir.Table) -> pd.DataFrame:
    hour = clean.invoice_date.hour().name("hour")
    frame = clean.group_by(hour).aggregate(orders=clean.invoice_no.nunique()).execute()
    return frame.set_index("hour").reindex(range(24), fill_value=0).reset_index()


def countries(clean: ir.Table) -> pd.DataFrame:
    frame = clean.group_by("country").aggregate(
        customers=clean.customer_id.nunique(),
        orders=clean.invoice_no.nunique(),
        revenue=exact_sum(clean.total_price),
    )
    return frame.order_by([ibis.desc("revenue"), "country"]).execute()


def order_values(clean: ir.Table) -> pd.DataFrame:
    """One row per order: its value (the basket)."""
    values = clean.group_by("invoice_no").aggregate(value=exact_sum(clean.total_price))
    return values.order_by("invoice_no").execute()


def top_products(clean: ir.Table, n: int = 10) -> pd.DataFrame:
    revenue = clean.group_by("stock_code").aggregate(revenue=exact_sum(clean.total_price))
    named = revenue.left_join(most_common(clean, "stock_code", "description"), "stock_code")
    frame = named.select("stock_code", "description", "revenue")
    return frame.order_by([ibis.desc("revenue"), "stock_code"]).limit(n).execute()


def hypotheses(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Short statements the figures suggest, each with the figure behind it."""
    found = []
    months = tables["revenue_by_month"]
    if len(months) >= 3:
        top = months.loc[months["revenue"].idxmax()]
        ratio = top["revenue"] / months["revenue"].median()
        found.append(f"Sales peak in {top['month']:%B}: its revenue is {ratio:.1f} times the"
                     " monthly median, consistent with pre-Christmas buying.")  # fmt: skip
    weekdays = tables["orders_by_weekday"]
    closed = weekdays.loc[weekdays["orders"] == 0, "weekday"].tolist()
    if closed:
        found.append(f"The shop takes no orders on {', '.join(closed)}: plan campaigns for the"
                     " days it trades.")  # fmt: skip
    hours = tables["orders_by_hour"]
    office = hours.loc[hours["hour"].between(9, 16), "orders"].sum() / max(hours["orders"].sum(), 1)
    found.append(f"{office:.0%} of orders fall between 9:00 and 17:00: buyers order in office"
                 " hours, as wholesalers would.")  # fmt: skip
    values = tables["order_values"]["value"]
    if len(values):
        mean, median = values.mean(), values.median()
        found.append(f"Order values are skewed: mean {mean:,.0f} against median {median:,.0f};"
                     " a few large orders carry much of the revenue.")  # fmt: skip
    by_country = tables["countries"]
    if len(by_country):
        share = by_country["revenue"].iloc[0] / by_country["revenue"].sum()
        found.append(f"{by_country['country'].iloc[0]} brings {share:.0%} of revenue: segments"
                     " are mostly about its customers.")  # fmt: skip
    return found


def _share(hours: pd.DataFrame, chosen: pd.Series) -> float:
    total = hours["orders"].sum()
    return hours.loc[hours["hour"].isin(chosen), "orders"].sum() / total if total else 0.0


def _hour_ranges(hours: list[int]) -> str:
    """[0, 1, 2, 21, 22, 23] -> "21:00-3:00" (ranges wrap around midnight)."""
    if not hours:
        return ""
    ranges, start, previous = [], hours[0], hours[0]
    for hour in hours[1:]:
        if hour != previous + 1:
            ranges.append((start, previous))
            start = hour
        previous = hour
    ranges.append((start, previous))
    if len(ranges) > 1 and ranges[0][0] == 0 and ranges[-1][1] == 23:
        ranges = [(ranges[-1][0], ranges[0][1]), *ranges[1:-1]]
    return ", ".join(f"{a}:00-{(b + 1) % 24}:00" for a, b in ranges)


def eda_figures(tables: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    """The exploration's plots: revenue by month, orders by weekday and hour, revenue by
    country (top 10), order values."""
    months, countries = tables["revenue_by_month"], tables["countries"].head(10)
    weekdays, hours = tables["orders_by_weekday"], tables["orders_by_hour"]
    return {
        "revenue_by_month": column_chart(
            [f"{m:%Y-%m}" for m in months["month"]], months["revenue"].tolist(),
            "Revenue by month", "revenue",
        ),
        "orders_by_weekday": column_chart(
            weekdays["weekday"].str[:3].tolist(), weekdays["orders"].tolist(),
            "Orders by weekday", "orders",
        ),
        "orders_by_hour": column_chart(
            [str(h) for h in hours["hour"]], hours["orders"].tolist(), "Orders by hour of day",
            "orders",
        ),
        "revenue_by_country": bar_chart(
            countries["country"].tolist(), countries["revenue"].tolist(),
            "Revenue by country (top 10)", "revenue",
        ),
        "order_values": histogram(
            tables["order_values"]["value"], "Order values", "order value"
        ),
    }  # fmt: skip


def _type_name(table: ir.Table, column: str) -> str:
    """A column's type without its precision (`timestamp`, never `timestamp(6)`), the same
    whichever engine read the file."""
    return re.sub(r"\(\d+\)", "", str(table.schema()[column]))
