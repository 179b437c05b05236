# Boot only: pick the release (fwboot), count the boot, run the app (or safe mode after
# repeated crashes), log what escaped it, leave a fresh event loop behind. safemode.py is
# loaded only while needed: resident, its code would cost the app's heap.
import asyncio
import gc
import os
import sys

try:
    os.stat("fw.json")  # fwboot.FW_FILE: only a device ever updated loads fwboot (RAM)
    update = None
except OSError:
    update = False
if update is None:
    import fwboot

    # which release runs (firmware updates): its folder goes first on sys.path
    update = fwboot.choose() == "update"
    del sys.modules["fwboot"]
    fwboot = None
    gc.collect()  # what fwboot read and checked, gone before the app takes its big blocks
import safemode  # noqa: E402 - from the release fwboot chose

crashes, reason = safemode.booted()
safe = crashes >= safemode.LIMIT
del sys.modules["safemode"]
sys.modules.pop("crashes", None)  # safemode's counting: the app loads it when healthy
safemode = None
try:
    if update:  # a firmware offer waits: download, verify, stage with the heap to ourselves
        import ota

        asyncio.run(ota.main())
    elif safe:
        import safemode

        asyncio.run(safemode.main(crashes, reason))
    else:
        import app  # here: a release whose app cannot even be imported still gets safe mode

        asyncio.run(app.main())
except KeyboardInterrupt:
    pass
except Exception as e:  # noqa: BLE001 - the last line of defence: log, do not die silently
    sys.print_exception(e, sys.stderr)
    import safemode

    safemode.crashed(repr(e))
    safemode.reset()
finally:
    asyncio.new_event_loop()
