"""Research access: cycles, events and raw samples from InfluxDB, export and plots.

``from gaitlink.research import connect``; install with ``pip install 'gaitlink[research]'``
(plots: ``gaitlink[research,plot]``). It reads what the cloud wrote, with the cloud's own
code (`cloud.gait` cuts the cycles). See docs/researchers.md.
"""

from gaitlink.research.api import Research, connect
from gaitlink.research.variables import CHANNELS, variable_name, variable_unit

__all__ = ["CHANNELS", "Research", "connect", "variable_name", "variable_unit"]
