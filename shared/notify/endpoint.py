"""The notify function over HTTP (docs/notify.md): authenticate, parse, deliver, answer per event."""

from __future__ import annotations

import logging

import flask

from shared import clock
from shared.config import InvalidSettingsError, MissingSettingError, get_settings
from shared.http import error_response, json_response
from shared.notify.delivery import notify_events, summary
from shared.notify.events import MalformedBodyError, parse_body
from shared.notify.signature import HEADER, SignatureError, verify_signature
from shared.telegram.client import get_telegram_client

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


def handle_notify_request(request: flask.Request) -> flask.Response:
    """Answer one POST from the CRM."""
    if request.method != "POST":
        return error_response(405, "use POST")
    try:
        secret = get_settings().require("NOTIFY_SIGNING_SECRET")
        telegram = get_telegram_client()
    except (MissingSettingError, InvalidSettingsError) as error:
        log.error("notify misconfigured: %s", error)
        return error_response(503, str(error))
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return error_response(413, f"body larger than {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        return error_response(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        verify_signature(request.headers.get(HEADER), raw, secret, clock.now())
    except SignatureError as error:
        return error_response(401, str(error))
    try:
        events = parse_body(raw)
    except MalformedBodyError as error:
        problems = [{"field": problem.field, "message": problem.message} for problem in error.problems]
        return error_response(400, str(error), field=error.field, problems=problems)
    results = notify_events(events, telegram)
    if all(result.retry for result in results):
        return error_response(503, "storage unavailable: send the request again", **summary(results))
    return json_response(summary(results))
