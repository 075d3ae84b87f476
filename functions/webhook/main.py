"""Cloud Function: Telegram's webhook."""

import flask
import functions_framework

from shared.bot.webhook import handle_webhook_request
from shared.config import get_settings
from shared.request_log import configure_logging, log_each_request

configure_logging()
get_settings()  # refuse to start with invalid settings (e.g. a malformed TG_WEBHOOK_SECRET)


@functions_framework.http
@log_each_request
def telegram_webhook(request: flask.Request) -> flask.Response:
    return handle_webhook_request(request)
