"""Benchmarks of the gait segmentation: `gaitlink bench gait-accuracy` and `gait-speed`.

They live apart from the tests: the tests only smoke-run them with ``--quick``. See
docs/benchmarks.md for what each measures and the numbers measured so far.
"""
