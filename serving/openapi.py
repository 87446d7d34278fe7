"""The OpenAPI document the service serves at ``/docs.json``: what it really accepts and says.

BentoML builds the document from the endpoints, but flattens each request and answer
model so that top-level optional fields lose ``null`` (``KpiResponse.group_by`` is
``null`` for partner rows, the document said it never is), documents errors in its own
shape (``{"error", "detail": str}``, while every error here is the contract's
``{"error": str, ...}``), and leaves out the mounted ``GET /model-info`` and ``POST
/reload``. A client generated from it, or a fuzzer checking answers against it
(schemathesis found all three), would be misled. :func:`document` rebuilds each
endpoint's schemas from the pydantic models the endpoint is typed with, documents every
error status the API can answer, adds the mounted routes, and writes nullable fields the
OpenAPI 3.0 way (``nullable: true``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from serving.schemas import (
    ErrorBody,
    ModelInfoResponse,
    Override,
    OverrideList,
    OverrideRequest,
)

REF = "#/components/schemas/{model}"
ERRORS = {
    "400": "malformed JSON, or a body that does not follow the schema",
    "401": "missing or wrong API key (when PARTNERCAST_API_KEY or _API_KEYS is set)",
    "403": "the caller's role may not do this (readers cannot write overrides)",
    "404": "unknown partner ids (listed in the answer)",
    "413": "a body or batch over the service's limits",
    "422": "a well-formed request that cannot be answered as asked",
    "503": "no champion model (or dataset) loaded yet; the reason is in the answer",
}
Endpoints = Mapping[str, tuple[type[BaseModel], type[BaseModel]]]


def document(spec: Mapping[str, Any], endpoints: Endpoints) -> dict[str, Any]:
    """``spec`` (BentoML's document) with each endpoint in ``endpoints`` (route ->
    request model, answer model) described by its own models, the error answers in the
    contract's shape, and the mounted routes."""
    doc = copy.deepcopy(dict(spec))
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        schemas.pop(name, None)  # BentoML's error shapes, never sent by this service
    errors = {
        status: _json_response(description, _schema(ErrorBody, schemas))
        for status, description in ERRORS.items()
    }
    for route, (request, answer) in endpoints.items():
        operation = doc["paths"][route]["post"]
        operation["requestBody"] = {
            "required": bool(request.model_json_schema().get("required")),  # else {} is used
            "content": {"application/json": {"schema": _schema(request, schemas, inline=True)}},
        }
        operation["responses"] = {
            "200": _json_response("Successful Response", _schema(answer, schemas)),
            **errors,
        }
    doc["paths"]["/model-info"] = {
        "get": {
            "summary": "The champion models being served, and those that could not load",
            "operationId": "model_info",
            "responses": {
                "200": _json_response("The loaded models", _schema(ModelInfoResponse, schemas)),
                "401": errors["401"],
            },
        }
    }
    doc["paths"]["/reload"] = {
        "post": {
            "summary": "Load the registry's current champions now (instead of at the next poll)",
            "operationId": "reload",
            "responses": {
                "200": _json_response(
                    "The models loaded after the reload", _schema(ModelInfoResponse, schemas)
                ),
                "401": errors["401"],
                "403": errors["403"],
                "503": errors["503"],
            },
        }
    }
    _override_paths(doc, schemas, errors)
    if "/forecast" in doc["paths"]:
        doc["paths"]["/forecast"]["post"]["responses"]["200"]["links"] = _FORECAST_LINKS
    return _nullable(doc)


# what a client does next with a stored override (OpenAPI links: stateful fuzzing follows
# them, so an override is written, listed and removed within one scenario)
_OVERRIDE_LINKS = {
    "ListOverridesOfItsQuarter": {
        "operationId": "list_overrides",
        "parameters": {"quarter_start": "$response.body#/quarter_start"},
    },
    "RemoveOverride": {
        "operationId": "remove_override",
        "parameters": {"override_id": "$response.body#/override_id"},
    },
}
# a partner's forecast leads to a planner's override of it
_FORECAST_LINKS = {
    "OverrideTheFirstForecast": {
        "operationId": "add_override",
        "requestBody": {
            "partner_id": "$response.body#/forecasts/0/partner_id",
            "quarter_start": "$response.body#/forecasts/0/quarter_start",
            "p50": 1000.0,
            "reason": "stateful fuzzing",
        },
    }
}


def _override_paths(doc: dict[str, Any], schemas: dict[str, Any], errors: dict[str, Any]) -> None:
    """The overrides, served by the mounted app (not BentoML's API methods)."""
    written = {s: errors[s] for s in ("400", "401", "403", "404", "413", "422", "503")}
    doc["paths"]["/forecast/overrides"] = {
        "post": {
            "summary": "Set a planner's P50 for a partner or group in one quarter (with a reason)",
            "operationId": "add_override",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _schema(OverrideRequest, schemas, inline=True)}
                },
            },
            "responses": {
                "201": {
                    **_json_response("The stored override", _schema(Override, schemas)),
                    "links": _OVERRIDE_LINKS,
                },
                **written,
            },
        },
        "get": {
            "summary": "The active overrides",
            "operationId": "list_overrides",
            "parameters": [
                {
                    "name": "partner_id",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1},
                },
                {
                    "name": "quarter_start",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date"},
                },
            ],
            "responses": {
                "200": _json_response("Active overrides", _schema(OverrideList, schemas)),
                "400": errors["400"],
                "401": errors["401"],
                "503": errors["503"],
            },
        },
    }
    doc["paths"]["/forecast/overrides/{override_id}"] = {
        "delete": {
            "summary": "Remove an override: the model's forecast is what remains",
            "operationId": "remove_override",
            "parameters": [
                {
                    "name": "override_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "204": {"description": "Removed"},
                **{s: errors[s] for s in ("401", "403", "404", "503")},
            },
        }
    }


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _schema(
    model: type[BaseModel], schemas: dict[str, Any], *, inline: bool = False
) -> dict[str, Any]:
    """A reference to ``model``'s schema, with it and its parts added to ``schemas``
    (``inline``: the schema itself, so its example shows where the request is written)."""
    full = model.model_json_schema(ref_template=REF)
    schemas.update(full.pop("$defs", {}))
    exclusive = getattr(model, "exclusive_fields", ())
    if exclusive:  # not all of them non-null at once
        full["not"] = {
            "required": list(exclusive),
            "properties": {
                name: {k: v for k, v in full["properties"][name].items() if k == "type"}
                or {"not": {"type": "null"}}
                for name in exclusive
            },
        }
    if inline:
        return full
    schemas[model.__name__] = full
    return {"$ref": REF.format(model=model.__name__)}


def _nullable(node: Any) -> Any:
    """JSON Schema's ``anyOf: [X, {"type": "null"}]`` as OpenAPI 3.0's ``X, nullable``."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        node.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            node = {**rest[0], **node}
            if "enum" in node:  # OpenAPI 3.0: a nullable enum must list null itself
                node["enum"] = [*node["enum"], None]
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    return node
