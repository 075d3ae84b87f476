"""Cloud Function: Telegram's webhook."""

import flask
import functions_framework

from shared.bootstrap import start_instance
from shared.bot.webhook import handle_webhook_request
from shared.request_log import log_each_request

start_instance()


@functions_framework.http
@log_each_request
def telegram_webhook(request: flask.Request) -> flask.Response:
    return handle_webhook_request(request)
