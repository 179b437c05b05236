from gaitlink.cloud.gait import GaitStream, supports


def test_supports__a_stream_the_methods_take():
    s = supports(100.0, "foot", ("acc", "gyro"))
    assert s.ok and s.reason == ""
    GaitStream(100.0, "foot")  # and the stream agrees


def test_supports__names_why_not():
    assert supports(1000.0, "foot", ("acc", "gyro"))[:2] == (False, "rate")
    assert supports(100.0, "wrist", ("acc", "gyro"))[:2] == (False, "placement")
    no_gyro = supports(100.0, "shank", ("acc",))
    assert no_gyro[:2] == (False, "channels") and "gyro" in no_gyro.detail
