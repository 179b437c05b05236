# The one JSON line a bounded run ends with (docs/firmware.md, "Bounded runs"). Loaded only
# then, after the ring's slots are released: resident, this code would cost ~1 kB of heap.
import gc


def of(app):
    s = app.sampler
    return {
        "device_id": app.cfg["device_id"],
        "boot_id": app.boot_id,
        "samples": s.samples,
        "frames": s.frames,
        "acked": app.ring.acked,
        "dropped": app.ring.dropped,
        "unacked": len(app.ring),
        "resent": app.uplink.resent,
        "connections": app.uplink.connections,
        "first_t0_us": s.first_t0_us,
        "last_sample_us": s.last_sample_us,
        "seq_first": 0,
        "seq_last": (s.seq - 1) & 0xFFFFFFFF if s.frames else None,
        "period_us": s.period_us,
        "imu_part": app.hw.imu_part,
        "fifo": s.fifo,
        "burst": s.burst,
        "lost": s.lost,
        "fifo_overflows": s.fifo_overflows,
        "i2c_errors": s.i2c_errors,
        "imu_lost": s.imu_lost,
        "imu_reinits": s.imu_reinits,
        "stuck_events": s.stuck_events,
        "clipped_frames": s.clipped_frames,
        "range_violations": s.range_violations,
        "env_errors": app.env_errors,
        "status_skipped": app.uplink.reports_skipped,
        "outbox_dropped": app.uplink.outbox_dropped,
        "busy_us": s.busy_us,
        "sensor_period_us": s.sclock.period_us(),
        "clock_steps": app.clock.steps,
        "clock_slews": app.clock.slews,
        "clock_error_us": app.clock.last_error_us,
        "env_readings": app.env_readings,
        "seed": app.cfg["seed"],
        "heap_min_free": app.min_free,
        "heap_free_applying": app.apply_min_free,
        "config_oom": app.config_oom,
        "heap_total": gc.mem_free() + gc.mem_alloc(),
    }
