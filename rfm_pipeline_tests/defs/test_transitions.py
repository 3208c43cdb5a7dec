"""segment_transitions: who moved where since the week before."""

from rfm_pipeline_tests.defs.conftest import WEEK


def test_without_a_week_before_everyone_is_new(graph):
    moves = graph.table("segment_transitions")
    assert len(moves) == len(graph.table("customer_segments"))
    assert set(moves["movement"]) == {"new"}
    meta = graph.metadata("segment_transitions")
    assert meta["compared_with_week"] == "none: 2011-11-21 has not been materialised"
    assert meta["moved_new"] == len(moves) and meta["customers_last_week"] == 0
    assert (graph.warehouse / "plots" / "segment_transitions" / f"{WEEK}.png").exists()
