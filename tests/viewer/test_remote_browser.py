"""The runs page of another machine, through ``ui --ssh``'s tunnel, in a real headless Chromium
(the sshd and the other machine's home as in tests/remote)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.remote.conftest import Remote, remote, sshd  # noqa: F401 - the fixtures
from tests.remote.test_ui_ssh import Ui

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_runs_page_through_the_tunnel_in_a_browser(remote: Remote, page: Any) -> None:  # noqa: F811
    remote.seed("baseline", n=1)
    remote.seed("tuned", n=2, keys=("loss", "acc", "lr"))
    ui = Ui(remote.start("ui", "--ssh", remote.host, "--no-open"))
    try:
        page.goto(ui.url)
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#runs-body tr").count() == 2
        page.click("text=tuned")
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector('.chart[data-key="lr"] canvas')
        assert page.locator(".chart").count() == 3
        assert page.console_errors == []
    finally:
        ui.stop()
