# Boot only: count the boot, run the app (or safe mode after repeated crashes), log what
# escaped it, leave a fresh event loop behind. safemode.py is loaded only while needed:
# resident, its code would cost the app's heap.
import asyncio
import sys

import safemode

crashes, reason = safemode.booted()
safe = crashes >= safemode.LIMIT
del sys.modules["safemode"]
sys.modules.pop("crashes", None)  # safemode's counting: the app loads it when healthy
safemode = None
try:
    if safe:
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
