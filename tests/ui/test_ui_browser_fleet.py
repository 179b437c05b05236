"""The fleet page live in a real Chromium against the real stack: a firmware (MicroPython)
that starts after the page opened appears without a reload, with battery, RSSI, samples/s
and frames/s from the stream; a device without battery or RSSI shows "—"; the table fits a
1280 px window; an admin sets a config from the device page (errors next to the field); a
session's parquet export downloads from the session page and opens with pyarrow."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceStore
from gaitlink.tools import device as firmware
from gaitlink.tools import services
from tests.api.service import api_service
from tests.ui.browser import chromium, screenshot
from tests.ui.browser import until as _until

LATE = "ui-late"  # firmware started after the page opened
BARE = "ui-bare"  # posts env telemetry without battery or RSSI
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def service(stack, tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("ui-fleet")
    with api_service(stack, state_dir) as api:
        # Provisioned in the ingest's registry, so the admin can set its config.
        DeviceStore(open_registry(state_dir / "registry.sqlite3")).provision(LATE, "foot", "left")
        gateway = services.gateway(stack, state_dir)
        gateway.start()
        api.state_dir = state_dir
        try:
            yield api
        finally:
            gateway.stop()


def _cell(row, name: str) -> str:
    # Values keep their unit with a no-break space (the table may wrap other spaces).
    return row.locator(f"td.{name}").inner_text().replace("\xa0", " ")


def _bare_env(api) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = {"device_id": BARE, "timestamp": now,
            "sensor_data": {"temperature": {"value": 21.5, "unit": "°C", "quality": "good"}},
            "device_status": {"firmware_version": "test-1"}}  # fmt: skip
    status, _, answer = api.call("/v1/data/ingest", key="admin", method="POST", body=body)
    assert status == 200, answer


@pytest.mark.e2e
@pytest.mark.micropython
def test_ui_fleet__late_device_live_battery_rssi_rate_layout_config_export(
    stack, service, tmp_path
) -> None:
    api = service
    base = f"http://127.0.0.1:{api.port}/ui/"
    with chromium(tmp_path / "profile") as browser:
        page = browser.new_page()
        page.goto(base)
        page.fill("#key", api.keys["admin"])
        page.click("#login button")
        page.wait_for_selector("#who:has-text('admin')")
        page.wait_for_selector("#fleet thead")
        page.wait_for_selector("#link:has-text('live')")
        assert page.locator(f'tr[data-device="{LATE}"]').count() == 0

        # -- a device that first appears now shows without a reload --
        run = firmware.start_device(
            LATE, stack.host, stack.site_port, seed=2, state_dir=api.state_dir / "devices",
            extra=stack.add_device(LATE).device_fields(),
        )  # fmt: skip
        try:
            row = page.locator(f'tr[data-device="{LATE}"]')
            row.locator("td.online").wait_for(timeout=90_000)
            # frames/s from the stream's sample counts, long before a second status report
            # (status_period_s is 60): 100 Hz in frames of 50 is 2 frames/s.
            _until("samples/s and frames/s", lambda: NUMBER.match(_cell(row, "frames-per-s")), 30)
            assert 50 <= float(_cell(row, "samples-per-s")) <= 250, _cell(row, "samples-per-s")
            assert 0.5 <= float(_cell(row, "frames-per-s")) <= 5, _cell(row, "frames-per-s")
            # The simulated board reports a battery and -55 dBm every env_period_s (10 s).
            _until("battery", lambda: re.match(r"^\d+ %$", _cell(row, "battery")), 30)
            assert _cell(row, "rssi") == "-55 dBm"

            # -- a device without battery or RSSI: "—", also arriving live --
            _bare_env(api)
            bare = page.locator(f'tr[data-device="{BARE}"]')
            bare.wait_for(timeout=30_000)
            _until("the bare device's row", lambda: "online" in bare.inner_text(), 30)
            assert _cell(bare, "battery") == "—" and _cell(bare, "rssi") == "—"
            assert _cell(bare, "frames-per-s") == "—"  # it sends no IMU data

            # -- 1280 px wide: the last column is inside the table's box and the window --
            page.set_viewport_size({"width": 1280, "height": 900})
            page.wait_for_timeout(300)
            last = page.locator("#fleet thead th").last.bounding_box()
            box = page.locator("#fleet").evaluate(
                "t => { const s = t.parentElement; const r = s.getBoundingClientRect();"
                " return {right: r.right, scroll: s.scrollWidth, client: s.clientWidth}; }"
            )
            assert last["x"] + last["width"] <= min(box["right"], 1280) + 0.5, (last, box)
            assert box["scroll"] <= box["client"], box  # nothing hidden to scroll to
            screenshot(page, tmp_path, "ui-fleet-1280")

            # -- device page: battery, RSSI and rates; the admin's config form --
            # The fleet re-sorts its rows live (attention first), so a click can land on a
            # row that just moved (the form once never came): check the link, then follow it.
            link = page.locator(f'tr[data-device="{LATE}"] a[href="#/device/{LATE}"]')
            assert link.count() == 1
            page.evaluate("(hash) => { location.hash = hash; }", f"#/device/{LATE}")
            form = page.locator("#config-form")
            form.wait_for(timeout=30_000)
            _until("device figures", lambda: NUMBER.match(
                page.locator('[data-figure="frames/s"] b').inner_text()), 30)  # fmt: skip
            assert page.locator('[data-figure="RSSI"] b').inner_text() == "-55 dBm"
            form.locator('input[name="rate_hz"]').fill("33")
            form.locator("button").click()
            error = form.locator('[data-error-for="rate_hz"]')
            error.wait_for(timeout=10_000)
            _until("the rate_hz error", lambda: "divide 1000" in error.inner_text(), 10)
            assert [p for p in browser.problems if "422" not in p] == []
            browser.problems.clear()  # the 422 just provoked is logged as a failed load
            form.locator('input[name="rate_hz"]').fill("")
            form.locator('input[name="env_period_s"]').fill("5")
            form.locator("button").click()
            desired = page.locator('#config tr[data-setting="env_period_s"] td.desired')
            _until("the desired config shown", lambda: desired.inner_text() == "5", 15)
            assert "/ v1" in page.locator("#config-sync").inner_text()
            assert form.locator('[data-error-for="rate_hz"]').inner_text() == ""
            screenshot(page, tmp_path, "ui-device-config")

            # -- sessions: record one, stop it, download its parquet export --
            page.click('a[href="#/sessions"]')
            page.wait_for_selector(
                f'#start-session select[name="device"] option[value="{LATE}"]', state="attached"
            )
            page.fill('#start-session input[name="subject"]', "UIX1_AB01")
            page.select_option('#start-session select[name="device"]', LATE)
            page.click("#start-session button")
            open_row = page.locator('#sessions tr[data-open="true"]', has_text="UIX1_AB01")
            open_row.wait_for(timeout=15_000)
            session_id = open_row.get_attribute("data-session")
            cycles = open_row.locator("td.cycles")
            _until("cycles in the open session", lambda: int(cycles.inner_text()) >= 3, 90)
            page.wait_for_timeout(3000)  # let the ingest write what it holds
            open_row.locator("button").click()
            done = page.locator(f'#sessions tr[data-session="{session_id}"][data-open="false"]')
            done.wait_for(timeout=15_000)
            with page.expect_download(timeout=60_000) as download:
                done.locator("a.export-phase").click()
            path = tmp_path / "export_phase.parquet"
            download.value.save_as(path)
        finally:
            run.kill()
        table = pq.read_table(path)
        assert table.column_names[:6] == [
            "subject", "task", "task_id", "task_info", "step", "phase_ipsi",
        ]  # fmt: skip
        assert len(table.column_names) == 12 and table.num_rows >= 150
        assert set(table.column("subject").to_pylist()) == {"UIX1_AB01"}
        assert browser.problems == [], json.dumps(browser.problems)
