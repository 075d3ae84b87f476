"""JSON responses shared by the three HTTP functions."""

from __future__ import annotations

from typing import Any

import flask


def json_response(body: Any, status: int = 200) -> flask.Response:
    """A JSON response with the given status."""
    response = flask.jsonify(body)
    response.status_code = status
    return response


def error_response(status: int, message: str, **extra: Any) -> flask.Response:
    """{"error": message, ...} with the given status."""
    return json_response({"error": message, **extra}, status)
