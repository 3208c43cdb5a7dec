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
from rfm_pipeline.core.ingest import given_columns, summarise
from rfm_pipeline.core.plots import bar_chart, column_chart, histogram

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UNSPECIFIED_COUNTRIES = ("Unspecified",)
CANNOT = "cannot answer: "
"""How an answer the columns do not allow begins; the reason follows."""

LACKING = {
    "invoice_no": "no invoice numbers in the input",
    "stock_code": "no stock codes in the input",
    "quantity": "no quantities in the input, one amount per line",
    "country": "no country column in the input",
    "time": "the dates have no time of day",
}
"""What the input may lack -> why a question that needs it has no answer."""

QUESTIONS = (
    ("data", "How big is the log?", ()),
    ("data", "Which types?", ()),
    ("data", "What period?", ()),
    ("data", "How many values are missing?", ()),
    ("data", "How many customers?", ()),
    ("countries", "How many countries?", ("country",)),
    ("products", "Which product is sold most often?", ("stock_code",)),
    ("cancellations", "What share of orders are cancellations?", ("invoice_no",)),
    ("cancellations", "How many items were cancelled?", ("invoice_no", "quantity")),
    ("countries", "Where are most customers?", ("country",)),
    ("countries", "Top three countries by orders", ("country",)),
    ("countries", "Top three countries by revenue", ("country",)),
    ("time", "Which month has the most revenue?", ()),
    ("time", "On which weekdays are there no orders?", ()),
    ("hours", "When are most orders placed?", ("time",)),
    ("hours", "At which hours are there no orders?", ("time",)),
    ("money", "Mean line value (total_price)?", ()),
    ("money", "Order values?", ()),
    ("products", "Which product brings the most revenue?", ("stock_code",)),
)
"""The study's questions in the order asked: topic, question, what of `LACKING` it needs."""


@dataclass
class Exploration:
    """Question-and-answer pairs, the tables behind them, and hypotheses drawn from them;
    `unanswered`: per topic, why (some of) its questions have no answer."""

    answers: pd.DataFrame  # topic, question, answer
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    hypotheses: list[str] = field(default_factory=list)
    unanswered: dict[str, str] = field(default_factory=dict)


