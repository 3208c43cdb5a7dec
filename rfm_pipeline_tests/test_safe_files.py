"""Safe files: models load with trusted types only; outputs stay inside; the UI is local."""

from __future__ import annotations

import ipaddress
import shlex

import pytest
import skops.io as sio
from upath import UPath

from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.model_files import load_model
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.settings import PROJECT_ROOT


class Untrusted:
    """A type no model file of ours contains."""


def test_a_model_file_with_untrusted_types_is_refused(tmp_path):
    path = tmp_path / "evil.skops"
    sio.dump({"payload": Untrusted()}, path)
    with pytest.raises(InputError, match="types that are not trusted: .*Untrusted"):
        load_model(UPath(path))


@pytest.mark.parametrize(
    "part", ["../escape.parquet", "plots/../../x.png", "/etc/passwd", "a/../../b"]
)
def test_warehouse_paths_cannot_lead_outside_it(tmp_path, part):
    with pytest.raises(ValueError, match="would lead outside the warehouse"):
        Warehouse(base_path=str(tmp_path)).path(part)


def test_ordinary_warehouse_paths_are_inside_it(tmp_path):
    path = Warehouse(base_path=str(tmp_path)).path("plots", "eda_revenue_by_month.png")
    assert str(path) == str(tmp_path / "plots" / "eda_revenue_by_month.png")


def test_the_ui_listens_on_the_loopback_address():
    """Every `dg dev` the Makefile runs, read by dg's own option parser: the host it binds is
    a loopback address (a typo, a later --host or a flag that means something else to dg
    would show), on port 3000."""
    import click
    from dagster_dg_cli.cli import cli

    dev = cli.get_command(click.Context(cli), "dev")
    recipes = (PROJECT_ROOT / "Makefile").read_text().replace("\\\n", " ")
    commands = [shlex.split(line) for line in recipes.splitlines() if "/dg dev " in line]
    assert len(commands) == 2  # ui and demo-ui
    for words in commands:
        options = words[words.index("dev") + 1 :]
        parsed = dev.make_context("dev", options).params
        assert ipaddress.ip_address(parsed["host"]).is_loopback, words
        assert parsed["port"] == 3000
