# Makes the MicroPython sources package data of the host tools (gaitlink.firmware), so a
# wheel carries them. CPython never imports the modules; the deploy and the simulated
# device leave this file out (gaitlink.tools.device).
