"""The assistant in the chat: a linked user's free text goes to a turn of the model, and its answer, its
confirmations or why there is none are said here (only the webhook imports this, and with it google-genai)."""

from __future__ import annotations

import logging
import threading

from shared.agent import turn
from shared.agent.gemini import Failure
from shared.bot import confirmations, texts
from shared.bot.conversation import Conversation
from shared.config import get_settings

log = logging.getLogger(__name__)

TYPING_EVERY_SECONDS = 5.0

REPLIES = {
    Failure.NOT_CONFIGURED: texts.ASSISTANT_NOT_CONFIGURED,
    Failure.BUSY: texts.ASSISTANT_BUSY,
    Failure.TIMEOUT: texts.ASSISTANT_TIMEOUT,
    Failure.BLOCKED: texts.ASSISTANT_BLOCKED,
    Failure.EMPTY: texts.ASSISTANT_EMPTY,
    Failure.MALFORMED: texts.ASSISTANT_MALFORMED,
    Failure.TOO_MANY_STEPS: texts.ASSISTANT_TOO_MANY_STEPS,
    Failure.REJECTED: texts.ASSISTANT_REJECTED,
    Failure.OVER_BUDGET: texts.ASSISTANT_OVER_BUDGET,
}


def answer(conversation: Conversation, text: str) -> None:
    """Answer a linked user's free-text message with the assistant."""
    session = conversation.require_session()
    admission = turn.admit(session)
    if admission.refusal is not None:
        turn.take_turn(session, admission, text)  # gives the message's reservation back
        conversation.say(_refusal_text(admission.refusal))
        return
    with _typing(conversation):
        outcome = turn.take_turn(session, admission, text)
    if outcome.failure is not None:
        conversation.say(REPLIES[outcome.failure])
    elif outcome.text:
        conversation.say_markdown(outcome.text)
    for action_id, change in outcome.confirmations:  # proposed before a failure too: each is a real pending action
        confirmations.ask(conversation, action_id, change)


def _refusal_text(refusal: turn.Refusal) -> str:
    if refusal is turn.Refusal.TOO_FAST:
        return texts.assistant_too_fast(per_minute=get_settings().assistant_messages_per_minute)
    return REPLIES[Failure.OVER_BUDGET]


class _typing:
    """Sends the 'typing' action now and every few seconds until the block ends."""

    def __init__(self, conversation: Conversation) -> None:
        self._conversation = conversation
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # The client, not .telegram: this thread must not send a held reply, and typing need not wait.
                self._conversation.client.send_chat_action(self._conversation.chat_id, "typing")
            except Exception:  # noqa: BLE001  (a lost typing indicator must never break the turn)
                log.debug("typing action failed", exc_info=True)
            self._stop.wait(TYPING_EVERY_SECONDS)
