"""URL table of the ingest service; views live in views.py."""

from __future__ import annotations

from aiohttp import web

from gaitlink.cloud.ingest import views


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", views.health)
    app.router.add_get("/metrics", views.metrics)
