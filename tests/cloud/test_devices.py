import json

import numpy as np
import pytest

from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile, axis_matrix


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


def test_device_book__invalid_file_names_the_file(tmp_path):
    path = tmp_path / "devices.json"
    path.write_text(json.dumps({"d1": {"placement": "hand"}}))
    with pytest.raises(ValueError, match=r"devices\.json"):
        DeviceBook.load(path, DeviceProfile())
