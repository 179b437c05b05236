"""Firmware updates end to end: `gaitlink firmware release|rollout|status` -> cloud broker
(retained offer) -> gateway -> site broker -> the firmware under MicroPython (-X
heapsize=100k), which downloads the release from the cloud service (the ingest's HTTP API),
stages, swaps on reboot, and confirms or rolls back; its status reports go back up the
chain. Every stage is a real process; a reboot is the device process exiting (code 1) and
the test starting it again in the same directory, as a board's reset would.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gaitlink.cloud.protocol.ota import offer_message, offer_text
from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceStore
from gaitlink.mqtt.oneshot import publish_retained
from gaitlink.tools import services
from gaitlink.tools.device import start_device
from gaitlink.tools.stack import free_port, influx_query
from tests.firmware.helpers import Subscriber

REPO = Path(__file__).resolve().parents[2]
# Update mode (the download, verification and staging) and the app run in an ESP32-sized
# heap; the app takes an offer (fwapp.py loaded) and runs its probation there too.
UPDATE_HEAP = APP_HEAP = "100k"
CONFIRM_S = 4
pytestmark = [pytest.mark.e2e, pytest.mark.micropython]


class Chain:
    """The stack with an ingest (serving the release store) and a gateway, the CLI's state
    dir, and the devices' directory."""

    def __init__(self, stack, root: Path) -> None:
        self.stack = stack
        self.root = root
        self.state = root / "state"
        self.store = self.state / "firmware"
        self.env = {**os.environ, **stack.env(), "GAITLINK_STATE_DIR": str(self.state)}
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "gaitlink.tools.cli", *args],
            capture_output=True, text=True, env=self.env, timeout=120,
        )  # fmt: skip
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def provision(self, device_id: str) -> str:
        self.cli("device", "provision", device_id, "--placement", "foot", "--side", "left")
        self.stack.add_device(device_id)
        store = DeviceStore(open_registry(self.state / "registry.sqlite3"))
        return store.get(device_id).key.hex()

    def boot(self, device_id: str, key: str, samples: int, first: bool = False):
        devices = self.root / "devices"
        update = (devices / device_id / "offer.json").exists()  # main.py runs update mode
        return start_device(
            device_id, self.stack.host, self.stack.site_port, seed=5, max_samples=samples,
            heap=UPDATE_HEAP if update else APP_HEAP, state_dir=devices, restart=not first,
            extra={"device_key": key, **self.stack.add_device(device_id).device_fields()},
        )  # fmt: skip

    def rollout(self, version: str, device_id: str, deadline_s: int = 60) -> None:
        self.cli("firmware", "rollout", version, "--devices", device_id, "--url", self.url,
                 "--confirm-s", str(CONFIRM_S), "--deadline-s", str(deadline_s))  # fmt: skip

    def count(self, device_id: str) -> int:
        rows = influx_query(self.stack, f"SELECT count(ax) FROM imu WHERE device = '{device_id}'")
        return int(rows[0]["count"]) if rows else 0


@pytest.fixture(scope="module")
def chain(stack, tmp_path_factory):
    root = tmp_path_factory.mktemp("ota")
    c = Chain(stack, root)
    c.cli("firmware", "release", str(REPO / "firmware"), "--version", "0.2.0")
    # a release whose app cannot even start
    broken = root / "broken-src"
    shutil.copytree(REPO / "firmware", broken)
    with (broken / "app.py").open("a") as f:
        f.write('\nraise RuntimeError("release 0.3.0 dies at start")\n')
    c.cli("firmware", "release", str(broken), "--version", "0.3.0")
    # the ingest reads the registry the devices are provisioned into, and serves the releases
    ingest = services.ingest(stack, c.state, http_port=c.http_port, accept_unprovisioned=None,
                             extra=("--firmware-dir", str(c.store)))  # fmt: skip
    gateway = services.gateway(stack, root)
    ingest.start()
    gateway.start()
    try:
        yield c
    finally:
        gateway.stop()
        ingest.stop()


def _ended(dev, timeout: float) -> tuple[int, dict | None]:
    """Wait for the device process to end: (exit code, its summary line or None)."""
    try:
        rc = dev.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        tail = dev._tail()
        dev.kill()
        raise AssertionError(f"{dev.device_id} still running after {timeout} s:\n{tail}") from None
    dev.kill()  # closes its files and the sensor simulator
    for line in reversed(dev.stdout_path.read_text().splitlines()):
        if line.startswith('{"summary"'):
            return rc, json.loads(line)["summary"]
    return rc, None


