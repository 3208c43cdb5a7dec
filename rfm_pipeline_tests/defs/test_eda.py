"""eda_report: the study's questions answered, with the cancellation prefix cleaning used."""


def test_every_question_is_answered_and_plotted(graph):
    answers = graph.table("eda_report", week=None)
    assert answers["answer"].str.len().gt(0).all()
    meta = graph.metadata("eda_report")
    assert meta["dagster/row_count"] == len(answers)
    assert (graph.warehouse / "plots" / "eda_revenue_by_month.png").exists()
