"""Cloud Function: Telegram's webhook."""

import flask
import functions_framework

from shared.bot.webhook import handle_webhook_request


@functions_framework.http
def telegram_webhook(request: flask.Request) -> flask.Response:
    return handle_webhook_request(request)
