import pytest

from gaitlink.cloud.protocol.topics import Topic, TopicError, parse_topic
from gaitlink.gateway.topics import is_retained


def test_parse_topic__valid():
    assert parse_topic("gaitlink/v1/gl-0001/imu") == Topic("gl-0001", "imu")
    assert parse_topic("gaitlink/v1/d/config/reported") == Topic("d", "config/reported")


@pytest.mark.parametrize(
    "topic", ["gaitlink/v2/d/imu", "gaitlink/v1/D/imu", "gaitlink/v1/d/video", "gaitlink/v1//imu"]
)
def test_parse_topic__invalid(topic):
    with pytest.raises(TopicError):
        parse_topic(topic)


def test_retained_policy_follows_protocol_table():
    assert is_retained("gaitlink/v1/d/status") and is_retained("gaitlink/v1/d/config/desired")
    assert not is_retained("gaitlink/v1/d/imu") and not is_retained("gaitlink/v1/d/env")
