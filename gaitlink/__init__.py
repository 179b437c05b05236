"""gaitlink: wearable gait sensing from ESP32 firmware to InfluxDB.

The repository keeps one folder per room (`cloud/`, `gateway/`, `hardware/`, `tools/`,
`firmware/`); the installed distribution maps each under this one namespace
(`gaitlink.cloud`, …, see `[tool.setuptools.package-dir]` in pyproject.toml), so nothing
but `gaitlink` lands at the top level of site-packages. This folder holds the package root
and what the host-side rooms share.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gaitlink")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
