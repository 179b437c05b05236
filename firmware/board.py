# The only module that knows which board it runs on. On an ESP32 it builds the I2C bus,
# battery ADC and Wi-Fi from the board profile in device.json (esp32board.py); on the unix
# port it builds the simulated board from hardware/sim.
import sys

ESP32 = sys.platform == "esp32"


def open_board(cfg):
    if ESP32:
        if not cfg["board"]:
            raise ValueError("board: a board profile is required on an ESP32")
        from esp32board import Esp32Board

        return Esp32Board(cfg["board"])
    from sim.board import SimBoard

    return SimBoard(cfg["seed"], cfg["imu_addr"], cfg["env_addr"], cfg["sim"], cfg["board"])


async def connect_network(hw, cfg):
    if ESP32:
        await hw.connect_network(cfg)
