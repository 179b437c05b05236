"""The HTTP API of the cloud service under /v1: models, auth, views, live stream, metrics."""