def explore(raw: ir.Table, clean: ir.Table, cancellation_prefix: str = "C") -> Exploration:
    """Answer the study's questions on the raw and the clean transactions. A question that
    needs what the input lacks (a log of customer, date and amount has no country, invoice
    number or product) says so instead, and its table and plot are left out."""
    given = given_columns(raw)
    lacking = {c for c in ("invoice_no", "stock_code", "country") if c not in given}
    lacking |= {"quantity"} if "amount" in given else set()
    lacking |= set() if has_time_of_day(raw) else {"time"}
    overview = data_overview(raw, given)
    tables = {
        "missing_values": overview["missing"],
        "revenue_by_month": revenue_by_month(clean),
        "orders_by_weekday": orders_by_weekday(clean),
        "order_values": order_values(clean),
    }
    missing = tables["missing_values"]
    gaps = ", ".join(f"{r.column} {r.missing:,}" for r in missing.itertuples() if r.missing)
    months, weekdays = tables["revenue_by_month"], tables["orders_by_weekday"]
    best_month = months.loc[months["revenue"].idxmax()]
    closed = weekdays.loc[weekdays["orders"] == 0, "weekday"].tolist()
    baskets = tables["order_values"]["value"]
    said = {
        "How big is the log?": f"{overview['rows']:,} lines x {len(given)} columns",
        "Which types?": overview["types"],
        "What period?": f"{overview['first']:%Y-%m-%d} to {overview['last']:%Y-%m-%d}",
        "How many values are missing?": f"{int(missing['missing'].sum()):,} ({gaps or 'none'})",
        "How many customers?": f"{overview['customers']:,} distinct customer ids",
        "Which month has the most revenue?": (
            f"{best_month['month']:%B %Y} ({best_month['revenue']:,.0f})"
        ),
        "On which weekdays are there no orders?": ", ".join(closed) or "none",
        "Mean line value (total_price)?": f"{exact_mean(clean.total_price).execute():,.2f}",
        "Order values?": f"median {baskets.median():,.2f}, mean {baskets.mean():,.2f}, "
        f"largest {baskets.max():,.2f}",
    }
    if "invoice_no" not in lacking:
        cancelled = cancellations(raw, cancellation_prefix)
        said["What share of orders are cancellations?"] = (
            f"{cancelled['share']:.0%} ({cancelled['cancelled']:,} of {cancelled['orders']:,}"
            " orders of identified customers)"
        )
        said["How many items were cancelled?"] = f"{cancelled['items']:,}"
    if "country" not in lacking:
        tables["countries"] = by_country = countries(clean)
        said["How many countries?"] = f"{countries_given(raw):,} besides unspecified"
        for question, by, n in (
            ("Where are most customers?", "customers", 1),
            ("Top three countries by orders", "orders", 3),
            ("Top three countries by revenue", "revenue", 3),
        ):
            top = by_country.sort_values(by, ascending=False)["country"].head(n)
            said[question] = ", ".join(top)
    if "time" not in lacking:
        tables["orders_by_hour"] = hours = orders_by_hour(clean)
        busiest = hours.sort_values("orders", ascending=False).head(6)["hour"].sort_values()
        said["When are most orders placed?"] = (
            f"between {busiest.min()}:00 and {busiest.max() + 1}:00 ({_share(hours, busiest):.0%})"
        )
        silent = sorted(set(range(24)) - set(hours.loc[hours["orders"] > 0, "hour"]))
        said["At which hours are there no orders?"] = _hour_ranges(silent) or "none"
    if "stock_code" not in lacking:
        tables["top_products"] = top_products(clean)
        on_most = most_lines(raw)
        said["Which product is sold most often?"] = (
            f"{_product(on_most)}, on {int(on_most['lines']):,} lines"
        )
        best = tables["top_products"].head(1)
        said["Which product brings the most revenue?"] = (
            ", ".join(f"{_product(row)}, {row['revenue']:,.0f}" for _, row in best.iterrows())
            or "none"
        )
    rows, unanswered = [], {}
    for topic, question, needs in QUESTIONS:
        reasons = [LACKING[need] for need in needs if need in lacking]
        if reasons:
            unanswered.setdefault(topic, reasons[0])
        rows.append((topic, question, f"{CANNOT}{reasons[0]}" if reasons else said[question]))
    answers = pd.DataFrame(rows, columns=["topic", "question", "answer"])
    return Exploration(answers, tables, hypotheses(tables), unanswered)


def data_overview(raw: ir.Table, given: list[str] | None = None) -> dict:
    """The log's summary (size, period, customers, nulls) and types, over the columns it
    gives (`given_columns`; an `amount` is the unit price of lines of quantity 1)."""
    given = given_columns(raw) if given is None else given
    summary = summarise(raw)
    stored = {c: "unit_price" if c == "amount" else c for c in given}
    return {
        "rows": summary["rows"],
        "types": ", ".join(f"{c} {_type_name(raw, stored[c])}" for c in given),
        "first": pd.Timestamp(summary["first_invoice_date"]),
        "last": pd.Timestamp(summary["last_invoice_date"]),
        "customers": summary["customers"],
        "missing": pd.DataFrame(
            {"column": given, "missing": [summary["nulls"][stored[c]] for c in given]}
        ),
    }


def countries_given(raw: ir.Table) -> int:
    """Distinct countries named in the log, unspecified ones aside."""
    return int(raw.country.nunique(where=~raw.country.isin(UNSPECIFIED_COUNTRIES)).execute())


def most_lines(raw: ir.Table) -> pd.Series:
    """The product (stock code, its most common description) on most lines, and its lines."""
    products = raw.filter(raw.stock_code.notnull())
    products = products.group_by("stock_code").aggregate(lines=products.count())
    products = products.left_join(most_common(raw, "stock_code", "description"), "stock_code")
    return products.order_by([ibis.desc("lines"), "stock_code"]).limit(1).execute().iloc[0]


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
    return {
        "orders": orders,
        "cancelled": cancelled,
        "items": int(row["items"] or 0),
        "share": cancelled / orders if orders else 0.0,
    }


def has_time_of_day(raw: ir.Table) -> bool:
    """Whether any date carries a time of day (a log of dates alone says nothing of hours)."""
    timed = raw.invoice_date != raw.invoice_date.truncate("D")
    return bool(raw.aggregate(timed=timed.fill_null(False).any()).execute()["timed"].iloc[0])


