"""End to end in a real headless Chromium (Debian's chromium driven by Playwright).

Screenshots land in test-artifacts/viewer/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from backprop_core.events.event import Event
from backprop_core.store.records import RunStatus
from tests.conftest import wait_for

from .conftest import LiveServer, Seeder, screenshot

pytestmark = pytest.mark.browser


def chart_series(page: Any, key: str) -> int:
    return int(page.get_attribute(f'.chart[data-key="{key}"]', "data-series"))


def chart_points(page: Any, key: str) -> int:
    value = page.get_attribute(f'.chart[data-key="{key}"]', "data-points")
    return int(value) if value else 0


@pytest.mark.slow
def test_runs_table_lists_runs_from_the_store(
    page: Any, live_server: LiveServer, seed: Seeder
) -> None:
    ids = [seed.run(f"baseline-{i}", tags={"lr": f"0.{i}"}) for i in range(3)]
    seed.run("tuned", status=RunStatus.RUNNING, gpus=["0"])
    page.goto(live_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    rows = page.locator("#runs-body tr")
    assert rows.count() == 4
    assert page.locator("#runs-body tr").first.get_attribute("data-id") != ids[0]  # newest first
    assert page.locator("text=baseline-1").count() == 1
    assert page.locator(".badge.running").count() == 1
    # selecting two runs enables comparing them
    page.check(f'input.pick[value="{ids[0]}"]')
    assert page.is_disabled("#compare-btn")
    page.check(f'input.pick[value="{ids[1]}"]')
    assert page.is_enabled("#compare-btn")
    screenshot(page, "runs")
    page.click("#compare-btn")
    page.wait_for_url("**/compare?ids=*")
    assert page.console_errors == []


@pytest.mark.slow
def test_run_page_draws_one_chart_per_metric(
    page: Any, live_server: LiveServer, seed: Seeder
) -> None:
    run_id = seed.run("baseline", steps=300, keys=("loss", "acc", "lr"))
    page.goto(f"{live_server.url}/runs/{run_id}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator(".chart").count() == 3
    for key in ("loss", "acc", "lr"):
        assert chart_series(page, key) == 1
        assert chart_points(page, key) == 300
        assert page.locator(f'.chart[data-key="{key}"] canvas').count() == 1
    assert "epoch 19" in page.inner_text("#log")
    # smoothing and log scale redraw without errors
    page.fill("#smoothing", "0.6")
    page.dispatch_event("#smoothing", "input")
    page.check("#logscale")
    assert chart_series(page, "loss") == 1
    page.uncheck("#logscale")
    page.fill("#smoothing", "0")
    page.dispatch_event("#smoothing", "input")
    # hovering shows values in the legend
    box = page.locator('.chart[data-key="loss"] .u-over').bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend = page.inner_text('.chart[data-key="loss"] .u-legend')
    assert "—" not in legend.split("loss")[-1][:8]
    screenshot(page, "run")
    assert page.console_errors == []


# For each chart on the page: how many pixels of the series' colour the canvas holds, the
# "(N points)" caption, and how many pixels the longest y tick label overflows its axis.
CHART_FACTS = """
() => bp.charts.all.map((c) => {
  const u = c.plot, ctx = u.ctx, axis = u.axes[1];
  const img = ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < img.length; i += 4) {
    if (img[i] < 90 && img[i + 1] < 140 && img[i + 2] > 200 && img[i + 3] > 200) coloured++;
  }
  ctx.font = axis.font[0];
  const widths = axis._values.map((v) => ctx.measureText(String(v)).width);
  const widest = Math.max(...widths) / devicePixelRatio;
  return {
    key: c.key,
    coloured: coloured,
    caption: c.el.querySelector(".total").textContent,
    overflow: widest + axis.ticks.size + axis.gap - axis._size,
  };
})
"""


def test_charts_draw_one_or_two_points_and_show_tiny_values_unclipped(
    page: Any, live_server: LiveServer, seed: Seeder
) -> None:
    run_id = seed.run("short", steps=0, keys=())
    t = time.time()
    seed.store.append_events(
        run_id,
        [
            Event("metrics", t, 0, {"data": {"one": 0.5, "two": 1.0, "tiny": -8e-4}}),
            Event("metrics", t + 1, 1, {"data": {"two": 0.8, "tiny": 8e-4}}),
            Event("metrics", t + 2, 2, {"data": {"tiny": -6e-4}}),
        ],
    )
    page.goto(f"{live_server.url}/runs/{run_id}")
    page.wait_for_selector("body[data-ready=true]")
    facts = {f["key"]: f for f in page.evaluate(CHART_FACTS)}
    assert facts["one"]["caption"] == "(1 point)" and facts["two"]["caption"] == "(2 points)"
    for key in ("one", "two", "tiny"):
        assert facts[key]["coloured"] > 20, f"the {key} chart drew nothing"
        assert facts[key]["overflow"] <= 0, f"the {key} chart clips its y labels"
    screenshot(page, "run-short")
    assert page.console_errors == []


def test_log_pane_shows_colours_and_never_raw_escape_bytes(
    page: Any, live_server: LiveServer, seed: Seeder
) -> None:
    run_id = seed.run("coloured", steps=10)
    log = seed.home / "runs" / run_id / "session-1.log"
    log.write_bytes(
        b"\x1b[32mgreen ok\x1b[0m then plain\n"
        b"\x1b[1;31mbold red\x1b[0m\n"
        # A log written before frames were collapsed: raw frames, cursor moves, a title.
        b"\x1b[?25l 10%|#   |\r 50%|##  |\r100%|####|\x1b[A\x1b[2K\x1b]0;title\x07\n"
        b"<script>window.pwned = 1</script> & <b>not bold</b>\n"
    )
    page.goto(f"{live_server.url}/runs/{run_id}")
    page.wait_for_selector("body[data-ready=true]")
    text = page.inner_text("#log")
    assert "green ok then plain" in text and "bold red" in text
    assert "100%|####|" in text and "10%|#" not in text
    assert "\x1b" not in text and "[A" not in text and "[2K" not in text and "title" not in text
    assert "[?25l" not in text
    green = page.locator("#log span", has_text="green ok")
    assert green.count() == 1 and green.evaluate("e => e.style.color") == "rgb(74, 222, 128)"
    bold = page.locator("#log span", has_text="bold red")
    assert bold.evaluate("e => e.style.fontWeight") == "bold"
    # Log text is text: markup in it is shown, never run or rendered.
    assert "<script>window.pwned = 1</script> & <b>not bold</b>" in text
    assert page.evaluate("window.pwned") is None
    assert page.locator("#log script, #log b").count() == 0
    screenshot(page, "log-colours")
    assert page.console_errors == []


def test_compare_page_overlays_two_runs(page: Any, live_server: LiveServer, seed: Seeder) -> None:
    a = seed.run("small-lr", steps=120)
    b = seed.run("big-lr", steps=80)
    page.goto(f"{live_server.url}/compare?ids={a},{b}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#legend li").count() == 2
    for key in ("loss", "acc"):
        assert chart_series(page, key) == 2
    assert "small-lr" in page.inner_text('.chart[data-key="loss"] .u-legend')
    assert "big-lr" in page.inner_text('.chart[data-key="loss"] .u-legend')
    screenshot(page, "compare")
    assert page.console_errors == []


def test_machine_page_shows_gpus_and_their_runs(
    page: Any, live_server: LiveServer, seed: Seeder
) -> None:
    seed.run("on-gpu0", status=RunStatus.RUNNING, gpus=["0"])
    page.goto(f"{live_server.url}/machine")
    page.wait_for_selector(".gpu")
    assert page.locator(".gpu").count() == 2
    assert "on-gpu0" in page.inner_text('.gpu[data-index="0"]')
    assert "free" in page.inner_text('.gpu[data-index="1"]')
    assert "trainbox" in page.inner_text("#host")
    screenshot(page, "machine")
    assert page.console_errors == []


@pytest.mark.slow
def test_empty_and_error_states(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert "No runs yet" in page.inner_text("main")
    screenshot(page, "empty")
    assert page.console_errors == []
    response = page.goto(live_server.url + "/runs/does-not-exist")
    assert response.status == 404
    assert "does-not-exist" in page.inner_text("main")
    screenshot(page, "not-found")


TRAIN = textwrap.dedent(
    """
    import json, math, sys, time
    for step in range(int(sys.argv[1])):
        event = {"event": "metrics", "step": step, "data": {"loss": math.exp(-step / 30)}}
        print(json.dumps(event), flush=True)
        print(f"step {step} done", flush=True)
        time.sleep(0.1)
    """
)


@pytest.mark.slow
def test_run_started_with_backprop_run_appears_and_grows_live(
    page: Any, live_server: LiveServer, home: Path, tmp_path: Path, seed: Seeder
) -> None:
    seed.run("older")
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    page.goto(live_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    env = {**os.environ, "BACKPROP_HOME": str(home), "BACKPROP_GPU__PROBE": "none"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backprop_core.cli",
            "run",
            "-n",
            "live-e2e",
            "-m",
            "2",
            str(script),
            "150",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        # the new run appears in the open table without a reload
        row = page.locator('#runs-body tr:has-text("live-e2e")')
        row.wait_for(timeout=30_000)
        page.wait_for_selector('#runs-body tr:has-text("live-e2e") .badge.running', timeout=30_000)
        assert page.inner_text("#range") == "Runs 1\u20132 of 2"
        screenshot(page, "runs-live")
        row.locator("td.name a").click()
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector('.chart[data-key="loss"]', timeout=30_000)
        first = chart_points(page, "loss")
        wait_for(
            lambda: chart_points(page, "loss") >= first + 10,
            30,
            "the chart to grow",
            ignore=(Exception,),
        )
        wait_for(
            lambda: "step 20 done" in page.inner_text("#log"),
            30,
            "new log lines",
            ignore=(Exception,),
        )
        screenshot(page, "run-live")
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        page.wait_for_selector("#run-status.completed", timeout=30_000)
        assert chart_points(page, "loss") == 150
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert page.console_errors == []


@pytest.mark.slow
def test_token_url_opens_every_page_and_its_data(page: Any, home: Path, seed: Seeder) -> None:
    """On a token-protected viewer the printed URL is enough: the cookie it sets carries the
    token for the pages' own API calls and event streams."""
    run_id = seed.run("guarded", steps=40)
    server = LiveServer(home, token="tok-123")
    try:
        denied = page.goto(f"{server.url}/runs/{run_id}")
        assert denied.status == 401
        page.goto(f"{server.url}/?token=tok-123")
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#runs-body tr").count() == 1
        page.goto(f"{server.url}/runs/{run_id}")
        page.wait_for_selector('.chart[data-key="loss"] canvas')
        assert chart_points(page, "loss") == 40
    finally:
        server.stop()
    assert [e for e in page.console_errors if "401" not in e] == []
