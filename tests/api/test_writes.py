"""ObservedWriter counts the gait cycles of each write by placement (pure logic; the real
service's figure is tested in test_metrics_service.py)."""

import asyncio

from gaitlink.cloud.api.metrics import IngestMetrics
from gaitlink.cloud.api.stream import StreamHub
from gaitlink.cloud.api.writes import ObservedWriter


def _cycle(placement: str, t: int) -> str:
    return f'gait_cycle,device=d1,placement={placement} cadence=100.0,reason="" {t}'


def test_observed_writer__counts_cycles_at_any_place_in_the_body():
    imu = "imu,device=d1,placement=foot ax=1e-6,q=0i 5"
    bodies = [
        "\n".join([_cycle("foot", 1), imu, _cycle("shank", 2), imu, _cycle("foot", 3)]),
        _cycle("lower_back", 4),
        # A string field that mentions the measurement is not a cycle.
        'ingest_quality,device=d1,kind=gait_skipped detail="a\\ngait_cycle,x" 6\n' + imu,
        "\n".join([imu] * 1000),
    ]

    async def main() -> ObservedWriter:
        async def write(body: str) -> None:
            return None

        writer = ObservedWriter(write, StreamHub(), IngestMetrics())
        for body in bodies:
            await writer(body)
        return writer

    writer = asyncio.run(main())
    assert dict(writer.cycles_by_placement) == {"foot": 2, "shank": 1, "lower_back": 1}
