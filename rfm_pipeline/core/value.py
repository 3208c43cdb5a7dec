"""Customer value: who buys in the next quarter, and for how much.

Two layers, the second used only as far as the backtest shows it at least as good as the first:
1. pymc-marketing's BG/NBD (purchase days and the probability a customer is still active) and
   Gamma-Gamma (spend per purchase day), fitted by MAP on every customer's purchase days before
   the as-of date.
2. Gradient boosting trained on earlier windows of the same history (each customer's history at
   a date, and what the customer did in the horizon after it), with the probabilistic figures
   among its inputs: a classifier for "buys within the horizon", and a Poisson regressor of the
   spend as a multiplicative correction of BG/NBD x Gamma-Gamma, so that the biggest customers
   keep the probabilistic model's extrapolation (trees cannot extrapolate).

The forecast blends them: `p_active` is w x the classifier's probability + (1 - w) x BG/NBD's
probability of a purchase in the horizon, and the spend is BG/NBD x Gamma-Gamma times
(1 + w x (correction - 1)). Each w is chosen by the backtest (`choose_weights`): of the weights
0, 0.25, ..., 1 that are at least as good as BG/NBD + Gamma-Gamma at every cut-off (AUC at most
`AUC_NOISE` below, R² at most `R2_NOISE` below, the predicted total within `TOTAL_TOLERANCE`
wherever BG/NBD + Gamma-Gamma's is, else no further off), the smallest whose mean figure is
within its noise of the best. Where the learned layer cannot help, w is 0 and the forecast is
BG/NBD + Gamma-Gamma.

Per-customer histories are aggregates on the engine; only one row per customer reaches pandas.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from upath import UPath

from rfm_pipeline.core import rfm
from rfm_pipeline.core.cleaning import CleaningRules, cleaned_before, midnight
from rfm_pipeline.core.engine import cached, exact_sum
from rfm_pipeline.core.errors import InputError, NotEnoughData
from rfm_pipeline.core.model_files import library_versions, load_model
from rfm_pipeline.core.rfm import SECONDS_PER_DAY

HISTORY_COLUMNS = [
    "customer_id",
    "purchase_days",
    "recency",
    "T",
    "span",
    "spend",
    "repeat_spend",
    "spend_30",
    "days_30",
    "spend_90",
    "days_90",
    "spend_180",
    "days_180",
    "lines_per_day",
    "mean_quantity",
    "mean_unit_price",
]
PROBABILISTIC = ["bg_purchases", "bg_alive", "gg_spend", "bg_value"]
FEATURES = [*HISTORY_COLUMNS[1:], "avg_day_spend", "rate", "gap", "overdue", *PROBABILISTIC]
VALUE_COLUMNS = [
    "customer_id",
    "p_active",
    "expected_purchases_90d",
    "expected_spend_90d",
    "clv_12m",
    "p_alive_bgnbd",
]

PROBABILISTIC_LIBRARIES = ("pymc-marketing", "pymc", "pytensor")
"""BG/NBD and Gamma-Gamma's libraries, named on the model card beside scikit-learn's."""
MIN_CUSTOMERS = 20
"""Fewer customers (or fewer who bought twice) than this cannot fit BG/NBD and Gamma-Gamma."""
FIT_MODE = "FAST_COMPILE"
"""pytensor's mode for the MAP fits: FAST_RUN's graph rewrites and C code cost more than they
save on a few thousand customers (both fits on the bundled data 1.6 s against 2.5 s warm, and
no C compile on a fresh machine), and the parameters agree to 1e-10 (BENCHMARKS.md §6)."""
MAX_CORRECTION = 20.0
"""The learned layer multiplies BG/NBD x Gamma-Gamma's spend by at most this: a customer it
gives next to nothing who then buys would otherwise teach a ratio without bound, and the
boosting's exponential link turns that into an infinite forecast on a small shop."""


def purchase_days(clean: ir.Table) -> ir.Table:
    """One row per customer and day bought: the day (midnight), the day's spend, lines, and
    their quantities and unit prices summed (what kind of buyer: a shop, a household); kept on
    the engine, as a forecast reads it for the history now and for every training window."""
    day = clean.invoice_date.truncate("D")
    days = clean.group_by(["customer_id", day.name("day")]).aggregate(
        spend=exact_sum(clean.total_price),
        lines=clean.count(),
        quantity=clean.quantity.sum().cast("float64"),
        unit_price=exact_sum(clean.unit_price),
    )
    return cached(days)


