# Boot only: run the app, log what escaped it, leave a fresh event loop behind.
import asyncio
import sys

import app

try:
    asyncio.run(app.main())
except KeyboardInterrupt:
    pass
except Exception as e:  # noqa: BLE001 - the last line of defence: log, do not die silently
    sys.print_exception(e, sys.stderr)
    app.on_crash()
finally:
    asyncio.new_event_loop()
