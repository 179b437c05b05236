"""`gaitlink device provision|config set|show`: devices in the registry, their signed
desired configs, and whether each runs what it should.

`config set` stores the next version in the registry, signs it with the device's key and
publishes it retained on the cloud broker; the gateway relays it to the site broker, so a
device that is offline now gets it when it connects. `show` reads what the device
reported (retained on the cloud broker), records it in the registry and compares.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from gaitlink.secrets import add_login_options, login_from, write_secret
from gaitlink.tools.stack.state import default_state_dir

PREFIX = "gaitlink/v1/"
WIFI_PLACEHOLDER = "FILL-IN"
_OPERATOR_ENV = "GAITLINK_OPERATOR_MQTT"


class _Refused(Exception):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    prov = sub.add_parser("provision", help="register a device, make its key and device file")
    prov.add_argument("id", metavar="ID", help="device id, e.g. gl-0001")
    prov.add_argument("--placement", required=True, choices=("foot", "shank", "lower_back"))
    prov.add_argument("--side", default="", choices=("", "left", "right"), help="foot/shank")
    prov.add_argument(
        "--broker",
        default="gaitlink-gw.local:1883",
        help="site broker as the board reaches it, host:port (default gaitlink-gw.local:1883)",
    )
    prov.add_argument(
        "--out", type=Path, default=None, help="device file (default STATE/provisioned/ID.json)"
    )
    prov.set_defaults(func=_provision)

    imp = sub.add_parser("import", help="provision the devices of an ingest --devices file")
    imp.add_argument("file", type=Path, help="JSON: {id: {placement, axis_map}}")
    imp.add_argument("--broker", default="gaitlink-gw.local:1883",
                     help="site broker as the boards reach it, host:port")  # fmt: skip
    imp.set_defaults(func=_import)

    config = sub.add_parser("config", help="desired configuration of a device")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cset = config_sub.add_parser("set", help="sign and publish the next config version")
    cset.add_argument("id", metavar="ID")
    cset.add_argument("values", nargs="+", metavar="KEY=VALUE", help="e.g. rate_hz=50")
    _cloud_argument(cset)
    cset.set_defaults(func=_config_set)
    push = config_sub.add_parser("push", help="publish the latest version again")
    push.add_argument("id", metavar="ID")
    _cloud_argument(push)
    push.set_defaults(func=_config_push)

    show = sub.add_parser("show", help="desired vs reported config, last seen")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="one JSON object")
    _cloud_argument(show)
    show.set_defaults(func=_show)

    for p in (prov, imp, cset, push, show):
        p.add_argument(
            "--registry",
            default=None,
            help="registry database (default STATE_DIR/registry.sqlite3; $GAITLINK_STATE_DIR)",
        )


def _cloud_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cloud",
        default=os.environ.get("GAITLINK_CLOUD_MQTT_URL", "127.0.0.1:1884"),
        help="cloud broker, host:port (default $GAITLINK_CLOUD_MQTT_URL)",
    )
    # The operator's account: writes the downlink, reads the devices' reports and status.
    add_login_options(p, "cloud", _OPERATOR_ENV, "cloud broker (operator)")
    p.add_argument(
        "--cloud-ca",
        default=os.environ.get("GAITLINK_CLOUD_MQTT_CA"),
        help="CA certificate that signed the cloud broker's (default $GAITLINK_CLOUD_MQTT_CA)",
    )


def _store(args: argparse.Namespace):
    from gaitlink.cloud.registry.db import FILENAME, open_registry
    from gaitlink.cloud.registry.devices import DeviceStore

    path = Path(args.registry) if args.registry else default_state_dir() / FILENAME
    return DeviceStore(open_registry(path))


def _endpoint(args: argparse.Namespace):
    from gaitlink.mqtt.endpoint import Endpoint

    try:
        return (
            Endpoint.parse(args.cloud, what="--cloud")
            .with_login(*login_from(args, "cloud", _OPERATOR_ENV, "cloud broker"))
            .with_ca(args.cloud_ca)
        )
    except ValueError as exc:  # also an exposed or missing password file
        raise _Refused(str(exc)) from None


def _guarded(func):
    # every refusal is one line and exit 2, never a traceback
    def run(args: argparse.Namespace) -> int:
        from gaitlink.cloud.registry.db import RegistryError
        from gaitlink.cloud.registry.devices import DeviceError
        from gaitlink.mqtt.link import LinkError
        from gaitlink.tools.stack import StackError

        try:
            return func(args)
        except (_Refused, DeviceError, RegistryError, LinkError, StackError, OSError) as exc:
            print(f"gaitlink device: {exc}", file=sys.stderr)
            return 2

    return run


def device_file(device, broker: str, login: dict) -> dict:
    """The board's device.json (firmware/config.py): identity, key, broker, Wi-Fi to fill."""
    from gaitlink.mqtt.endpoint import Endpoint

    site = Endpoint.parse(broker, what="--broker")
    return {
        "device_id": device.id,
        "device_key": device.key.hex(),
        "broker_host": site.host,
        "broker_port": site.port,
        "mqtt_user": login.get("mqtt_user"),
        "mqtt_password": login.get("mqtt_password"),
        "wifi_ssid": WIFI_PLACEHOLDER,
        "wifi_password": WIFI_PLACEHOLDER,
        "axis_map": device.axis_map,
    }


