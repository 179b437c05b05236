"""The live view in the browser, served by the ingest under /ui/ (docs/ui.md).

Static ES modules and one vendored chart library (uPlot) in static/; a login that turns an
API key into an HttpOnly, SameSite=strict session cookie (auth.py); and the /v1 routes a
researcher may use, mounted again under /ui/api with that cookie and a CSRF token instead
of a bearer header (routes.py), so the pages and the API share one set of views.
"""