def _product(row: pd.Series) -> str:
    """A product as people read it: its stock code, and its description where there is one."""
    described = isinstance(row["description"], str) and row["description"]
    return f"{row['stock_code']} ({row['description']})" if described else str(row["stock_code"])


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
    """Customers, orders and revenue per country; lines without one count as unspecified."""
    country = clean.country.fill_null(UNSPECIFIED_COUNTRIES[0]).name("country")
    frame = clean.group_by(country).aggregate(
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
    """The `n` products (stock codes) that bring the most revenue, with their description."""
    clean = clean.filter(clean.stock_code.notnull())
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
        found.append(
            f"Sales peak in {top['month']:%B}: its revenue is {ratio:.1f} times the"
            " monthly median, consistent with pre-Christmas buying."
        )
    weekdays = tables["orders_by_weekday"]
    closed = weekdays.loc[weekdays["orders"] == 0, "weekday"].tolist()
    if closed:
        found.append(
            f"The shop takes no orders on {', '.join(closed)}: plan campaigns for the"
            " days it trades."
        )
    hours = tables.get("orders_by_hour")
    if hours is not None:
        office = hours.loc[hours["hour"].between(9, 16), "orders"].sum() / max(
            hours["orders"].sum(), 1
        )
        found.append(
            f"{office:.0%} of orders fall between 9:00 and 17:00: buyers order in"
            " office hours, as wholesalers would."
        )
    values = tables["order_values"]["value"]
    if len(values):
        mean, median = values.mean(), values.median()
        found.append(
            f"Order values are skewed: mean {mean:,.0f} against median {median:,.0f};"
            " a few large orders carry much of the revenue."
        )
    by_country = tables.get("countries")
    if by_country is not None and len(by_country):
        share = by_country["revenue"].iloc[0] / by_country["revenue"].sum()
        found.append(
            f"{by_country['country'].iloc[0]} brings {share:.0%} of revenue: segments"
            " are mostly about its customers."
        )
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


PLOTS = (
    "revenue_by_month",
    "orders_by_weekday",
    "orders_by_hour",
    "revenue_by_country",
    "order_values",
)
"""Every plot the exploration can draw; `eda_figures` leaves out those the input does not allow."""


def eda_figures(tables: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    """The exploration's plots of `PLOTS` whose tables are given: revenue by month, orders by
    weekday, order values, and where the input allows, orders by hour and revenue by country
    (top 10)."""
    drawn = {
        "revenue_by_month": ("revenue_by_month", _months),
        "orders_by_weekday": ("orders_by_weekday", _weekdays),
        "orders_by_hour": ("orders_by_hour", _hours),
        "revenue_by_country": ("countries", _countries),
        "order_values": ("order_values", _order_values),
    }
    return {name: draw(tables[table]) for name, (table, draw) in drawn.items() if table in tables}


def _months(months: pd.DataFrame) -> Figure:
    labels = [f"{m:%Y-%m}" for m in pd.to_datetime(months["month"])]
    return column_chart(labels, months["revenue"].tolist(), "Revenue by month", "revenue")


def _weekdays(weekdays: pd.DataFrame) -> Figure:
    labels = weekdays["weekday"].str[:3].tolist()
    return column_chart(labels, weekdays["orders"].tolist(), "Orders by weekday", "orders")


def _hours(hours: pd.DataFrame) -> Figure:
    labels = [str(h) for h in hours["hour"]]
    return column_chart(labels, hours["orders"].tolist(), "Orders by hour of day", "orders")


def _countries(countries: pd.DataFrame) -> Figure:
    top = countries.head(10)
    title = "Revenue by country (top 10)"
    return bar_chart(top["country"].tolist(), top["revenue"].tolist(), title, "revenue")


def _order_values(values: pd.DataFrame) -> Figure:
    return histogram(values["value"], "Order values", "order value")


def _type_name(table: ir.Table, column: str) -> str:
    """A column's type without its precision (`timestamp`, never `timestamp(6)`), the same
    whichever engine read the file."""
    return re.sub(r"\(\d+\)", "", str(table.schema()[column]))
