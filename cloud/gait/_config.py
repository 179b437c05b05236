"""The one place that sets how the gait kernels are compiled.

numba's on-disk cache (``cache=True``) checks only the timestamp of the file that defines
a cached function, not the files it calls into. The kernels span several modules
(`_rings`, `_limb`, ...), so after editing one of them, delete ``cloud/gait/__pycache__``
(or touch every ``cloud/gait/_*.py``) before trusting the results.

``fastmath`` stays off on purpose: events must be bit-for-bit identical whether data
arrives in one batch or in small chunks, and re-association of floating-point sums could
round the same sum differently in a vectorised body and in its scalar remainder. The
filters are written so LLVM vectorises them without it.
"""

JIT_OPTIONS = {"cache": True, "fastmath": False, "nogil": True, "error_model": "numpy"}
