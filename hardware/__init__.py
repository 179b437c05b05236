"""Board profiles, sensor register maps and the simulators that run firmware off-board."""
