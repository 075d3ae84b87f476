"""A log line per HTTP request, and logging set up where the host sets none up.

Served by plain functions-framework (`make run`, or by hand as the README shows) nothing configures
logging: gunicorn logs errors only and Python drops every INFO line, so the functions' logs stayed empty.
`configure_logging` then sends ours to stderr. Where the host configured logging already (functions-framework
does with LOG_EXECUTION_ID, as Cloud Functions sets it), it changes nothing; Cloud Run logs every request too.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import flask

log = logging.getLogger(__name__)

Handler = Callable[[flask.Request], flask.Response]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Our INFO lines and everyone's warnings to stderr, unless logging is configured already."""
    if logging.getLogger().handlers:
        return
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("shared").setLevel(logging.INFO)


def log_each_request(handler: Handler) -> Handler:
    """Wrap an HTTP function so each request logs `METHOD /path: STATUS in N ms` (never headers, query or body)."""

    @functools.wraps(handler)
    def logged(request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        status = 500  # what functions-framework answers when the handler raises
        try:
            response = handler(request)
            status = response.status_code
            return response
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            path = request.path.encode("unicode_escape").decode("ascii")  # a %0A in a path cannot forge a line
            log.info("%s %s: %d in %.0f ms", request.method, path, status, elapsed_ms)

    return logged
