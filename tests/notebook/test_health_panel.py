from __future__ import annotations

import pytest

from rp_jupyter.api.models import Health
from rp_jupyter.notebook.health_chart import health_chart_svg
from rp_jupyter.notebook.health_panel import HealthPanel, health_panel, show_health
from tests.notebook.recording import WIDGET_VIEW, wait_until


def polls_seen(panel: HealthPanel, count: int, timeout: float = 10.0) -> None:
    start = panel.polls
    wait_until(lambda: panel.polls >= start + count, timeout, f"{count} more health polls")


def test_health_panel_shows_counts_and_a_chart_and_keeps_polling(frontend, endpoint):
    panel = health_panel(endpoint("ui-echo"), interval=0.5)
    try:
        polls_seen(panel, 3)
        assert len(panel.history) >= 3
        assert panel.latest.idle + panel.latest.running == 2  # the endpoint's two workers
        wait_until(lambda: "<polyline" in panel.html.value, 5, "the chart")
        html = panel.html.value
        for label in (
            "idle",
            "initializing",
            "ready",
            "running",
            "throttled",
            "unhealthy",
            "in queue",
            "in progress",
            "completed",
            "failed",
            "retried",
        ):
            assert f">{label}<" in html
        (shown,) = frontend.recorder.of_kind("display")
        assert WIDGET_VIEW in shown["data"] and "ui-echo" in shown["data"]["text/plain"]
    finally:
        panel.close()


def test_the_refresh_interval_can_be_changed_while_polling(frontend, endpoint, local_server):
    server_side = local_server.endpoint("ui-echo")
    panel = health_panel(endpoint("ui-echo"), interval=60)
    try:
        polls_seen(panel, 1)
        panel.interval_box.value = 0.5  # as the panel's own box would
        assert panel.interval == 0.5
        before = server_side.request_count("health")
        polls_seen(panel, 3, timeout=5)  # at 60 s this would time out
        assert server_side.request_count("health") >= before + 3
    finally:
        panel.close()


def test_closing_stops_polling_and_leaves_a_static_reading(frontend, endpoint, local_server):
    server_side = local_server.endpoint("ui-echo")
    panel = health_panel(endpoint("ui-echo"), interval=0.5)
    polls_seen(panel, 2)
    display_id = frontend.recorder.of_kind("display")[0]["display_id"]
    panel.stop_button.click()
    final = wait_until(
        lambda: (
            (m := frontend.recorder.latest_display(display_id))
            and m["kind"] == "update_display"
            and m
        ),
        5,
        "the static reading",
    )
    assert WIDGET_VIEW not in final["data"]
    assert (
        "workers: idle" in final["data"]["text/plain"] and "stopped" in final["data"]["text/plain"]
    )
    wait_until(lambda: panel._future.done(), 5, "the poller to end")
    count = server_side.request_count("health")
    panel._future.result(1)
    assert server_side.request_count("health") == count


def test_polling_stops_when_the_endpoint_is_gone(frontend, endpoint):
    panel = health_panel(endpoint("no-such-endpoint"), interval=0.5)
    wait_until(lambda: panel.closed, 10, "the panel to stop")
    assert "gone" in panel.stopped_because
    wait_until(lambda: panel._future.done(), 5, "the poller to end")
    polls = panel.polls
    assert polls == 1


def test_a_newer_panel_for_the_same_endpoint_stops_the_older_one(frontend, endpoint):
    first = health_panel(endpoint("ui-echo"), interval=0.5)
    second = health_panel(endpoint("ui-echo"), interval=0.5)
    try:
        wait_until(lambda: first._future.done(), 5, "the older poller to end")
        assert "newer health panel" in first.stopped_because
        assert not second.closed
    finally:
        second.close()


def test_one_off_health_is_a_static_table(frontend, endpoint, capsys):
    health = show_health(endpoint("ui-echo"), watch=False, interval=5, mode="headless")
    assert isinstance(health, Health)
    (shown,) = frontend.recorder.of_kind("display")
    assert WIDGET_VIEW not in shown["data"]
    assert "workers: idle" in shown["data"]["text/plain"] and "<table" in shown["data"]["text/html"]
    show_health(endpoint("ui-echo"), watch=False, interval=5, mode="terminal")
    assert "jobs:    in queue 0" in capsys.readouterr().out


def test_watch_outside_a_live_notebook_shows_one_reading_with_a_note(frontend, endpoint):
    show_health(endpoint("ui-echo"), watch=True, interval=5, mode="headless")
    (shown,) = frontend.recorder.of_kind("display")
    assert "--watch needs a live notebook" in shown["data"]["text/plain"]


@pytest.mark.parametrize("readings", [0, 1])
def test_chart_needs_two_readings(readings):
    history = [(float(i), Health.parse({"jobs": {"inQueue": i}})) for i in range(readings)]
    assert health_chart_svg(history) == ""


def test_chart_draws_one_line_per_series_scaled_to_the_highest_count():
    history = [
        (
            float(t),
            Health.parse({"workers": {"running": t % 3}, "jobs": {"inQueue": t, "inProgress": 1}}),
        )
        for t in range(0, 121, 10)
    ]
    svg = health_chart_svg(history)
    assert svg.count("<polyline") == 4
    assert ">120</text>" in svg  # the top of the scale is the highest count
    assert "−2 min" in svg
