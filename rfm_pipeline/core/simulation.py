"""A shop whose customers follow BG/NBD and Gamma-Gamma exactly, with known parameters: the
log on which the probabilistic layer is the truth, so a fit should recover the parameters and
the learned layer can add nothing (Fader, Hardie and Lee 2005; Fader, Hardie and Lee 2005b).

Each customer first buys on a day drawn uniformly over the acquisition period, then buys again
at the times of a Poisson process with rate lambda ~ Gamma(r, alpha) a day, and after each
repeat purchase leaves for good with probability p ~ Beta(a, b). Each purchase spends
z ~ Gamma(shape p_spend, rate nu), nu ~ Gamma(q, rate v) per customer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BgNbdShop:
    """The parameters (time in days), the customers and the period of a simulated shop."""

    r: float = 0.8
    alpha: float = 50.0
    a: float = 0.7
    b: float = 3.0
    p_spend: float = 6.0
    q: float = 4.0
    v: float = 60.0
    customers: int = 3000
    start: dt.date = dt.date(2011, 1, 1)
    acquisition_days: int = 180
    days: int = 365
    seed: int = 0


def simulate(shop: BgNbdShop = BgNbdShop()) -> pd.DataFrame:
    """One row per purchase: `customer_id` (text), `invoice_date` (a time of day from 9:00 to
    17:00) and `amount`, ordered by date."""
    rng = np.random.default_rng(shop.seed)
    rates = rng.gamma(shop.r, 1 / shop.alpha, shop.customers)
    dropout = rng.beta(shop.a, shop.b, shop.customers)
    spend_rate = rng.gamma(shop.q, 1 / shop.v, shop.customers)
    births = rng.integers(0, shop.acquisition_days, shop.customers).astype("float64")
    customers, times = [], []
    for customer, (rate, leave, born) in enumerate(zip(rates, dropout, births, strict=True)):
        moment = born
        customers.append(customer)
        times.append(moment)
        while True:
            moment += rng.exponential(1 / rate)
            if moment >= shop.days:
                break
            customers.append(customer)
            times.append(moment)
            if rng.random() < leave:
                break
    customers = np.array(customers)
    amounts = rng.gamma(shop.p_spend, 1 / spend_rate[customers])
    day = np.floor(times)
    hours = 9 + 8 * rng.random(len(day))
    start = pd.Timestamp(shop.start)
    frame = pd.DataFrame(
        {
            "customer_id": [f"S{c:05d}" for c in customers],
            "invoice_date": (
                start
                + pd.to_timedelta(day, unit="D")
                + pd.to_timedelta(np.round(hours * 60), unit="min")
            ),
            "amount": np.round(amounts, 2).clip(min=0.01),
        }
    )
    return frame.sort_values(["invoice_date", "customer_id"], ignore_index=True)
