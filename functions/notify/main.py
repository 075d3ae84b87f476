"""Cloud Function: the CRM's status notifications, delivered to linked Telegram users."""

import flask
import functions_framework

from shared.notify.endpoint import handle_notify_request


@functions_framework.http
def notify(request: flask.Request) -> flask.Response:
    return handle_notify_request(request)