def _restarts(chain: Chain, device_id: str, key: str, samples: int, limit: int):
    """Boot the device again after each restart (exit 1, as a board resets) until a bounded
    run ends (exit 0): [(exit code, summary or None, stderr)] of every boot."""
    boots = []
    while len(boots) < limit:
        dev = chain.boot(device_id, key, samples)
        rc, summary = _ended(dev, 60)
        boots.append((rc, summary, dev.stderr_path.read_text()))
        if rc == 0:
            return boots
        assert rc == 1, dev._tail()
    raise AssertionError(f"{device_id}: no clean run in {limit} boots: {boots}")


def _ota(sub, device_id: str) -> list[dict]:
    """The "ota" objects of the device's status messages, in order."""
    out = []
    for _t, p, _r in sub.on(f"/{device_id}/status"):
        msg = json.loads(p)
        if msg.get("ota"):
            out.append({**msg["ota"], "firmware_version": msg.get("firmware_version")})
    return out


def _state_seen(sub, device_id: str, state: str) -> bool:
    return any(o["state"] == state for o in _ota(sub, device_id))


def _status_json(chain: Chain, version: str, device_id: str) -> dict:
    out = chain.cli("firmware", "status", version, "--json").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return next(r for r in rows if r["device"] == device_id)


def _operator(chain: Chain):
    return Subscriber(
        chain.stack.cloud_endpoint(chain.stack.account("operator")), "gaitlink/v1/+/status"
    )


