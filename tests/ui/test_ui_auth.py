"""/ui log-in, cookie and CSRF on the real ingest process (no browser needed)."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from tests.api.service import api_service


@pytest.fixture(scope="module")
def api(stack, tmp_path_factory):
    with api_service(stack, tmp_path_factory.mktemp("ui-auth")) as api:
        yield api


def _login(api, key: str):
    return api.call("/ui/login", method="POST", body={"key": api.keys.get(key, key)})


def _session(api, role: str = "researcher") -> tuple[dict, str]:
    status, headers, body = _login(api, role)
    assert status == 200, body
    cookie = SimpleCookie(headers["set-cookie"])["gaitlink_ui"]
    return {"Cookie": f"gaitlink_ui={cookie.value}"}, body["csrf"]


def test_ui_login__wrong_or_device_key_refused(api) -> None:
    status, headers, body = _login(api, "glk_0000_notakey")
    assert status == 401 and "set-cookie" not in headers, body
    status, headers, body = _login(api, "device")
    assert status == 403 and "role" in body["detail"] and "set-cookie" not in headers
    status, _, body = api.call("/ui/login", method="POST", body=b"key=x")
    assert status == 422


def test_ui_login__cookie_is_httponly_strict_and_scoped(api) -> None:
    status, headers, body = _login(api, "researcher")
    assert status == 200 and body["role"] == "researcher" and len(body["csrf"]) >= 32
    morsel = SimpleCookie(headers["set-cookie"])["gaitlink_ui"]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/ui"
    assert api.keys["researcher"] not in headers["set-cookie"]


def test_ui_api__needs_the_cookie(api) -> None:
    cookie, _ = _session(api)
    assert api.call("/ui/api/v1/sessions")[0] == 401
    assert api.call("/ui/api/v1/sessions", headers={"Cookie": "gaitlink_ui=forged"})[0] == 401
    status, _, body = api.call("/ui/api/v1/sessions", headers=cookie)
    assert status == 200 and "sessions" in body
    # Admin-only routes check the session's role as /v1 checks a key's.
    assert api.call("/ui/api/v1/stats", headers=cookie)[0] == 403
    admin, _ = _session(api, "admin")
    assert api.call("/ui/api/v1/stats", headers=admin)[0] == 200
    # What only devices call (ingest) and the OpenAPI document are not for pages.
    assert api.call("/ui/api/v1/openapi.json", headers=admin)[0] == 404


def test_ui_api__admin_config_put_needs_csrf(api) -> None:
    admin, csrf = _session(api, "admin")
    path = "/ui/api/v1/devices/ui-auth-02/config"
    body = {"status_period_s": 30}
    status, _, answer = api.call(path, method="PUT", body=body, headers=admin)
    assert status == 403 and "X-CSRF-Token" in answer["detail"]
    good = {**admin, "X-CSRF-Token": csrf}
    # Through to the view: this device was never provisioned.
    status, _, answer = api.call(path, method="PUT", body=body, headers=good)
    assert status == 404 and answer["error"] == "device_not_provisioned", answer
    researcher, rcsrf = _session(api)
    assert api.call(path, method="PUT", body=body,
                    headers={**researcher, "X-CSRF-Token": rcsrf})[0] == 403  # fmt: skip


def test_ui_api__state_change_needs_csrf_and_same_origin(api) -> None:
    cookie, csrf = _session(api)
    start = {"subject": "UIAUTH_AB01", "task": "level_walking", "device": "ui-auth-01",
             "placement": "foot", "side": "left"}  # fmt: skip
    status, _, body = api.call("/ui/api/v1/sessions", method="POST", body=start, headers=cookie)
    assert status == 403 and "X-CSRF-Token" in body["detail"]
    wrong = {**cookie, "X-CSRF-Token": "x" * len(csrf)}
    assert api.call("/ui/api/v1/sessions", method="POST", body=start, headers=wrong)[0] == 403
    foreign = {**cookie, "X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert api.call("/ui/api/v1/sessions", method="POST", body=start, headers=foreign)[0] == 403
    good = {**cookie, "X-CSRF-Token": csrf}
    status, _, started = api.call("/ui/api/v1/sessions", method="POST", body=start, headers=good)
    assert status == 201, started
    stop = f"/ui/api/v1/sessions/{started['id']}/stop"
    status, _, stopped = api.call(stop, method="POST", body={}, headers=good)
    assert status == 200 and stopped["end_us"] is not None
    # Log out: the cookie is dead afterwards.
    assert api.call("/ui/logout", method="POST", body={}, headers=good)[0] == 200
    assert api.call("/ui/api/v1/sessions", headers=cookie)[0] == 401


def test_ui_pages__served_with_csp_and_vendored_uplot(api) -> None:
    status, headers, page = api.call("/ui/")
    assert status == 200 and '<script type="module" src="/ui/static/js/app.js">' in page
    assert "default-src 'self'" in headers["content-security-policy"]
    status, _, lib = api.call("/ui/static/vendor/uplot/uPlot.esm.js")
    assert status == 200 and "export { uPlot as default }" in lib
    status, _, licence = api.call("/ui/static/vendor/uplot/LICENSE")
    assert status == 200 and "MIT" in licence
    assert api.call("/ui/static/../routes.py")[0] == 404
    assert api.call("/ui/session")[2] == {"logged_in": False}