def provisioned_path(device_id: str) -> Path:
    return default_state_dir() / "provisioned" / f"{device_id}.json"


def _check_broker(url: str) -> None:
    # Before anything is written: a device file with a broker it cannot parse is useless.
    from gaitlink.mqtt.endpoint import Endpoint

    try:
        Endpoint.parse(url, what="--broker")
    except ValueError as exc:
        raise _Refused(str(exc)) from None


@_guarded
def _provision(args: argparse.Namespace) -> int:
    _check_broker(args.broker)
    from gaitlink.tools.stack import Stack

    store = _store(args)
    device = store.provision(args.id, args.placement, args.side)
    # Its account on the site broker of the stack in the state dir (`gaitlink broker
    # add-device`); a running broker reloads and takes the device at once.
    login = Stack(default_state_dir()).add_device(device.id).device_fields()
    out = args.out or provisioned_path(device.id)
    write_secret(out, json.dumps(device_file(device, args.broker, login), indent=2) + "\n")
    where = f"{device.placement} {device.side}".rstrip()
    print(f"{device.id}: provisioned ({where})")
    print(f"device file (owner-only; fill in wifi_ssid and wifi_password): {out}")
    print(f"site broker account: {device.id} (revoke with `gaitlink broker remove-device`)")
    return 0


@_guarded
def _import(args: argparse.Namespace) -> int:
    _check_broker(args.broker)
    from gaitlink.tools.stack import Stack

    store = _store(args)
    added = store.import_profiles(args.file)
    stack = Stack(default_state_dir())
    for device_id in added:
        out = provisioned_path(device_id)
        device = store.get(device_id)
        login = stack.add_device(device_id).device_fields()  # its site-broker account
        write_secret(out, json.dumps(device_file(device, args.broker, login), indent=2) + "\n")
    print(f"{len(added)} device(s) provisioned: {', '.join(added) or 'none new'}")
    if added:
        print(f"device files (owner-only; fill in Wi-Fi): {provisioned_path('ID').parent}")
    return 0


def parse_assignments(items: list[str]) -> dict:
    """`key=value` pairs; a value is JSON if it parses (50, [1, 2], {...}), else a string."""
    changes = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise _Refused(f"{item!r}: expected KEY=VALUE, e.g. rate_hz=50")
        try:
            changes[key] = json.loads(raw)
        except ValueError:
            changes[key] = raw
    return changes