def test_firmware_update__a_good_release_is_staged_swapped_and_confirmed(chain):
    device_id = "ota-good-1"
    key = chain.provision(device_id)
    with _operator(chain) as sub:
        dev = chain.boot(device_id, key, 1500, first=True)
        assert sub.wait_for(lambda: sub.on(f"/{device_id}/status"), 30), dev._tail()
        time.sleep(3)  # streaming through the gateway by now
        chain.rollout("0.2.0", device_id)
        rc, old = _ended(dev, 60)
        assert rc == 1 and old is not None, dev._tail()  # a deliberate reboot, after a summary
        assert old["samples"] < 1500 and old["unacked"] == 0

        boots = _restarts(chain, device_id, key, 1000, 3)
        # update mode (no samples, no summary), then the new release
        assert [(b[0], b[1] is None) for b in boots] == [(1, True), (0, False)], boots
        new = boots[-1][1]
        assert new["samples"] == 1000
        assert sub.wait_for(lambda: _state_seen(sub, device_id, "confirmed"), 10)
    reports = _ota(sub, device_id)
    states = [o["state"] for o in reports]
    assert states.index("downloading") < states.index("staged") < states.index("trial")
    assert states.index("trial") < states.index("confirmed")
    confirmed = reports[states.index("confirmed")]
    assert confirmed["firmware_version"] == "0.2.0" and confirmed["n"] == 1
    trial = reports[states.index("trial")]
    staged = reports[states.index("staged")]
    print(
        f"staging: heap_min_free {staged.get('heap_min_free')} B; reboot gap {trial['gap_ms']} ms;"
        f" app heap_min_free {old['heap_min_free']} B with the offer, {new['heap_min_free']} B"
        " on probation"
    )
    assert staged["heap_min_free"] > 10_240, staged
    assert old["heap_min_free"] > 8192 and new["heap_min_free"] > 8192, (old, new)

    # the data path: every sample of both boots is in InfluxDB; the only hole is the gap
    total = old["samples"] + new["samples"]
    deadline = time.monotonic() + 60
    while chain.count(device_id) < total and time.monotonic() < deadline:
        time.sleep(0.5)
    assert chain.count(device_id) == total
    rows = influx_query(
        chain.stack, f"SELECT ax FROM imu WHERE device = '{device_id}' ORDER BY time", epoch="u"
    )
    times = [r["time"] for r in rows]
    steps = sorted(b - a for a, b in itertools.pairwise(times))
    assert steps[-2] < 20_000  # one hole only
    assert abs(steps[-1] // 1000 - trial["gap_ms"]) <= 15, (steps[-1], trial)

    row = _status_json(chain, "0.2.0", device_id)
    assert row["state"] == "confirmed" and row["running"] == "0.2.0", row


def test_firmware_update__a_release_that_dies_at_start_rolls_back_by_itself(chain):
    device_id = "ota-crash-1"
    key = chain.provision(device_id)
    with _operator(chain) as sub:
        dev = chain.boot(device_id, key, 3000, first=True)
        assert sub.wait_for(lambda: sub.on(f"/{device_id}/status"), 30), dev._tail()
        chain.rollout("0.3.0", device_id)
        rc, _ = _ended(dev, 60)
        assert rc == 1, dev._tail()
        # update mode, two boots of the new release that die, the old one again
        boots = _restarts(chain, device_id, key, 300, 5)
        assert [b[0] for b in boots] == [1, 1, 1, 0], boots
        assert all("dies at start" in b[2] for b in boots[1:3])
        assert boots[-1][1]["samples"] == 300
        assert sub.wait_for(lambda: _state_seen(sub, device_id, "rolled_back"), 10)
    back = [o for o in _ota(sub, device_id) if o["state"] == "rolled_back"][-1]
    assert back["firmware_version"] == "0.1.0" and back["version"] == "0.3.0"
    assert "dies at start" in back["error"], back
    row = _status_json(chain, "0.3.0", device_id)
    assert row["state"] == "rolled_back" and row["running"] == "0.1.0", row


def test_firmware_update__a_corrupted_file_is_refused_and_the_device_runs_on(chain):
    device_id = "ota-digest-1"
    key = chain.provision(device_id)
    chain.cli("firmware", "release", str(REPO / "firmware"), "--version", "0.2.9")
    target = chain.store / "0.2.9" / "uplink.mpy"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, one byte changed on the server
    target.write_bytes(bytes(data))
    with _operator(chain) as sub:
        dev = chain.boot(device_id, key, 800, first=True)
        assert sub.wait_for(lambda: sub.on(f"/{device_id}/status"), 30), dev._tail()
        chain.rollout("0.2.9", device_id)
        rc, _ = _ended(dev, 60)
        assert rc == 1, dev._tail()  # into update mode, which refuses it
        boots = _restarts(chain, device_id, key, 300, 3)
        assert [b[0] for b in boots] == [1, 0], boots
        assert sub.wait_for(lambda: _state_seen(sub, device_id, "rejected"), 10)
    rejected = [o for o in _ota(sub, device_id) if o["state"] == "rejected"][-1]
    assert rejected["error"] == "digest: uplink.mpy" and rejected["firmware_version"] == "0.1.0"
    fw = json.loads((chain.root / "devices" / device_id / "fw.json").read_text())
    assert fw["state"] == "confirmed" and fw.get("slot") is None
    assert _status_json(chain, "0.2.9", device_id)["state"] == "rejected"


def test_firmware_update__an_offer_with_a_wrong_signature_is_refused(chain):
    device_id = "ota-sig-1"
    key = chain.provision(device_id)
    manifest = (chain.store / "0.2.0" / "manifest.txt").read_text()
    text = offer_text(manifest, 7, f"{chain.url}/firmware/0.2.0/", CONFIRM_S, 60)
    with _operator(chain) as sub:
        dev = chain.boot(device_id, key, 600, first=True)
        assert sub.wait_for(lambda: sub.on(f"/{device_id}/status"), 30), dev._tail()
        operator = chain.stack.cloud_endpoint(chain.stack.account("operator"))
        publish_retained(operator, f"gaitlink/v1/{device_id}/ota",
                         offer_message(os.urandom(32), text))  # fmt: skip
        rc, _ = _ended(dev, 60)
        assert rc == 1, dev._tail()  # into update mode, which refuses it
        boots = _restarts(chain, device_id, key, 300, 3)
        assert [b[0] for b in boots] == [1, 0], boots
        assert sub.wait_for(lambda: _state_seen(sub, device_id, "rejected"), 10)
    rejected = [o for o in _ota(sub, device_id) if o["state"] == "rejected"][-1]
    assert rejected["error"] == "bad_signature" and rejected["firmware_version"] == "0.1.0"
    assert not (chain.root / "devices" / device_id / "fw" / "a").exists()


class StallingProxy:
    """TCP relay to the cloud service that stops relaying responses, mid-file, once it has
    passed `limit` bytes of them, and then holds every connection: a download frozen at a
    known point, for a power cut to strike there."""

    def __init__(self, upstream_port: int, limit: int) -> None:
        self.upstream_port = upstream_port
        self.limit = limit
        self.passed = 0
        self.stalled = threading.Event()
        self.closed = threading.Event()
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sockets[0].accept()
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                return
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, response: bool) -> None:
        try:
            while not self.closed.is_set():
                data = src.recv(1024)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if response:
                    room = self.limit - self.passed
                    if room < len(data) or self.stalled.is_set():
                        # what fits goes through, then the connection is held open (the device
                        # waits for the rest), whether or not the server had more to send
                        if room > 0 and not self.stalled.is_set():
                            dst.sendall(data[:room])
                            self.passed += room
                        self.stalled.set()
                        self.closed.wait()
                        return
                    self.passed += len(data)
                dst.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self.closed.set()
        for s in self.sockets:
            s.close()


