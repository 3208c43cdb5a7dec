"""Weeks: the customer-level assets are computed once per week, each as of the Monday ending it.

A week is named by its first day, a Monday (`2011-11-28` holds 28 November to 4 December);
its as-of date is the Monday that ends it (`2011-12-05`): only transactions before it count.
"""

from __future__ import annotations

import datetime as dt

WEEK = dt.timedelta(days=7)


def week_start(day: dt.date) -> dt.date:
    """The Monday on or before `day`."""
    return day - dt.timedelta(days=day.weekday())


def week_as_of(week: dt.date) -> dt.date:
    """The as-of date of the week starting `week`: the Monday that ends it."""
    return week + WEEK


def week_of_as_of(as_of: dt.date) -> dt.date:
    """The week whose last counted day is the day before `as_of`.

    The day after the last invoice of the bundled data, 2011-12-10, falls in the week of
    2011-12-05; a Monday as-of falls in the week that ends on it.
    """
    return week_start(as_of - dt.timedelta(days=1))


def week_ended_before(moment: dt.datetime) -> dt.date:
    """The last week that ended at or before `moment`: what a weekly tick refreshes."""
    return week_start(moment.date()) - WEEK
