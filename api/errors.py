"""Error responses: one shape per status, documented in the OpenAPI spec.

422 keeps FastAPI's validation shape ({"detail": [{"loc", "msg", "type"}]}) also for the checks that
need the database (a position past the video's end), so clients parse one format. It echoes what
was sent ("input") only for single values of fields that are not secret: a password never comes back.
"""

import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.middleware import SECURITY_HEADERS
from api.studio.pages import invalid_input_page


class ErrorOut(BaseModel):
    detail: str


# What a route's `responses=` documents, by status.
Responses = dict[int | str, dict[str, Any]]


def error_responses(*codes: int) -> Responses:
    """The `responses=` entry documenting these error statuses."""
    return {code: {"model": ErrorOut} for code in codes}


# Settled days whose results the engine's tables no longer hold (api.stats.service.require_results).
UNAVAILABLE: Responses = {
    503: {
        "model": ErrorOut,
        "description": "Settled days' results cannot be read right now (the operator is told in the log): wait Retry-After seconds",
        "headers": {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}},
    }
}


def invalid(location: tuple[str, ...], message: str, value: Any = None) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"type": "value_error", "loc": list(location), "msg": message, "input": value}],
    )


def not_found(message: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=message)


def forbidden(message: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=message)


def conflict(message: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=message)


def unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's handling, with two corrections:
    - a body that is not UTF-8 (FastAPI: 400) is a validation error like any other bad JSON;
    - a 405's Allow header lists the methods of every route of the path, not only the first one's."""
    if exc.status_code == status.HTTP_400_BAD_REQUEST and isinstance(exc.__cause__, UnicodeDecodeError):
        return JSONResponse(
            {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": "the body is not UTF-8 encoded JSON"}]},
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allowed = documented_methods(request.app, request.url.path)
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return await http_exception_handler(request, exc)


# Body fields whose values no response repeats.
SECRET_FIELDS = frozenset({"password"})
SCALARS = (str, int, float, bool, type(None))


def without_secrets(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error without the value sent when it is secret or may hold a secret: a body
    field named in SECRET_FIELDS, the whole body (a JSON string holding an encoded object, say), or
    any object or list."""
    location = tuple(error.get("loc", ()))
    if location[:1] != ("body",) or "input" not in error:
        return error
    whole_body = location == ("body",)
    if whole_body or SECRET_FIELDS.intersection(map(str, location)) or not isinstance(error["input"], SCALARS):
        return {key: value for key, value in error.items() if key != "input"}
    return error


def encodable(value: Any) -> Any:
    """value with lone surrogates (JSON may carry "\\ud800"; UTF-8 cannot) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(item) for item in value]
    return value


def is_page(request: Request) -> bool:
    """Whether the request is for a server-rendered page (a route outside the API's schema: the studio,
    the account pages) rather than an API operation."""
    route = request.scope.get("route")
    return route is not None and getattr(route, "include_in_schema", True) is False


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = [encodable(without_secrets(error)) for error in exc.errors()]
    if is_page(request):
        return invalid_input_page(errors)
    return await request_validation_exception_handler(request, RequestValidationError(errors))


HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}


def documented_methods(app: FastAPI, path: str) -> set[str]:
    """The methods the OpenAPI spec documents for a request path."""
    methods = set()
    for template, operations in app.openapi()["paths"].items():
        segments = ("[^/]+" if part.startswith("{") else re.escape(part) for part in template.split("/"))
        if re.fullmatch("/".join(segments), path):
            methods |= {method.upper() for method in operations} & HTTP_METHODS
    return methods


async def internal_error(request: Request, exc: Exception) -> Response:
    """A 500 without details; it is answered outside the middleware, so it sets their headers itself."""
    return JSONResponse(
        {"detail": "internal server error"},
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        headers={name.decode(): value.decode() for name, value in SECURITY_HEADERS},
    )


NO_STORE = {
    "Cache-Control": {
        "description": "Answers are not to be stored by browsers or proxies.",
        "schema": {"type": "string", "enum": ["no-store"]},
    }
}


def document_transport_answers(app: FastAPI) -> None:
    """Adds to the spec what every operation may answer before (or besides) its handler: the 413 of
    api.middleware.BodySizeLimit (any request may carry a body, a GET's included: it is refused unread),
    and the Cache-Control: no-store of api.middleware.SecurityHeaders on every answer."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        spec = build()
        if fresh:
            for operations in spec["paths"].values():
                for operation in operations.values():
                    takes_a_body = "requestBody" in operation
                    operation["responses"].setdefault(
                        str(status.HTTP_413_CONTENT_TOO_LARGE),
                        {
                            "description": "The body is larger than the server's limit (refused before it is read)"
                            if takes_a_body
                            else "The request carries a body (this operation takes none) larger than the server's limit",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
                        },
                    )
                    for response in operation["responses"].values():
                        response.setdefault("headers", {}).update(NO_STORE)
            spec["components"]["schemas"].setdefault("ErrorOut", ErrorOut.model_json_schema())
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the spec


def register_error_handlers(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception; it is called with the class it is registered for.
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, internal_error)