def history(days: ir.Table, as_of: dt.date, horizon_days: int | None = None) -> pd.DataFrame:
    """Every customer with a purchase day before `as_of`: purchase days, recency, T (days since
    the first), span (first to last), spend in all, after the first day, and in the last 30,
    90 and 180 days, lines per purchase day, mean quantity and unit price of a line; with
    `horizon_days`, also `future_spend` in that many days from `as_of`."""
    cutoff = midnight(as_of)
    past = days.filter(days.day < cutoff)

    def days_before(moment: ir.TimestampValue) -> ir.IntegerValue:
        return ((cutoff.epoch_seconds() - moment.epoch_seconds()) // SECONDS_PER_DAY).cast("int64")

    recent = {}
    for window in (30, 90, 180):
        inside = past.day >= cutoff - ibis.interval(days=window)
        recent[f"spend_{window}"] = exact_sum(past.spend, where=inside)
        recent[f"days_{window}"] = inside.sum()
    per_customer = past.group_by("customer_id").aggregate(
        purchase_days=past.count(),
        first_day=past.day.min(),
        last_day=past.day.max(),
        spend=exact_sum(past.spend),
        lines=past.lines.sum(),
        quantity=past.quantity.sum(),
        unit_price=exact_sum(past.unit_price),
        **recent,
    )
    first_days = past.select("customer_id", first_day=past.day, first_spend=past.spend)
    per_customer = per_customer.join(first_days, ["customer_id", "first_day"])
    table = per_customer.select(
        "customer_id",
        purchase_days=per_customer.purchase_days.cast("int64"),
        recency=days_before(per_customer.last_day),
        T=days_before(per_customer.first_day),
        span=days_before(per_customer.first_day) - days_before(per_customer.last_day),
        spend=per_customer.spend,
        repeat_spend=per_customer.spend - per_customer.first_spend,
        **{name: per_customer[name].fill_null(0) for name in recent},
        lines_per_day=per_customer.lines / per_customer.purchase_days,
        mean_quantity=per_customer.quantity / per_customer.lines,
        mean_unit_price=per_customer.unit_price / per_customer.lines,
    )
    if horizon_days is not None:
        end = cutoff + ibis.interval(days=horizon_days)
        ahead = days.filter((days.day >= cutoff) & (days.day < end))
        future = ahead.group_by("customer_id").aggregate(future_spend=exact_sum(ahead.spend))
        table = table.left_join(future, "customer_id").select(
            *table.columns, future_spend=ibis.coalesce(future.future_spend, 0.0)
        )
    frame = table.order_by("customer_id").execute()
    counts = ["purchase_days", "recency", "T", "span", *(f"days_{w}" for w in (30, 90, 180))]
    return frame.astype({c: "int64" for c in counts})


def _quiet() -> None:
    """pymc and pytensor log every MAP fit at INFO and warn about their own futures."""
    for name in ("pymc", "pymc_marketing", "pytensor", "arviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="(pymc|pymc_marketing|pytensor|arviz|xarray)")


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    """A history in pymc-marketing's terms: repeat purchase days, recency (first to last), T,
    and the mean spend of the repeat days (0 for one-day customers). Rows are numbered, not
    named: the same customer may be in it at several dates."""
    repeat = table["purchase_days"] - 1
    monetary = (table["repeat_spend"] / repeat.clip(lower=1)).where(repeat > 0, 0.0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(table)),
            "frequency": repeat.to_numpy(dtype="float64"),
            "recency": table["span"].to_numpy(dtype="float64"),
            "T": table["T"].to_numpy(dtype="float64"),
            "monetary_value": monetary.clip(lower=0).to_numpy(dtype="float64"),
        }
    )


@dataclass
class Probabilistic:
    """BG/NBD and Gamma-Gamma fitted by MAP with pymc-marketing, and their parameters."""

    transactions: object  # pymc_marketing.clv.BetaGeoModel
    spend: object  # pymc_marketing.clv.GammaGammaModel

    @property
    def parameters(self) -> dict[str, float]:
        values = {}
        for model in (self.transactions, self.spend):
            posterior = model.idata.posterior
            for name in posterior.data_vars:
                if posterior[name].ndim == 2:  # scalar parameters (chain, draw)
                    values[name] = round(float(posterior[name].mean()), 6)
        return values


