"""The OpenAPI 3.1 document, written from the route table and the pydantic models.

OpenAPI 3.1 takes JSON Schema 2020-12 as it is, which is what pydantic produces, so the
schemas go in unchanged; a test checks the document against the routes aiohttp serves, in
both directions, and against the OpenAPI 3.1 meta-schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gaitlink.cloud.api.endpoint import Route
from gaitlink.cloud.api.models import ErrorBody

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
_REASONS = {
    401: "No API key, or not a valid one",
    403: "The key's role may not use this route",
    404: "No such device or no data",
    422: "The body failed validation (the detail names each field)",
    503: "InfluxDB (or the stream) cannot serve now; retry later",
}


def document(routes: Iterable[Route]) -> dict:
    routes = list(routes)
    refs, schemas = _schemas(routes)
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gaitlink cloud API",
            "version": "1",
            "description": "Devices, samples, gait cycles and events, a live stream, and "
            "ingest over HTTPS. Every /v1 route needs `Authorization: Bearer <key>`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "glk_… key"}
            },
        },
    }


def _schemas(routes: list[Route]) -> tuple[dict, dict]:
    wanted: list[tuple[type[BaseModel], str]] = [(ErrorBody, "serialization")]
    for route in routes:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        if route.response is not None:
            wanted.append((route.response, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=_REF)
    return refs, dict(top.get("$defs", {}))


def _operation(route: Route, refs: dict, schemas: dict) -> dict:
    op: dict = {"operationId": route.view.__name__, "summary": route.summary}
    if route.description:
        op["description"] = route.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)
    ]
    if route.query is not None:
        parameters.extend(_query_parameters(route.query, schemas))
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    op["responses"] = responses = {}
    if route.path == "/v1/stream":
        responses["101"] = {"description": "Switching to the WebSocket protocol"}
    elif route.response is not None:
        schema = refs[(route.response, "serialization")]
        responses[str(route.status)] = _content("OK", "application/json", schema)
    else:
        schema = {"type": "string"} if route.content_type.startswith("text/") else {}
        responses[str(route.status)] = _content("OK", route.content_type, schema)
    error = refs[(ErrorBody, "serialization")]
    statuses = list(route.errors)
    if route.query is not None or _PATH_PARAM.search(route.path):
        statuses.append(400)
    if route.roles is not None:
        op["security"] = [{"apiKey": []}]
        op["x-roles"] = sorted(route.roles)
        statuses += [401, 403]
    for status in sorted(set(statuses)):
        if status in route.same_body_statuses:
            body = refs[(route.response, "serialization")]
            responses[str(status)] = _content(
                _REASONS.get(status, "Error"), "application/json", body
            )
        else:
            reason = _REASONS.get(status, "Bad request: the detail names the parameter")
            responses[str(status)] = _content(reason, "application/json", error)
    return op


def _query_parameters(model: type[BaseModel], schemas: dict) -> list[dict]:
    schema = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        out.append(param)
    return out


def _content(description: str, content_type: str, schema: dict) -> dict:
    return {"description": description, "content": {content_type: {"schema": schema}}}
