# The ESP32 board: the I2C bus, battery ADC and Wi-Fi from the board profile in
# device.json ("board", copied from hardware/boards/ by the deploy tool). Loaded only on an
# ESP32 (board.py), so the unix port's heap does not hold it, nor an ESP32's the simulator.
import asyncio


class Esp32Board:
    def __init__(self, profile):
        from machine import ADC, I2C, Pin

        self.name = profile["name"]
        imu = profile["imu"]
        self.imu_part = imu["part"]
        self.imu_fifo = imu.get("fifo", True)  # False: a sensor without a FIFO is polled
        p = profile["i2c"]
        self.i2c = I2C(p["id"], scl=Pin(p["scl"]), sda=Pin(p["sda"]), freq=p["freq"])
        b = profile.get("battery")
        self._adc = ADC(Pin(b["pin"]), atten=ADC.ATTN_11DB) if b else None
        self._divider = b["divider"] if b else 1
        self._wlan = None

    def battery_pct(self):
        # Li-ion: 3.3 V empty .. 4.2 V full, linear enough for a status field
        if self._adc is None:
            return None
        mv = self._adc.read_uv() * self._divider // 1000
        return max(0, min(100, (mv - 3300) * 100 // 900))

    def rssi_dbm(self):
        try:
            return self._wlan.status("rssi")
        except (AttributeError, OSError):
            return None

    async def connect_network(self, cfg):
        import network

        w = network.WLAN(network.STA_IF)
        w.active(True)
        if not w.isconnected():
            w.connect(cfg["wifi_ssid"], cfg["wifi_password"])
            for _ in range(200):  # 20 s
                if w.isconnected():
                    break
                await asyncio.sleep_ms(100)
            else:
                raise OSError("wifi: no connection to " + str(cfg["wifi_ssid"]))
        self._wlan = w
