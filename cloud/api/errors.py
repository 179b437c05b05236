"""Domain errors of the API; the error middleware turns them into `{"error", "detail"}`."""

from __future__ import annotations


class ApiError(Exception):
    """An error the client can act on: `code` is stable, `detail` says what to do."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, status: int | None = None, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class DeviceNotFound(ApiError):
    status = 404
    code = "device_not_found"


class NoData(ApiError):
    status = 404
    code = "no_data"


class StoreUnavailable(ApiError):
    """InfluxDB does not answer or refuses: the client may retry later."""

    status = 503
    code = "store_unavailable"
