"""A small client for the Telegram Bot API (https://core.telegram.org/bots/api).

Every method is a POST of a JSON body to `{TELEGRAM_API_BASE_URL}/bot<token>/<method>`; Telegram
answers `{"ok": true, "result": …}` or `{"ok": false, "error_code": N, "description": "…",
"parameters": {"retry_after": S}}`. Errors become `BotApiError` with the code, Telegram's
description and, for 429, `retry_after` in seconds. The token is part of the URL, so the URL is
never logged or put in an error message (httpx's own request log is silenced below).
"""
import logging
from dataclasses import dataclass
from typing import Any

import httpx

# httpx logs every request URL at INFO; a Bot API URL carries the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

ALLOWED_UPDATES = ("chat_join_request", "chat_member", "my_chat_member", "message")


class BotApiError(Exception):
    """A Bot API call failed: Telegram's error code (0 for a network failure) and description."""

    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(f"{code} {description}" if code else description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    @property
    def blocked(self) -> bool:
        """403: the user blocked the bot, deleted the chat, or the bot was kicked."""
        return self.code == 403

    @property
    def retryable(self) -> bool:
        """429 (after retry_after), 5xx and network failures are worth trying again."""
        return self.code == 429 or self.code >= 500 or self.code == 0


@dataclass
class BotApi:
    """One bot's Bot API, over a shared httpx client."""
    base_url: str
    token: str
    client: httpx.Client

    def call(self, method: str, **params: Any) -> Any:
        """Call `method` with JSON `params` (None values dropped); return `result` or raise BotApiError."""
        body = {k: v for k, v in params.items() if v is not None}
        try:
            response = self.client.post(f"{self.base_url}/bot{self.token}/{method}", json=body)
        except httpx.HTTPError as exc:
            raise BotApiError(0, f"{method}: could not reach the Bot API ({type(exc).__name__})") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("ok") is True:
            return payload.get("result")
        if not isinstance(payload, dict):
            raise BotApiError(response.status_code or 0, f"{method}: HTTP {response.status_code} without a Bot API answer")
        parameters = payload.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        code = payload.get("error_code") or response.status_code
        description = str(payload.get("description") or f"HTTP {response.status_code}")[:300]
        raise BotApiError(int(code), description, int(retry_after) if isinstance(retry_after, (int, float)) else None)

    def get_me(self) -> dict:
        """getMe: the bot's User (id, username, is_bot)."""
        return self.call("getMe")

    def set_webhook(self, url: str, secret_token: str) -> bool:
        """setWebhook with our secret_token and the update kinds the funnel reads."""
        return self.call("setWebhook", url=url, secret_token=secret_token, allowed_updates=list(ALLOWED_UPDATES))

    def delete_webhook(self) -> bool:
        """deleteWebhook: Telegram stops posting updates (they wait for getUpdates or a new webhook)."""
        return self.call("deleteWebhook")

    def get_webhook_info(self) -> dict:
        """getWebhookInfo: url, pending_update_count, last_error_date, last_error_message."""
        return self.call("getWebhookInfo")

    def get_chat(self, chat_id: int | str) -> dict:
        """getChat: a ChatFullInfo (id, type, title, username, invite_link)."""
        return self.call("getChat", chat_id=chat_id)

    def get_chat_member(self, chat_id: int | str, user_id: int) -> dict:
        """getChatMember: a ChatMember (status, can_invite_users for administrators)."""
        return self.call("getChatMember", chat_id=chat_id, user_id=user_id)

    def get_chat_member_count(self, chat_id: int) -> int:
        """getChatMemberCount: how many members the chat has."""
        return int(self.call("getChatMemberCount", chat_id=chat_id))

    def create_chat_invite_link(self, chat_id: int, name: str, creates_join_request: bool = True) -> dict:
        """createChatInviteLink: a ChatInviteLink (invite_link, name, creates_join_request)."""
        return self.call("createChatInviteLink", chat_id=chat_id, name=name, creates_join_request=creates_join_request)

    def revoke_chat_invite_link(self, chat_id: int, invite_link: str) -> dict:
        """revokeChatInviteLink: the revoked ChatInviteLink."""
        return self.call("revokeChatInviteLink", chat_id=chat_id, invite_link=invite_link)

    def approve_chat_join_request(self, chat_id: int, user_id: int) -> bool:
        """approveChatJoinRequest."""
        return self.call("approveChatJoinRequest", chat_id=chat_id, user_id=user_id)

    def send_message(self, chat_id: int, text_html: str, buttons: list[dict] | None = None) -> dict:
        """sendMessage with parse_mode HTML and optional URL buttons (one per row); the sent Message."""
        markup = {"inline_keyboard": [[{"text": b["text"], "url": b["url"]}] for b in buttons]} if buttons else None
        return self.call("sendMessage", chat_id=chat_id, text=text_html, parse_mode="HTML", reply_markup=markup,
                         link_preview_options={"is_disabled": True})
