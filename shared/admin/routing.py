"""How an admin route is declared (method, path, handler, the models of its input, who may call it), and the table
that matches requests against the declarations: werkzeug's map is built from them, so the 404s and 405s (with their
Allow header) and the documents the tests hold to them can never list other routes than those declared."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import flask
from pydantic import BaseModel
from werkzeug.routing import Map, Rule

from shared.admin.inputs import parse_body, parse_query


class Caller(Enum):
    """Who a bearer token says the caller is."""

    OPERATOR = "ADMIN_API_TOKEN"
    WEBSITE = "LINK_CODE_API_TOKEN"


OPERATOR_ONLY = frozenset({Caller.OPERATOR})
_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Route:
    """One admin route. The handler is called with the path's arguments, and with `body` and `query` parsed into
    the route's models when it declares them (what it does not declare is ignored)."""

    method: str
    path: str
    """A werkzeug rule, e.g. `/users/<int(signed=True):telegram_user_id>/unlink`."""
    handler: Callable[..., flask.Response]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    callers: frozenset[Caller] = OPERATOR_ONLY
    body_required: bool = True
    """False: an empty body means the body model's defaults."""

    @property
    def label(self) -> str:
        """`METHOD /path` with the path's arguments as `{name}`, as docs/openapi.yaml and the README write it."""
        path = _ARGUMENT.sub(lambda argument: "{" + argument[1] + "}", self.path)
        return f"{self.method} {path}"

    def answer(self, request: flask.Request, path_arguments: Mapping[str, Any]) -> flask.Response:
        """Parse the request into the route's models (BadRequest names the field at fault), then call the handler."""
        inputs = dict(path_arguments)
        if self.body is not None:
            inputs["body"] = parse_body(request.get_data(), self.body, required=self.body_required)
        if self.query is not None:
            inputs["query"] = parse_query(request.args, self.query)
        return self.handler(**inputs)


class RouteTable:
    """The declared routes, and the werkzeug map made of them (trailing slashes ignored)."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        rules = [Rule(route.path, methods=[route.method], endpoint=route) for route in self.routes]
        self._map = Map(rules, strict_slashes=False)

    def match(self, request: flask.Request) -> tuple[Route, Mapping[str, Any]]:
        """The route of the request's method and path, and the path's arguments; werkzeug's NotFound when no route
        has the path, MethodNotAllowed (with the methods that are) when none has it with this method."""
        route, arguments = self._map.bind("admin", path_info=request.path).match(request.path, method=request.method)
        return route, arguments

    def open_to(self, caller: Caller) -> list[Route]:
        """The routes `caller` may call."""
        return [route for route in self.routes if caller in route.callers]