@_guarded
def _config_set(args: argparse.Namespace) -> int:
    from gaitlink.mqtt.link import LinkError

    changes = parse_assignments(args.values)
    endpoint = _endpoint(args)
    store = _store(args)
    desired = store.set_config(args.id, changes)
    try:
        _publish(args.id, desired, endpoint)
    except LinkError as exc:
        raise _Refused(
            f"version {desired.version} is stored but not published ({exc}); "
            f"publish it with `gaitlink device config push {args.id}`"
        ) from None
    return 0


@_guarded
def _config_push(args: argparse.Namespace) -> int:
    endpoint = _endpoint(args)
    desired = _store(args).desired(args.id)
    if desired is None:
        raise _Refused(f"{args.id} has no desired config yet: `gaitlink device config set`")
    _publish(args.id, desired, endpoint)
    return 0


def _publish(device_id: str, desired, endpoint) -> None:
    from gaitlink.mqtt.oneshot import publish_retained

    topic = f"{PREFIX}{device_id}/config/desired"
    publish_retained(endpoint, topic, desired.message())
    print(f"{device_id}: config version {desired.version} published (retained) on {topic}")
    print(f"  {desired.text}")


def state_of(store, device_id: str, endpoint) -> dict:
    """Desired vs reported for one device; the reported side is refreshed from the retained
    messages on the cloud broker (and recorded) when the broker answers."""
    from gaitlink.cloud.protocol.config import ConfigReport
    from gaitlink.cloud.registry.devices import in_sync
    from gaitlink.mqtt.link import LinkError
    from gaitlink.mqtt.oneshot import read_retained

    device = store.get(device_id)
    reported_topic = f"{PREFIX}{device_id}/config/reported"
    status_topic = f"{PREFIX}{device_id}/status"
    broker_note = None
    try:
        retained = read_retained(endpoint, [reported_topic, status_topic])
    except LinkError as exc:
        retained = {}
        broker_note = f"cloud broker not reachable ({exc}); registry copy shown"
    if reported_topic in retained:
        try:
            report = ConfigReport.model_validate_json(retained[reported_topic])
        except ValueError:
            broker_note = "the retained config/reported is not a valid report"
        else:
            if report.device_id == device_id:
                at = report.timestamp
                store.record_report(report, int(at.timestamp() * 1e6) if at else None)
    if status_topic in retained:
        try:
            status = json.loads(retained[status_topic])
            at = datetime.fromisoformat(status["timestamp"].replace("Z", "+00:00"))
            store.seen(device_id, int(at.timestamp() * 1e6))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # a will (no timestamp) says offline, not when
    device = store.get(device_id)
    desired = store.desired(device_id)
    desired_version = desired.version if desired else 0
    return {
        "device": device_id,
        "placement": device.placement,
        "side": device.side,
        "desired_version": desired_version,
        "desired_config": desired.values() if desired else {},
        "reported_version": device.reported_version,
        "reported_status": device.reported_status,
        "reported_error": device.reported_error,
        "reported_config": device.reported_config,
        "in_sync": in_sync(device, desired),
        "last_seen": _iso(device.last_seen_us),
        "reported_at": _iso(device.reported_us),
        "note": broker_note,
    }


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="milliseconds")


@_guarded
def _show(args: argparse.Namespace) -> int:
    endpoint = _endpoint(args)
    state = state_of(_store(args), args.id, endpoint)
    if args.json:
        print(json.dumps(state))
        return 0
    sync = "in sync" if state["in_sync"] else "NOT in sync"
    print(f"{state['device']} ({state['placement']} {state['side']}".rstrip() + f"): {sync}")
    print(f"  desired:  version {state['desired_version']}  {json.dumps(state['desired_config'])}")
    outcome = state["reported_status"] or "nothing reported"
    if state["reported_error"]:
        outcome += f" ({state['reported_error']})"
    print(f"  reported: version {state['reported_version']}  {outcome}")
    print(f"  last seen: {state['last_seen'] or 'never'}; reported at {state['reported_at']}")
    if state["note"]:
        print(f"  note: {state['note']}")
    return 0
