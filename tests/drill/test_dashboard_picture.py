"""``python -m drill.dashboard_picture``: the deployed body's layout, drawn."""

from __future__ import annotations

from drill.dashboard_picture import describe, picture


def test_picture_is_drawn_from_the_deployed_body(tmp_path):
    path = picture("dev", tmp_path / "dashboard.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_describe_names_what_a_search_plots():
    widget = {
        "type": "metric",
        "properties": {
            "metrics": [
                [
                    {
                        "expression": 'SEARCH(\'{"N",cellId,marketId,service} '
                        'MetricName="CellOccupancy" service="s"\', \'Maximum\', 60)',
                        "id": "e1",
                    }
                ],
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "q", {"label": "q"}],
            ]
        },
    }
    assert describe(widget) == "CellOccupancy (per cellId, marketId); q"
