"""Settings of the ingest service, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from gaitlink.cloud.influx.client import InfluxSettings
from gaitlink.cloud.ingest.devices import DeviceProfile
from gaitlink.cloud.ingest.validate import DEFAULT_NOT_BEFORE, TimeLimits


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: str | None = Field(None, repr=False)
    # TLS to the cloud broker, verified against this CA (None: the system's CAs).
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = None
    # The MQTT session name: a restarted ingest with the same id resumes its session and
    # receives what the broker queued meanwhile.
    client_id: str = Field("gaitlink-ingest", min_length=1, max_length=64)
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "gaitlink"
    influx_username: str | None = None
    influx_password: str | None = Field(None, repr=False)
    influx_token: str | None = Field(None, repr=False)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    # The dead-letter store (deadletter.py): a directory, bounded in bytes in all and per
    # device; payloads are kept up to the cap, with their length and sha256.
    dead_letter_path: Path = Path(".gaitlink/dead-letters")
    dead_letter_max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    dead_letter_max_bytes_per_device: int = Field(8 * 1024 * 1024, gt=0)
    dead_letter_payload_max_bytes: int = Field(64 * 1024, ge=0)
    # Stage-3 time checks (validate.py): data ending more than this ahead of the ingest's
    # clock, or starting before `not_before` (or the device's provisioning date), is a
    # `time_out_of_range` dead letter.
    max_future_s: float = Field(300.0, gt=0)
    not_before: AwareDatetime = DEFAULT_NOT_BEFORE
    # Dedup (sequence.py): a seq more than this much device time ahead of the window, or
    # whose t0 is further than the tolerance off the device's timeline, is a `seq_jump`.
    seq_horizon_s: float = Field(600.0, gt=0)
    seq_t0_tolerance_s: float = Field(60.0, gt=0)
    # Devices come from the registry (`registry_path`). A device it lacks is refused
    # (dead letter `unprovisioned`) unless this profile is given for such devices: for test
    # rigs and benchmarks that stream from ids nobody provisioned.
    accept_unprovisioned: DeviceProfile | None = None
    # Gait segmentation of every device's stream (docs/gait.md); off = raw data only.
    gait: bool = True
    # A batch is what arrived while the previous write ran, up to this many messages.
    # Each batch in flight holds its text about three times over (per message, joined,
    # encoded): 200 frames of 50 samples are 10 000 lines, ~1 MB each time. At 500 the
    # batches in flight were ~30 MB of the ingest's peak RSS, and no faster.
    batch_max_messages: int = Field(200, ge=1)
    # Batches written to InfluxDB at once while the next is transformed. The broker must
    # let that many batches' messages be unacked (mosquitto `max_inflight_messages`, 20 by
    # default: see docs/stack.md), or the batches stay small and the writes few.
    writes_in_flight: int = Field(4, ge=1, le=64)
    # Bound of the hand-off queue from the MQTT thread; see consumer.py for why it holds.
    queue_max_messages: int = Field(10_000, ge=1)
    # -- HTTP API (docs/api.md) --
    # Hashes of the API keys (`gaitlink apikey`); without the file every /v1 route says 401.
    api_keys_file: Path = Path(".gaitlink/api-keys.json")
    # Devices and recording sessions: SQLite, see cloud/registry.
    registry_path: Path = Path(".gaitlink/registry.sqlite3")
    # Firmware releases (`gaitlink firmware release`), served to devices taking an update.
    firmware_dir: Path = Path(".gaitlink/firmware")
    # /metrics is open by default (a scraper on a private network); true: admin key only.
    metrics_require_key: bool = False
    # A device is offline when nothing came from it for this long.
    offline_after_s: float = Field(60.0, gt=0)
    # How long POST /v1/data/ingest waits for InfluxDB before answering 503.
    http_write_timeout_s: float = Field(10.0, gt=0)
    # Per WebSocket client: messages held for it; past that the oldest are dropped.
    stream_queue_max: int = Field(256, ge=1)
    stream_max_clients: int = Field(64, ge=1)
    # WebSocket ping interval; a client silent for 1.5 of them is closed as dead.
    stream_heartbeat_s: float = Field(30.0, gt=0)
    # HTTPS served by the ingest itself (cloud/api/tls.py); None: plain HTTP.
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @field_validator("influx_url")
    @classmethod
    def _no_credentials_in_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                f"InfluxDB URL for {parts.hostname}: no credentials in the URL (argv and logs "
                "are readable by others); use --influx-user and --influx-password-file"
            )
        return url

    def time_limits(self) -> TimeLimits:
        return TimeLimits(max_future_s=self.max_future_s, not_before=self.not_before)

    def influx(self) -> InfluxSettings:
        return InfluxSettings(
            url=self.influx_url,
            database=self.influx_database,
            username=self.influx_username,
            password=self.influx_password,
            token=self.influx_token,
        )
