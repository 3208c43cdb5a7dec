"""Weeks: Mondays, as-of dates, the week a tick refreshes, and staleness."""

import datetime as dt

from rfm_pipeline.core.weeks import (
    week_as_of,
    week_ended_before,
    week_of_as_of,
    week_start,
)

D = dt.date.fromisoformat


def test_weeks_start_on_monday_and_end_on_the_next():
    assert week_start(D("2011-12-09")) == D("2011-12-05")  # a Friday
    assert week_start(D("2011-12-05")) == D("2011-12-05")  # a Monday is its own start
    assert week_as_of(D("2011-11-28")) == D("2011-12-05")


def test_the_week_of_an_as_of_date_holds_the_day_before_it():
    assert week_of_as_of(D("2011-12-10")) == D("2011-12-05")  # the bundled data's default
    assert week_of_as_of(D("2011-12-05")) == D("2011-11-28")  # a Monday ends the week before


def test_a_tick_refreshes_the_week_that_ended_before_it():
    monday = dt.datetime(2011, 12, 5, 6, 0, tzinfo=dt.UTC)
    assert week_ended_before(monday) == D("2011-11-28")
    assert week_ended_before(monday + dt.timedelta(days=1)) == D("2011-11-28")
    assert week_ended_before(monday - dt.timedelta(hours=7)) == D("2011-11-21")  # Sunday night
