import json

import numpy as np
import pytest

from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile, axis_matrix, read_profiles
from gaitlink.cloud.ingest.validate import Rejected
from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceStore


def test_axis_matrix__valid_rotation_applies_to_acc_and_gyro():
    book = DeviceBook({"d1": DeviceProfile(axis_map="-y,x,z")}, DeviceProfile())
    body = book.to_body("d1", np.array([[1.0, 2, 3, 4, 5, 6]]))
    np.testing.assert_array_equal(body, [[-2, 1, 3, -5, 4, 6]])
    np.testing.assert_array_equal(book.to_body("other", np.ones((1, 6))), np.ones((1, 6)))


@pytest.mark.parametrize(
    ("axis_map", "message"),
    [
        ("x,y", "three axes"),
        ("x,x,z", "exactly once"),
        ("x,y,-z", "mirror image"),
        ("x,w,z", "'w' is not one of"),
    ],
)
def test_axis_matrix__invalid(axis_map, message):
    with pytest.raises(ValueError, match=message):
        axis_matrix(axis_map)


def test_read_profiles__invalid_file_names_the_file(tmp_path):
    path = tmp_path / "devices.json"
    path.write_text(json.dumps({"d1": {"placement": "hand"}}))
    with pytest.raises(ValueError, match=r"devices\.json"):
        read_profiles(path)


def test_device_book__registry_changes_are_seen_without_a_restart(tmp_path):
    path = tmp_path / "registry.sqlite3"
    store = DeviceStore(open_registry(path))  # the operator's CLI: another connection
    store.provision("early", "foot")
    book = DeviceBook.registry(path, None, check_every_s=3600.0, miss_recheck_s=0.0)
    assert book.profile("early").placement == "foot"
    assert book.profile("early").provisioned is not None
    with pytest.raises(Rejected, match="gaitlink device provision late") as caught:
        book.profile("late")
    assert caught.value.reason == "unprovisioned"
    # Provisioned after the book was made: an unknown id makes it look at once.
    store.provision("late", "lower_back")
    assert book.profile("late").placement == "lower_back"
    # A known device's change is read at the next check (here due at once).
    store.set_config("early", {"axis_map": "-y,x,z"})
    assert book.profile("early").axis_map == "x,y,z"  # the check is not due yet
    book._check_every_s = 0.0
    np.testing.assert_array_equal(
        book.to_body("early", np.array([[1.0, 2, 3, 4, 5, 6]])), [[-2, 1, 3, -5, 4, 6]]
    )


def test_device_book__a_default_profile_takes_unprovisioned_devices(tmp_path):
    book = DeviceBook.registry(tmp_path / "r.sqlite3", DeviceProfile(placement="shank"))
    assert book.get("rig-01") is None and book.profile("rig-01").placement == "shank"


def test_device_book__a_stream_from_an_unknown_id_is_not_looked_up_per_message():
    checks = []

    def changed() -> bool:
        checks.append(1)
        return False

    book = DeviceBook({}, DeviceProfile(), load=dict, changed=changed, miss_recheck_s=3600.0)
    for _ in range(1000):
        assert book.profile("rig-01").placement == "foot"
    assert len(checks) == 1  # its first message only
    book.profile("rig-02")  # another id not seen yet: at once
    assert len(checks) == 2
