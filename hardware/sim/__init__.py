# Register-level sensor simulator: runs under MicroPython (firmware off-board) and CPython
# (host tests compute the exact expected data). Pure Python, no typing, no f-strings.