def test_firmware_update__a_power_cut_mid_download_or_on_probation_leaves_a_device_that_boots(
    chain,
):
    device_id = "ota-cut-1"
    key = chain.provision(device_id)
    workdir = chain.root / "devices" / device_id
    proxy = StallingProxy(chain.http_port, limit=12_000)  # a few files in, mid-file
    try:
        with _operator(chain) as sub:
            dev = chain.boot(device_id, key, 3000, first=True)
            assert sub.wait_for(lambda: sub.on(f"/{device_id}/status"), 30), dev._tail()
            chain.cli("firmware", "rollout", "0.2.0", "--devices", device_id, "--url",
                      f"http://127.0.0.1:{proxy.port}", "--confirm-s", str(CONFIRM_S),
                      "--deadline-s", "60")  # fmt: skip
            assert _ended(dev, 60)[0] == 1, dev._tail()
            dev = chain.boot(device_id, key, 300)  # update mode
            assert proxy.stalled.wait(30), dev._tail()
            assert (workdir / "fw" / "a" / "manifest.part").exists()
            dev.proc.kill()  # SIGKILL: the power goes, mid-file
            _ended(dev, 10)
            fw = json.loads((workdir / "fw.json").read_text())
            assert fw["state"] == "confirmed" and fw.get("slot") is None
            assert not (workdir / "fw" / "a" / "manifest.txt").exists()  # never used

            # the device boots the release it ran, and ignores the offer that failed
            boots = _restarts(chain, device_id, key, 300, 2)
            assert [b[0] for b in boots] == [0] and boots[0][1]["samples"] == 300

            # offered again, it updates; a power cut on probation: the next boot tries again
            chain.rollout("0.2.0", device_id)
            dev = chain.boot(device_id, key, 3000)
            assert _ended(dev, 60)[0] == 1, dev._tail()  # restart for the offer
            dev = chain.boot(device_id, key, 300)  # update mode
            assert _ended(dev, 60) == (1, None), dev._tail()
            dev = chain.boot(device_id, key, 3000)
            assert sub.wait_for(lambda: _state_seen(sub, device_id, "trial"), 30), dev._tail()
            dev.proc.kill()
            _ended(dev, 10)
            assert json.loads((workdir / "fw.json").read_text())["state"] == "trial"
            boots = _restarts(chain, device_id, key, 1000, 2)
            assert [b[0] for b in boots] == [0], boots
            assert sub.wait_for(lambda: _state_seen(sub, device_id, "confirmed"), 10)
        fw = json.loads((workdir / "fw.json").read_text())
        assert (fw["state"], fw["version"], fw["boots"]) == ("confirmed", "0.2.0", 2)
    finally:
        proxy.close()


def test_firmware_update__safe_mode_takes_an_offer_and_the_new_release_runs(chain):
    device_id = "ota-safe-1"
    key = chain.provision(device_id)
    dev = chain.boot(device_id, key, 300, first=True)
    assert _ended(dev, 60)[0] == 0, dev._tail()
    workdir = chain.root / "devices" / device_id
    # three boots in a row that crashed (as firmware/safemode.py counts them)
    (workdir / "crashes.json").write_text(json.dumps({"count": 3, "reason": "RuntimeError()"}))
    with _operator(chain) as sub:
        dev = chain.boot(device_id, key, 300)

        def safe() -> bool:
            return any(b'"safe_mode"' in p for _t, p, _r in sub.on(f"/{device_id}/status"))

        assert sub.wait_for(safe, 30), dev._tail()
        chain.rollout("0.2.0", device_id)
        assert _ended(dev, 60)[0] == 1, dev._tail()  # saved, restarting into update mode
        boots = _restarts(chain, device_id, key, 1000, 3)
        assert [b[0] for b in boots] == [1, 0], boots  # update mode, then the new release
        assert sub.wait_for(lambda: _state_seen(sub, device_id, "confirmed"), 10)
    assert _ota(sub, device_id)[-1]["firmware_version"] == "0.2.0"
