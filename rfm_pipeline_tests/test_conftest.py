"""The suite's own scheduler: every group it starts first still exists."""

from __future__ import annotations

from pathlib import Path

from rfm_pipeline_tests.conftest import SLOWEST, WEEKS, WIRING

ROOT = Path(__file__).resolve().parents[1]


def test_the_slowest_groups_named_first_exist():
    for name in SLOWEST:  # a renamed file would silently lose its early start
        assert (ROOT / name).exists(), name
    assert (ROOT / WEEKS).is_file() and (ROOT / WIRING).is_dir()
