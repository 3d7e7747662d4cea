"""The Artifacts page, the artifacts on a run's page and the lineage graph, in a real headless
Chromium. Screenshots land in test-artifacts/viewer/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .artifact_seed import seed_chain
from .conftest import LiveServer, Seeder, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def labels(page: Any) -> list[str]:
    return [
        str(row.get_attribute("data-label"))
        for row in page.locator("#artifacts-table tbody tr").all()
    ]


def test_artifacts_page_lists_versions_and_filters_by_type(
    page: Any, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    chain = seed_chain(seed, tmp_path)
    page.goto(live_server.url + "/artifacts")
    page.wait_for_selector("body[data-ready=true]")
    assert labels(page) == ["classifier:v0", "mnist:v0", "report:v0"]
    row = page.locator('tr[data-label="classifier:v0"]')
    assert "best" in row.inner_text() and "12.0 kB" in row.inner_text()
    assert row.locator(f'a[href="/runs/{chain.train}"]').count() == 1
    screenshot(page, "artifacts")
    page.select_option("#type-filter", "dataset")  # filters at once
    page.wait_for_url("**/artifacts?type=dataset")
    page.wait_for_selector("body[data-ready=true]")
    assert labels(page) == ["mnist:v0"]
    assert page.inner_text("#artifact-count") == "1 version of type dataset"
    page.click('a[href="/artifacts/mnist/v0"]')
    page.wait_for_selector("#artifact-files")
    assert "train/images.bin" in page.inner_text("#artifact-files")
    assert chain.train in page.inner_text("#used-by")
    # two steps each way: prep made it; train read it and made classifier and report
    assert page.locator("#lineage-graph .node").count() == 5
    screenshot(page, "artifact")
    assert page.console_errors == []


def test_run_page_shows_the_artifacts_it_read_and_made(
    page: Any, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    chain = seed_chain(seed, tmp_path)
    page.goto(f"{live_server.url}/runs/{chain.train}")
    page.wait_for_selector("body[data-ready=true]")
    rows = page.locator("#run-artifacts tbody tr")
    assert [r.get_attribute("data-label") for r in rows.all()] == [
        "mnist:v0",
        "classifier:v0",
        "report:v0",
    ]
    read = page.locator("#run-artifacts tr.input").inner_text()
    assert read.startswith("read") and "dataset" in read and "3.0 kB" in read
    assert "best" in page.locator('tr.output[data-label="classifier:v0"]').inner_text()
    screenshot(page, "run-artifacts")
    page.click("#run-lineage")
    page.wait_for_selector("#lineage-graph")
    assert page.locator(".node.focus").get_attribute("data-id") == f"run:{chain.train}"
    assert page.console_errors == []


def test_lineage_graph_is_clicked_through_from_node_to_node(
    page: Any, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    chain = seed_chain(seed, tmp_path)
    page.goto(f"{live_server.url}/lineage?node=artifact:classifier:v0")
    page.wait_for_selector("#lineage-graph")
    ids = {n.get_attribute("data-id") for n in page.locator("#lineage-graph .node").all()}
    assert ids == {
        f"run:{chain.prep}",
        "artifact:mnist:v0",
        f"run:{chain.train}",
        "artifact:classifier:v0",
        f"run:{chain.eval}",
    }  # not report:v0: made beside it, neither upstream nor downstream of it
    assert page.locator("#lineage-graph path.edge").count() == 4

    # upstream is drawn left of the focus, downstream right of it
    def x(node: str) -> float:
        return float(page.locator(f'.node[data-id="{node}"] rect').get_attribute("x"))

    assert x(f"run:{chain.prep}") < x(f"run:{chain.train}") < x("artifact:classifier:v0")
    assert x("artifact:classifier:v0") < x(f"run:{chain.eval}")
    screenshot(page, "lineage")
    page.click(f'.node[data-id="run:{chain.prep}"]')
    page.wait_for_url("**/lineage?node=run*")
    assert page.locator(".node.focus").get_attribute("data-id") == f"run:{chain.prep}"
    assert page.inner_text("h1") == "Lineage of prep"
    page.click("#focus-page")
    page.wait_for_url(f"**/runs/{chain.prep}")
    assert page.console_errors == []
