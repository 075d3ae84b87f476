"""Pydantic models of the Bot API objects we use (https://core.telegram.org/bots/api#available-types).

Only the fields the bot reads are modelled; unknown fields are ignored so a new Bot API field never
breaks parsing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Telegram's ids fit in 52 bits; anything larger is not from Telegram (and would not fit Firestore's 64-bit
# integers either).
Id = Annotated[int, Field(ge=-(2**53), le=2**53)]


class TelegramObject(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(TelegramObject):
    """https://core.telegram.org/bots/api#user"""

    id: Id
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class Chat(TelegramObject):
    """https://core.telegram.org/bots/api#chat"""

    id: Id
    type: Literal["private", "group", "supergroup", "channel"] | str
    title: str | None = None
    username: str | None = None


class MessageEntity(TelegramObject):
    """https://core.telegram.org/bots/api#messageentity"""

    type: str
    offset: int
    length: int


class Message(TelegramObject):
    """https://core.telegram.org/bots/api#message"""

    message_id: Id
    date: int = 0
    chat: Chat
    from_user: User | None = Field(default=None, alias="from")
    text: str | None = None
    caption: str | None = None
    entities: list[MessageEntity] = Field(default_factory=list)
    sticker: dict[str, object] | None = None
    photo: list[dict[str, object]] | None = None
    document: dict[str, object] | None = None

    @property
    def kind(self) -> str:
        """What the message carries, for replies to content the bot does not handle."""
        for name in ("sticker", "photo", "document"):
            if getattr(self, name) is not None:
                return name
        return "text" if self.text is not None else "other"


class InaccessibleMessage(TelegramObject):
    """https://core.telegram.org/bots/api#inaccessiblemessage"""

    message_id: Id
    chat: Chat
    date: int = 0


class CallbackQuery(TelegramObject):
    """https://core.telegram.org/bots/api#callbackquery"""

    id: str
    from_user: User = Field(alias="from")
    message: Message | InaccessibleMessage | None = None
    data: str | None = None


class ChatMember(TelegramObject):
    """https://core.telegram.org/bots/api#chatmember (the fields shared by every variant)."""

    status: str
    user: User


class ChatMemberUpdated(TelegramObject):
    """https://core.telegram.org/bots/api#chatmemberupdated"""

    chat: Chat
    from_user: User = Field(alias="from")
    date: int = 0
    old_chat_member: ChatMember
    new_chat_member: ChatMember


class Update(TelegramObject):
    """https://core.telegram.org/bots/api#update"""

    update_id: Annotated[int, Field(ge=0, le=2**53)]
    message: Message | None = None
    edited_message: Message | None = None
    channel_post: Message | None = None
    edited_channel_post: Message | None = None
    callback_query: CallbackQuery | None = None
    my_chat_member: ChatMemberUpdated | None = None

    @property
    def kind(self) -> str:
        """The name of the field this update carries, or 'other'."""
        for name in (
            "message",
            "edited_message",
            "channel_post",
            "edited_channel_post",
            "callback_query",
            "my_chat_member",
        ):
            if getattr(self, name) is not None:
                return name
        return "other"


class BotCommand(TelegramObject):
    """https://core.telegram.org/bots/api#botcommand"""

    command: str
    description: str


class InlineKeyboardButton(TelegramObject):
    """https://core.telegram.org/bots/api#inlinekeyboardbutton"""

    text: str
    callback_data: str | None = None
    url: str | None = None


class InlineKeyboardMarkup(TelegramObject):
    """https://core.telegram.org/bots/api#inlinekeyboardmarkup"""

    inline_keyboard: list[list[InlineKeyboardButton]]


class WebhookInfo(TelegramObject):
    """https://core.telegram.org/bots/api#webhookinfo"""

    url: str
    has_custom_certificate: bool = False
    pending_update_count: int = 0
    last_error_date: int | None = None
    last_error_message: str | None = None
    max_connections: int | None = None
    allowed_updates: list[str] | None = None