def fit_probabilistic(table: pd.DataFrame) -> Probabilistic:
    """BG/NBD on every customer's history; Gamma-Gamma on those who bought on two days or more.
    pymc-marketing is imported only when there is enough to fit (it takes seconds)."""
    summary = _summary(table)
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(summary) < MIN_CUSTOMERS or len(repeat) < MIN_CUSTOMERS:
        raise NotEnoughData(
            f"{len(summary)} customers, {len(repeat)} of them bought on two days or more"
            f" (at least {MIN_CUSTOMERS} of each needed to fit BG/NBD and Gamma-Gamma)"
        )
    import pytensor
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    _quiet()
    transactions, spend = BetaGeoModel(), GammaGammaModel()
    with pytensor.config.change_flags(mode=FIT_MODE):
        transactions.fit(
            summary[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False
        )
        spend.fit(
            repeat[["customer_id", "frequency", "monetary_value"]], method="map", progressbar=False
        )
    return Probabilistic(transactions, spend)


def infinite_mean_spend(
    parameters: dict[str, float], repeat_days: np.ndarray | float
) -> np.ndarray | bool:
    """Whether Gamma-Gamma's mean spend is infinite for a customer with this many repeat
    purchase days: where p x + q <= 1 (every one-day customer when q <= 1)."""
    return parameters["p"] * repeat_days + parameters["q"] <= 1


def probabilistic_figures(model: Probabilistic, table: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """`table` with BG/NBD's expected purchase days in the horizon and probability alive,
    Gamma-Gamma's expected spend per purchase day, and their product (the expected spend).
    Gamma-Gamma's mean spend is infinite for a customer with p x + q <= 1 (every one-day
    customer when its q <= 1: its formula then turns negative); such a customer gets the
    mean spend of a purchase day in `table` instead."""
    summary = _summary(table)
    point = {"dim": ("chain", "draw")}
    purchases = model.transactions.expected_purchases(data=summary, future_t=horizon)
    alive = model.transactions.expected_probability_alive(data=summary)
    spend = model.spend.expected_customer_spend(data=summary).mean(**point).to_numpy()
    unbounded = infinite_mean_spend(model.parameters, summary["frequency"].to_numpy())
    shop_mean = table["spend"].sum() / table["purchase_days"].sum()
    figures = {
        "bg_purchases": purchases.mean(**point).to_numpy(),
        "bg_alive": alive.mean(**point).to_numpy(),
        "gg_spend": np.where(unbounded, shop_mean, spend),
    }
    figures["bg_value"] = figures["bg_purchases"] * figures["gg_spend"]
    return table.assign(**figures)


def features(table: pd.DataFrame) -> pd.DataFrame:
    """The learned layer's inputs: the history, rates and gaps, and the probabilistic figures."""
    repeat_gap = table["span"] / (table["purchase_days"] - 1).clip(lower=1)
    derived = pd.DataFrame(
        {
            "avg_day_spend": table["spend"] / table["purchase_days"],
            "rate": table["purchase_days"] / table["T"].clip(lower=1),
            "gap": repeat_gap,
            "overdue": (table["recency"] / repeat_gap.where(table["purchase_days"] > 1)),
        }
    )
    return pd.concat([table, derived], axis=1)[FEATURES].astype("float64")


def training_dates(
    as_of: dt.date, first_day: dt.date, horizon_days: int, step_days: int, min_history_days: int
) -> list[dt.date]:
    """Dates whose whole horizon ends by `as_of`, `step_days` apart, latest first, each with at
    least `min_history_days` of history before it."""
    dates, day = [], as_of - dt.timedelta(days=horizon_days)
    while day >= first_day + dt.timedelta(days=min_history_days):
        dates.append(day)
        day -= dt.timedelta(days=step_days)
    return dates


@dataclass
class ValueSettings:
    """The forecast's knobs; the defaults are the backtest's."""

    horizon_days: int = 90
    clv_months: int = 12
    annual_discount_rate: float = 0.10
    step_days: int = 14  # between training windows
    min_history_days: int = 30  # before a training window's date
    max_training_rows: int = 200_000  # customers drawn at random across the windows above it
    random_state: int = 0


@dataclass
class ValueModel:
    """The fitted forecast: the probabilistic layer, the learned one when there was enough
    history to train it, and the weights the backtest gives the learned one (0: BG/NBD and
    Gamma-Gamma alone)."""

    probabilistic: Probabilistic
    buyer: HistGradientBoostingClassifier | None
    correction: HistGradientBoostingRegressor | None
    settings: ValueSettings
    as_of: dt.date
    windows: list[dt.date] = field(default_factory=list)
    customers: int = 0  # the probabilistic layer was fitted on
    training_rows: int = 0  # customer-windows the learned layer was trained on
    buyer_weight: float = 0.0
    spend_weight: float = 0.0
    card: dict = field(default_factory=dict)  # `model_card`: what was fitted and how it did

    @property
    def name(self) -> str:
        name = "BG/NBD + Gamma-Gamma (pymc-marketing, MAP)"
        if self.buyer is None or not (self.buyer_weight or self.spend_weight):
            return name
        return (
            f"{name}, with gradient boosting's probability of buying at weight"
            f" {self.buyer_weight:g} and its spend correction at weight {self.spend_weight:g}"
        )

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        """Per customer of a history at `as_of`: `VALUE_COLUMNS`."""
        horizon = self.settings.horizon_days
        parts = self.parts(table)
        p_active = blend(parts["p_bgnbd"], parts["p_learned"], self.buyer_weight)
        spend = parts["spend_bgnbd"] * blend(1.0, parts["correction"], self.spend_weight)
        purchases = parts["purchases"]
        per_day = np.divide(spend, purchases, out=np.zeros_like(spend), where=purchases > 0)
        return pd.DataFrame(
            {
                "customer_id": table["customer_id"].to_numpy(),
                "p_active": p_active,
                "expected_purchases_90d": purchases,
                "expected_spend_90d": spend,
                "clv_12m": self._clv(table, per_day),
                "p_alive_bgnbd": parts["alive"],
            }
        ).rename(columns=_horizon_names(horizon, self.settings.clv_months))

    def parts(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each layer's figures for the customers of a history: BG/NBD's probability of a
        purchase in the horizon, expected purchase days and probability alive, BG/NBD x
        Gamma-Gamma's spend; the classifier's probability and the spend correction (BG/NBD's
        probability and 1 without a learned layer)."""
        horizon = self.settings.horizon_days
        scored = probabilistic_figures(self.probabilistic, table, horizon)
        p_bgnbd = 1 - _no_purchase(self.probabilistic, table, horizon)
        parts = {
            "p_bgnbd": p_bgnbd,
            "purchases": scored["bg_purchases"].to_numpy(),
            "alive": scored["bg_alive"].to_numpy(),
            "spend_bgnbd": scored["bg_value"].to_numpy(),
            "p_learned": p_bgnbd,
            "correction": np.ones(len(table)),
        }
        if self.buyer is not None:
            inputs = features(scored)
            parts["p_learned"] = self.buyer.predict_proba(inputs)[:, 1]
            parts["correction"] = self.correction.predict(inputs).clip(0, MAX_CORRECTION)
        return parts

    def forecast(self, clean: ir.Table, as_of: dt.date) -> pd.DataFrame:
        """`predict` for the customers of clean transactions, from their lines before `as_of`."""
        return self.predict(history(purchase_days(clean), as_of))

    def _clv(self, table: pd.DataFrame, per_day: np.ndarray) -> np.ndarray:
        """pymc-marketing's discounted lifetime value over `clv_months`, each purchase day
        worth this model's spend per purchase day."""
        from pymc_marketing.clv import customer_lifetime_value

        monthly = (1 + self.settings.annual_discount_rate) ** (1 / 12) - 1
        data = _summary(table).assign(future_spend=per_day)
        value = customer_lifetime_value(
            self.probabilistic.transactions,
            data,
            future_t=self.settings.clv_months,
            discount_rate=monthly,
            time_unit="D",
        )
        return value.mean(dim=("chain", "draw")).to_numpy()


def blend(base: np.ndarray | float, learned: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x base + weight x learned."""
    return (1 - weight) * np.asarray(base) + weight * np.asarray(learned)


def value_columns(table: pd.DataFrame) -> list[str]:
    """A `customer_value` table's forecast columns for people: the probability of buying, the
    expected spend and the discounted value, whatever the horizon and months configured."""
    spend = [c for c in table.columns if c.startswith("expected_spend_")]
    clv = [c for c in table.columns if c.startswith("clv_")]
    return ["p_active", *spend, *clv]


def _horizon_names(horizon: int, months: int) -> dict[str, str]:
    """Column names say the horizon: the defaults give `expected_spend_90d` and `clv_12m`."""
    return {
        "expected_purchases_90d": f"expected_purchases_{horizon}d",
        "expected_spend_90d": f"expected_spend_{horizon}d",
        "clv_12m": f"clv_{months}m",
    }


def _no_purchase(model: Probabilistic, table: pd.DataFrame, horizon: int) -> np.ndarray:
    summary = _summary(table)
    chance = model.transactions.expected_probability_no_purchase(t=horizon, data=summary)
    return chance.mean(dim=("chain", "draw")).to_numpy()


def fit_value(
    days: ir.Table,
    as_of: dt.date,
    settings: ValueSettings | None = None,
    now: pd.DataFrame | None = None,
    weights: tuple[float, float] | None = None,
) -> ValueModel:
    """Fit the forecast on the purchase days before `as_of` (see the module docstring); `now`
    is their `history` at `as_of` when the caller already has it. `weights` are the learned
    layer's (probability of buying, spend correction), as `choose_weights` gives them: the
    layer is trained only where one is above 0; without them it is trained and weighs 0 (for
    `ValueModel.parts`)."""
    settings = settings or ValueSettings()
    now = history(days, as_of) if now is None else now
    probabilistic = fit_probabilistic(now)
    first = pd.Timestamp(days.day.min().execute()).date()
    dates = training_dates(
        as_of, first, settings.horizon_days, settings.step_days, settings.min_history_days
    )
    model = ValueModel(probabilistic, None, None, settings, as_of, dates, len(now))
    if not dates or (weights is not None and not any(weights)):
        return model
    train = probabilistic_figures(
        probabilistic, training_windows(days, dates, settings), settings.horizon_days
    )
    bought = (train["future_spend"] > 0).to_numpy()
    if bought.all() or not bought.any():
        return model
    inputs = features(train)
    model.buyer = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=8,
        min_samples_leaf=200,
        l2_regularization=1.0,
        random_state=settings.random_state,
    ).fit(inputs, bought)
    base = train["bg_value"].clip(lower=1e-9)
    ratio = (train["future_spend"].clip(lower=0) / base).clip(upper=MAX_CORRECTION)
    model.correction = HistGradientBoostingRegressor(
        loss="poisson",
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=8,
        min_samples_leaf=200,
        l2_regularization=1.0,
        random_state=settings.random_state,
    ).fit(inputs, ratio, sample_weight=base)
    model.training_rows = len(train)
    model.buyer_weight, model.spend_weight = weights or (0.0, 0.0)
    return model


def training_windows(days: ir.Table, dates: list[dt.date], settings: ValueSettings) -> pd.DataFrame:
    """The learned layer's rows: each date's `history` with the spend in the horizon after it,
    at most `max_training_rows` across the dates. Where a date has more customers than its
    share, its share is drawn first, as `DataFrame.sample` draws rows from its whole history
    (the same customers in `history`'s order), and only their histories are worked out: at a
    million customers, a few thousand customers' history instead of the whole shop's."""
    per_window = -(-settings.max_training_rows // len(dates))
    firsts = days.group_by("customer_id").aggregate(first_day=days.day.min())
    firsts = firsts.order_by("customer_id").execute()  # `history`'s customers, in its order
    sampled = []
    for day in dates:  # one window in memory at a time
        customers = firsts[firsts["first_day"] < pd.Timestamp(day)]
        if len(customers) <= per_window:
            sampled.append(history(days, day, settings.horizon_days))
            continue
        drawn = customers.sample(per_window, random_state=settings.random_state)
        drawn = drawn["customer_id"].tolist()
        theirs = days.semi_join(ibis.memtable({"customer_id": drawn}), "customer_id")
        window = history(theirs, day, settings.horizon_days).set_index("customer_id")
        sampled.append(window.loc[drawn].reset_index())  # in the order drawn
    return pd.concat(sampled, ignore_index=True)


def scores(actual: np.ndarray, p_active: np.ndarray, spend: np.ndarray) -> dict[str, float]:
    """AUC of `p_active` for buying, R² and mean absolute error of `spend`, and the totals."""
    from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score

    bought = actual > 0
    both = bought.any() and not bought.all()
    predicted_total, actual_total = float(np.sum(spend)), float(np.sum(actual))
    return {
        "customers": len(actual),
        "buyers": int(bought.sum()),
        "auc": float(roc_auc_score(bought, p_active)) if both else float("nan"),
        "r2": float(r2_score(actual, spend)) if len(actual) > 1 else float("nan"),
        "mae": float(mean_absolute_error(actual, spend)),
        "predicted_total": predicted_total,
        "actual_total": actual_total,
        "total_error": predicted_total / actual_total - 1 if actual_total else float("nan"),
    }


def grouped_scores(actual: np.ndarray, groups: pd.Series) -> dict[str, float]:
    """How much of the horizon a grouping explains: each customer scored with the group's own
    buying rate and mean spend over the horizon (in-sample, so an upper bound for any forecast
    built on the groups); the R² is the between-group share of the spend's variance."""
    frame = pd.DataFrame({"group": groups.to_numpy(), "spend": actual, "bought": actual > 0})
    means = frame.groupby("group")[["spend", "bought"]].transform("mean")
    result = scores(actual, means["bought"].to_numpy(), means["spend"].to_numpy())
    return {
        **result,
        "segments": int(frame["group"].nunique()),
        "predicted_total": float("nan"),
        "total_error": float("nan"),
    }


def calibration(actual: np.ndarray, spend: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted and actual spend per decile of the predicted spend."""
    ranks = pd.Series(spend).rank(method="first")
    decile = pd.qcut(ranks, min(bins, len(ranks)), labels=False) + 1
    frame = pd.DataFrame({"decile": decile, "predicted": spend, "actual": actual})
    return frame.groupby("decile", as_index=False).mean()


MODEL = "customer_value"
BASELINE = "BG/NBD + Gamma-Gamma"
LEARNED = "gradient boosting on BG/NBD + Gamma-Gamma"
"""The backtest's forecasts: the chosen blend, and the two layers alone (weights 0 and 1)."""

TIERS = "value tiers"
"""The business segmentation the forecast gives: bands of `p_active` (`ENGAGEMENT`) crossed with
tiers of the expected spend (`VALUE_SHARES`), as marketers cross engagement with value."""
ENGAGEMENT = (0.1, 0.3, 0.5, 0.7, 0.9)
"""Where the bands of the probability of buying in the horizon part: six bands, from "almost
surely not" (under 10%) to "almost surely" (90% or more)."""
VALUE_SHARES = (0.2, 0.5)
"""The top 20% of customers by expected spend, the next 30% and the rest."""

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The learned layer's weights tried, for the probability of buying and for the spend."""
AUC_NOISE = 0.005
"""An AUC this near BG/NBD's is as good: a difference below it is noise."""
R2_NOISE = 0.02
"""The same for the R² of the spend."""
TOTAL_TOLERANCE = 0.15
"""A predicted total within this of the actual is right; the forecast must be wherever
BG/NBD + Gamma-Gamma is, and no further off where it is not."""


@dataclass
class Backtest:
    """Per cut-off and forecast (and the forecast's value tiers): `scores` rows (the
    forecasts' with their learned layer's weights); per cut-off, forecast and decile:
    `calibration`; per part of the learned layer and weight: `weights` (`choose_weights`);
    per cut-off and customer: `outcomes` (`Cutoff.outcomes`), for scoring groupings later
    (`grouping_scores`); the cut-offs skipped, with the reason."""

    scores: pd.DataFrame
    calibration: pd.DataFrame
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    outcomes: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Cutoff:
    """One cut-off's customers: their spend in the horizon after it, each layer's figures
    (`ValueModel.parts`), and `outcomes`: every customer's R, F and M at the cut-off with the
    spend in the horizon after it (`future_spend`; empty for a customer with no forecast)."""

    cutoff: dt.date
    actual: np.ndarray
    parts: dict[str, np.ndarray]
    outcomes: pd.DataFrame

    def scores(self, buyer_weight: float, spend_weight: float) -> dict:
        """`scores` of the forecast with the learned layer at these weights."""
        p_active = blend(self.parts["p_bgnbd"], self.parts["p_learned"], buyer_weight)
        return scores(self.actual, p_active, self.spend(spend_weight))

    def spend(self, weight: float) -> np.ndarray:
        return self.parts["spend_bgnbd"] * blend(1.0, self.parts["correction"], weight)


def backtest_cutoff(
    before: ir.Table,
    after: ir.Table,
    cutoff: dt.date,
    settings: ValueSettings,
    rfm_then: pd.DataFrame,
) -> Cutoff:
    """Fit on `before` (the lines before the cut-off, cleaned on their own), score the horizon
    after it from `after` (the lines the week knows, cleaned together); `rfm_then` is the RFM
    table at the cut-off, kept in the outcomes."""
    days = purchase_days(before)
    known = history(days, cutoff)
    model = fit_value(days, cutoff, settings, known)
    ahead = history(purchase_days(after), cutoff, settings.horizon_days)
    actual = known[["customer_id"]].merge(ahead[["customer_id", "future_spend"]], how="left")
    actual["future_spend"] = actual["future_spend"].fillna(0.0)
    outcomes = rfm_then[["customer_id", *rfm.RFM_COLUMNS]].merge(actual, how="left")
    return Cutoff(cutoff, actual["future_spend"].to_numpy(), model.parts(known), outcomes)


def shortfall(part: str, scored: dict, base: dict) -> str | None:
    """Why a forecast's `scores` at a cut-off are worse than BG/NBD + Gamma-Gamma's (`base`)
    by more than the noise, for one part of it ("buyer": the AUC; "spend": the R² and the
    predicted total); None if they are not."""
    if part == "buyer":
        if scored["auc"] < base["auc"] - AUC_NOISE:
            return f"AUC {scored['auc']:.3f} against {base['auc']:.3f}"
        return None
    if scored["r2"] < base["r2"] - R2_NOISE:
        return f"R² {scored['r2']:.3f} against {base['r2']:.3f}"
    if abs(scored["total_error"]) > max(TOTAL_TOLERANCE, abs(base["total_error"])):
        return f"total {scored['total_error']:+.1%} against {base['total_error']:+.1%}"
    return None


def choose_weights(cutoffs: list[Cutoff]) -> pd.DataFrame:
    """Per part of the learned layer ("buyer": `p_active`, judged by AUC; "spend": judged by R²
    and the predicted total) and weight in `WEIGHTS`: the mean figure over the cut-offs, where
    it falls short of BG/NBD + Gamma-Gamma (`shortfall`; admissible where nowhere), and the
    chosen weight: of the admissible ones, the smallest whose mean is within the noise of the
    best (weight 0, BG/NBD + Gamma-Gamma itself, is always admissible)."""
    judged = (("buyer", "auc", AUC_NOISE), ("spend", "r2", R2_NOISE))
    rows = []
    for part, figure, _ in judged:
        for weight in WEIGHTS:
            short, means = [], []
            for cut in cutoffs:
                base = cut.scores(0.0, 0.0)
                scored = cut.scores(*((weight, 0.0) if part == "buyer" else (0.0, weight)))
                means.append(scored[figure])
                reason = shortfall(part, scored, base)
                if reason:
                    short.append(f"{cut.cutoff}: {reason}")
            rows.append(
                {
                    "part": part,
                    "weight": weight,
                    figure: float(np.nanmean(means)),
                    "short_of_baseline": "; ".join(short),
                    "admissible": not short,
                }
            )
    table = pd.DataFrame(rows)
    table["chosen"] = False
    for part, figure, noise in judged:
        ok = table[(table["part"] == part) & table["admissible"]]  # weight 0 always is
        near = ok[~(ok[figure] < ok[figure].max() - noise)]  # a NaN mean (no buyers) is near
        table.loc[near.index[0], "chosen"] = True
    return table


def chosen_weights(table: pd.DataFrame) -> tuple[float, float]:
    """(probability of buying, spend correction): the learned layer's weights the backtest chose,
    from the `customer_value` rows of its stored `scores`; 0 and 0 without a backtest."""
    rows = table[table["model"] == MODEL] if "model" in table else table.iloc[:0]
    if rows.empty:
        return 0.0, 0.0
    return float(rows["buyer_weight"].iloc[0]), float(rows["spend_weight"].iloc[0])


def _forecast_rows(cut: Cutoff, weights: tuple[float, float]) -> list[dict]:
    """A cut-off's rows for the chosen forecast, BG/NBD + Gamma-Gamma (with the AUC of its
    probability alive for buying) and the learned layer alone."""
    bought = cut.actual > 0
    alive_auc = float("nan")
    if bought.any() and not bought.all():
        from sklearn.metrics import roc_auc_score

        alive_auc = float(roc_auc_score(bought, cut.parts["alive"]))
    return [
        {
            "model": MODEL,
            **cut.scores(*weights),
            "buyer_weight": weights[0],
            "spend_weight": weights[1],
        },
        {
            "model": BASELINE,
            **cut.scores(0.0, 0.0),
            "buyer_weight": 0.0,
            "spend_weight": 0.0,
            "alive_auc": alive_auc,
        },
        {"model": LEARNED, **cut.scores(1.0, 1.0), "buyer_weight": 1.0, "spend_weight": 1.0},
    ]


def default_cutoffs(as_of: dt.date, horizon_days: int, count: int) -> list[dt.date]:
    """The first days of the `count` months up to the last one whose horizon ends by `as_of`
    (2011-06-01 to 2011-09-01 for the bundled data's 2011-12-10), oldest first."""
    last = as_of - dt.timedelta(days=horizon_days)
    month = last.year * 12 + last.month - 1
    return [dt.date((m) // 12, m % 12 + 1, 1) for m in range(month - count + 1, month + 1)]


def kept_labels(kept: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each kept solution's segments (customer_id, segment_id), named "<embedding>/<algorithm>",
    from `comparison`'s rows and each space's segmentation table."""
    return {
        f"{row.embedding}/{row.algorithm}": tables[row.embedding][
            ["customer_id", f"{row.algorithm}_segment"]
        ].set_axis(["customer_id", "segment_id"], axis=1)
        for row in kept.itertuples()
    }


def groupings_at(
    rfm_now: pd.DataFrame, labelled: dict[str, pd.DataFrame], rfm_then: pd.DataFrame
) -> dict[str, pd.Series]:
    """Each customer's group at a cut-off (index: customer id), from the RFM there alone: the
    11-cell grid and frequency deciles computed at the cut-off, and each of this week's
    segmentations (`labelled`: customer_id, segment_id) carried to the cut-off by the segments
    of the 15 customers nearest in log-scaled R, F, M today: the regions of RFM space this
    week's segments occupy, with none of the lines after the cut-off."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    index = pd.Index(rfm_then["customer_id"], name="customer_id")
    grid, _ = rfm.rfm_scores(rfm_then)
    ranks = rfm_then["frequency"].rank(method="first")
    groups = {
        "RFM grid (11 cells)": pd.Series(grid["segment"].to_numpy(), index=index),
        "frequency deciles": pd.Series(
            pd.qcut(ranks, min(10, len(ranks)), labels=False).to_numpy(), index=index
        ),
    }
    columns = list(rfm.RFM_COLUMNS)
    for name, labels in labelled.items():
        known = rfm_now[["customer_id", *columns]].merge(labels, on="customer_id")
        neighbours = make_pipeline(
            FunctionTransformer(np.log1p),
            StandardScaler(),
            KNeighborsClassifier(n_neighbors=min(15, len(known))),
        ).fit(known[columns].clip(lower=0), known["segment_id"])
        placed = neighbours.predict(rfm_then[columns].clip(lower=0))
        groups[name] = pd.Series(placed, index=index)
    return groups


def value_tiers(p_active: np.ndarray, spend: np.ndarray, min_share: float = 0.02) -> np.ndarray:
    """Each customer's cell of `TIERS`: 3 x engagement band (0: least likely to buy) + value
    tier (0: the top `VALUE_SHARES[0]` by expected spend, 1: the next, 2: the rest); a customer
    without a forecast is in the lowest band and tier. A cell with fewer than `min_share` of
    the customers joins the next band of its tier towards the middle one (the middle one, the
    nearest band left, the bigger of two), as the study's solutions keep their smallest segment
    above that share."""
    band = np.searchsorted(ENGAGEMENT, np.nan_to_num(p_active, nan=0.0), side="right")
    spend = pd.Series(spend).fillna(-1.0)
    rank = spend.rank(method="first", ascending=False).to_numpy() / max(len(spend), 1)
    tier = np.searchsorted(VALUE_SHARES, rank, side="left")
    middle, least = len(ENGAGEMENT) // 2, min_share * len(band)
    for level in np.unique(tier):
        within = tier == level
        for b in [*range(middle), *range(len(ENGAGEMENT), middle, -1)]:  # outside in
            cell = within & (band == b)
            if 0 < cell.sum() < least:
                band[cell] = b + 1 if b < middle else b - 1
        cell = within & (band == middle)
        bands, counts = np.unique(band[within], return_counts=True)
        others = {b: n for b, n in zip(bands, counts, strict=True) if b != middle}
        if 0 < cell.sum() < least and others:  # the middle band joins the nearest, bigger one
            band[cell] = min(others, key=lambda b: (abs(b - middle), -others[b]))
    return (len(VALUE_SHARES) + 1) * band + tier


def backtest(
    raw: ir.Table,
    after: ir.Table,
    cutoffs: list[dt.date],
    rules: CleaningRules,
    settings: ValueSettings,
) -> Backtest:
    """`backtest_cutoff` at every cut-off, the lines before each cleaned on their own, then the
    learned layer's weights chosen over them all (`choose_weights`). It needs no segmentation:
    they are scored from its `outcomes` where one is chosen (`grouping_scores`). A cut-off
    with too little history is skipped (and said so); with none left it raises."""
    parts, skipped = [], []
    for cutoff in cutoffs:
        before, _ = cleaned_before(raw, cutoff, rules)
        try:
            rfm_then = rfm.rfm_table(before, cutoff).execute()
            if len(rfm_then) < MIN_CUSTOMERS:
                raise NotEnoughData(f"{len(rfm_then)} customers (at least {MIN_CUSTOMERS} needed)")
            parts.append(backtest_cutoff(before, after, cutoff, settings, rfm_then))
        except NotEnoughData as reason:
            skipped.append(f"{cutoff}: {reason}")
    if not parts:
        raise NotEnoughData("; ".join(skipped) or "no cut-off")
    weights = choose_weights(parts)
    chosen = tuple(weights[weights["chosen"]].set_index("part")["weight"][["buyer", "spend"]])
    rows, curves = [], []
    for cut in parts:
        tiers = value_tiers(
            blend(cut.parts["p_bgnbd"], cut.parts["p_learned"], chosen[0]), cut.spend(chosen[1])
        )
        tiered = {"model": TIERS, **grouped_scores(cut.actual, pd.Series(tiers))}
        for row in [*_forecast_rows(cut, chosen), tiered]:
            rows.append({**row, "cutoff": cut.cutoff.isoformat()})
        for name, spend in ((MODEL, cut.spend(chosen[1])), (BASELINE, cut.spend(0.0))):
            curves.append(
                calibration(cut.actual, spend).assign(model=name, cutoff=cut.cutoff.isoformat())
            )
    outcomes = pd.concat(
        [cut.outcomes.assign(cutoff=cut.cutoff.isoformat()) for cut in parts], ignore_index=True
    )
    return Backtest(
        pd.DataFrame(rows), pd.concat(curves, ignore_index=True), weights, outcomes, skipped
    )


OUTCOME_COLUMNS = ["customer_id", *rfm.RFM_COLUMNS, "future_spend", "cutoff"]
"""`Backtest.outcomes`' columns."""


def grouping_scores(
    outcomes: pd.DataFrame, rfm_now: pd.DataFrame, labelled: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """How much of the horizon after each of the backtest's cut-offs each grouping explains
    (`grouped_scores` rows with `cutoff`): the 11-cell grid and frequency deciles at the
    cut-off, and this week's segmentations carried there (`groupings_at`), from the backtest's
    `outcomes` alone, without fitting anything again."""
    rows = []
    for cutoff, then in outcomes.groupby("cutoff", sort=True):
        then = then.reset_index(drop=True)
        scored = then[then["future_spend"].notna()]
        actual = scored["future_spend"].to_numpy()
        for name, groups in groupings_at(rfm_now, labelled, then).items():
            labels = groups.reindex(scored["customer_id"]).fillna(-1).reset_index(drop=True)
            rows.append({"model": name, **grouped_scores(actual, labels), "cutoff": cutoff})
    return pd.DataFrame(rows)


def summary(result: Backtest) -> pd.DataFrame:
    """Per model or grouping: mean AUC, R² and MAE over the cut-offs, the median absolute error
    of the predicted total, and at how many cut-offs it beat BG/NBD + Gamma-Gamma on both."""
    table = result.scores
    base = table[table["model"] == BASELINE][["cutoff", "auc", "r2"]]
    joined = table.merge(base, on="cutoff", how="left", suffixes=("", "_baseline"))
    joined["beats_baseline"] = (joined["auc"] > joined["auc_baseline"]) & (
        joined["r2"] > joined["r2_baseline"]
    )
    joined["abs_total_error"] = joined["total_error"].abs()
    grouped = joined.groupby("model", sort=False).agg(
        auc=("auc", "mean"),
        r2=("r2", "mean"),
        mae=("mae", "mean"),
        median_abs_total_error=("abs_total_error", "median"),
        cutoffs_beating_baseline=("beats_baseline", "sum"),
        cutoffs=("cutoff", "size"),
    )
    return grouped.reset_index()


def unforecast(known: pd.DataFrame, settings: ValueSettings) -> pd.DataFrame:
    """Every customer with no forecast (too little history to fit one): empty figures."""
    names = _horizon_names(settings.horizon_days, settings.clv_months)
    columns = [names.get(c, c) for c in VALUE_COLUMNS[1:]]
    return known[["customer_id"]].assign(**dict.fromkeys(columns, np.nan))


FILES = {
    "transactions": "bgnbd.nc",
    "spend": "gamma_gamma.nc",
    "learned": "learned.skops",
    "card": "card.json",
}
"""The files of a saved forecast, in its folder: pymc-marketing's own (NetCDF), the learned
layer (skops) and the model card."""


DEGENERATE_DROPOUT = 0.001
"""A BG/NBD whose mean probability of leaving after a purchase, a / (a + b), is below this has
its dropout parameter at a bound: everyone is alive, and its probability alive says nothing."""


def alive_verdict(parameters: dict[str, float], backtest_scores: pd.DataFrame) -> str | None:
    """Why BG/NBD's probability alive is not a probability to act on (None when it is): its
    dropout parameter at a bound (`DEGENERATE_DROPOUT`), or a mean backtest AUC for buying in
    the horizon below 0.5 (worse than a coin)."""
    a, b = parameters.get("a"), parameters.get("b")
    if a is not None and b is not None and a < DEGENERATE_DROPOUT * (a + b):
        return (
            f"BG/NBD's dropout parameter is at its bound (a = {a:.3g}, b = {b:.3g}: a mean"
            f" {a / max(a + b, 1e-12):.2g} chance of leaving after a purchase), so it calls"
            " everyone alive"
        )
    base = backtest_scores[backtest_scores["model"] == BASELINE]
    auc = base["alive_auc"].mean() if "alive_auc" in base else float("nan")
    if auc < 0.5:
        return f"its mean AUC for buying in the backtest is {auc:.3f}, below chance (0.5)"
    return None


def choice_notes(backtest_scores: pd.DataFrame) -> dict:
    """Which weights the backtest gave the learned layer and why: where the learned layer at
    full weight fell short of BG/NBD + Gamma-Gamma (`shortfall`), per part."""
    weights = chosen_weights(backtest_scores)
    rows = backtest_scores.set_index("model")
    notes = {"buyer_weight": weights[0], "spend_weight": weights[1]}
    if MODEL not in rows.index:
        notes["why"] = "no backtest: BG/NBD + Gamma-Gamma alone, the learned layer untested"
        return notes
    for part in ("buyer", "spend"):
        short = [
            f"{cutoff}: {reason}"
            for cutoff, learned, base in zip(
                rows.loc[[LEARNED], "cutoff"],
                rows.loc[[LEARNED]].to_dict(orient="records"),
                rows.loc[[BASELINE]].to_dict(orient="records"),
                strict=True,
            )
            if (reason := shortfall(part, learned, base))
        ]
        notes[f"{part}_at_full_weight"] = "; ".join(short) or "never short of BG/NBD"
    return notes


def model_card(model: ValueModel, backtest_scores: pd.DataFrame, alive: str | None) -> dict:
    """What was fitted, on what, the weights the backtest chose and why, whether BG/NBD's
    probability alive is exported (`alive`: why not), and how each forecast did."""
    forecasts = backtest_scores[backtest_scores["model"].isin([MODEL, BASELINE, LEARNED])]
    return {
        "model": model.name,
        "as_of": model.as_of.isoformat(),
        "settings": dataclasses.asdict(model.settings),
        "parameters": model.probabilistic.parameters,
        "customers": model.customers,
        "training_windows": [d.isoformat() for d in model.windows],
        "training_rows": model.training_rows,
        "features": FEATURES,
        "choice": choice_notes(backtest_scores),
        "p_alive_bgnbd": f"withheld: {alive}; use p_active" if alive else "exported",
        "one_day_customers_spend": (
            "the shop's mean spend of a purchase day (Gamma-Gamma's q <= 1: its mean is infinite)"
            if infinite_mean_spend(model.probabilistic.parameters, 0)
            else "Gamma-Gamma's mean"
        ),
        "backtest": forecasts.round(4).to_dict(orient="records"),
    }


def save_value_model(model: ValueModel, folder: Path) -> None:
    """Write the forecast's `FILES` into a new local folder (moved into place whole)."""
    folder.mkdir(parents=True)
    model.probabilistic.transactions.save(str(folder / FILES["transactions"]))
    model.probabilistic.spend.save(str(folder / FILES["spend"]))
    sio.dump({"buyer": model.buyer, "correction": model.correction}, folder / FILES["learned"])
    card = {**model.card, "library_versions": library_versions(PROBABILISTIC_LIBRARIES)}
    (folder / FILES["card"]).write_text(json.dumps(card, indent=2, default=str))


def _weights(card: dict) -> dict[str, float]:
    """The learned layer's weights on a model card (1 and 1 on a card written before they
    were chosen: the layer was then used in full)."""
    choice = card.get("choice", {"buyer_weight": 1.0, "spend_weight": 1.0})
    return {"buyer_weight": choice["buyer_weight"], "spend_weight": choice["spend_weight"]}


def load_value_model(folder: UPath) -> ValueModel:
    """The forecast saved by `save_value_model` in `folder`."""
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    _quiet()
    paths = {part: folder / name for part, name in FILES.items()}
    for path in paths.values():
        if not path.exists():
            raise InputError(path, "no saved forecast; materialise customer_value first")
    learned = load_model(paths["learned"]).model
    probabilistic = Probabilistic(
        BetaGeoModel.load(str(paths["transactions"])), GammaGammaModel.load(str(paths["spend"]))
    )
    card = json.loads(paths["card"].read_text())
    return ValueModel(
        probabilistic,
        learned["buyer"],
        learned["correction"],
        ValueSettings(**card["settings"]),
        dt.date.fromisoformat(card["as_of"]),
        card=card,
        **_weights(card),
    )
