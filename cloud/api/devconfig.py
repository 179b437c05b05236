"""PUT /v1/devices/{device}/config: the next signed desired config, as `gaitlink device
config set`, published retained on the cloud broker through the ingest's own MQTT link."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel

from gaitlink.cloud.api.errors import ApiError
from gaitlink.cloud.api.keystore import ApiKey
from gaitlink.cloud.ingest.keys import CONSUMER, DEVICES
from gaitlink.cloud.protocol.config import RemoteConfig
from gaitlink.cloud.registry.devices import DeviceError

PUBLISH_TIMEOUT_S = 10.0


class DesiredOut(BaseModel):
    device: str
    version: int
    issued: str
    config: dict
    # False: stored and queued, but the cloud broker did not acknowledge it in time; the
    # link sends it when the broker is back
    published: bool


class DeviceNotProvisioned(ApiError):
    status = 404
    code = "device_not_provisioned"


async def put_config(request: web.Request, key: ApiKey, device: str, body: RemoteConfig):
    try:
        desired = request.app[DEVICES].set_config(device, body.values())
    except DeviceError as exc:
        if "not provisioned" in str(exc):
            raise DeviceNotProvisioned(str(exc)) from None
        raise ApiError(str(exc), status=422, code="invalid_config") from None
    loop = asyncio.get_running_loop()
    acked = loop.create_future()

    def on_acked() -> None:  # paho's thread
        loop.call_soon_threadsafe(lambda: acked.done() or acked.set_result(True))

    request.app[CONSUMER].link.publish(
        f"gaitlink/v1/{device}/config/desired",
        desired.message(),
        qos=1,
        retain=True,
        on_acked=on_acked,
    )
    try:
        published = await asyncio.wait_for(acked, PUBLISH_TIMEOUT_S)
    except TimeoutError:
        published = False
    return DesiredOut(
        device=device,
        version=desired.version,
        issued=desired.issued,
        config=desired.values(),
        published=published,
    )
