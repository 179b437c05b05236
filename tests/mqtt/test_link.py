"""gaitlink.mqtt.link against a real mosquitto: the publish bookkeeping that acks depend on."""

import threading
import time

from gaitlink.mqtt.link import Link


def test_link__qos0_publishes_leave_no_mid_behind(stack):
    # paho reports QoS 0 writes through on_publish too; a mid left over would later make a
    # QoS 1 publish with the same (wrapped) mid look acknowledged before it is.
    endpoint = stack.site_endpoint(stack.account("site_gateway"))
    link = Link(endpoint, "test-link-qos0", clean_session=True)
    link.start()
    try:
        for _ in range(50):
            link.publish("gaitlink/v1/time", b"{}", qos=0)
        acked = threading.Event()
        link.publish("gaitlink/v1/t/config/desired", b"{}", qos=1, on_acked=acked.set)
        assert acked.wait(5)
        time.sleep(0.2)
        assert link._early == set() and link._awaiting_qos0 == set() and link.awaiting_ack == 0
    finally:
        link.stop()
