"""Cloud Function: the CRM's status notifications, delivered to linked Telegram users."""

import flask
import functions_framework

from shared.config import get_settings
from shared.notify.endpoint import handle_notify_request
from shared.request_log import configure_logging, log_each_request

configure_logging()
get_settings()  # refuse to start with invalid settings (e.g. a malformed TG_WEBHOOK_SECRET)


@functions_framework.http
@log_each_request
def notify(request: flask.Request) -> flask.Response:
    return handle_notify_request(request)
