"""A fake Telegram Bot API over real HTTP on 127.0.0.1: the methods XTRACKER calls, Telegram's JSON shapes and errors.

Answers `{"ok": true, "result": …}` or `{"ok": false, "error_code": N, "description": …,
"parameters": {"retry_after": S}}` as https://core.telegram.org/bots/api#making-requests
describes. Tests queue failures per method (`fail_next`), block users (`blocked`), and read
every call with its arrival time (`calls`).
"""
import itertools
import json
import secrets
import threading
import time
from collections import defaultdict

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

BOT_ID = 7000000001
BOT_TOKEN = f"{BOT_ID}:AAH" + "x" * 32
CHANNEL_ID = -1001234567890


class FakeBotApi:
    """State of one fake Bot API server: bots, chats, members, invite links, messages, approvals."""

    def __init__(self):
        self.bots = {BOT_TOKEN: {"id": BOT_ID, "is_bot": True, "first_name": "Funnel", "username": "funnel_test_bot"}}
        self.chats = {CHANNEL_ID: {"id": CHANNEL_ID, "type": "channel", "title": "Signals Channel",
                                   "invite_link": "https://t.me/+primaryPrimary01"}}
        self.members = {(CHANNEL_ID, BOT_ID): {"status": "administrator", "can_invite_users": True,
                                               "user": self.bots[BOT_TOKEN]}}
        self.member_count = defaultdict(lambda: 1000)
        self.webhooks: dict[str, dict] = {}
        self.invites: list[dict] = []
        self.revoked: list[str] = []
        self.messages: list[dict] = []
        self.approvals: list[dict] = []
        self.calls: list[dict] = []
        self.blocked: set[int] = set()
        self.failures: dict[str, list[tuple]] = defaultdict(list)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = None

    # -- test controls --------------------------------------------------------------------------
    def fail_next(self, method: str, code: int, description: str, retry_after: int | None = None, times: int = 1):
        """Make the next `times` calls of `method` fail with this Telegram error."""
        self.failures[method].extend([(code, description, retry_after)] * times)

    def called(self, method: str) -> list[dict]:
        return [c for c in self.calls if c["method"] == method]

    # -- server -----------------------------------------------------------------------------------
    def start(self) -> "FakeBotApi":
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/_state":
            # For a benchmark running this server in its own process: what the bot was asked to do.
            with self._lock:
                state = {"webhooks": self.webhooks, "invites": self.invites, "approvals": self.approvals}
            return Response(json.dumps(state), mimetype="application/json")(environ, start_response)
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._error(404, "Not Found")(environ, start_response)
        token, method = parts[0][3:], parts[1]
        params = json.loads(request.get_data() or b"{}")
        with self._lock:
            self.calls.append({"method": method, "params": params, "at": time.time()})
            bot = self.bots.get(token)
            if bot is None:
                return self._error(401, "Unauthorized")(environ, start_response)
            if self.failures[method]:
                code, description, retry_after = self.failures[method].pop(0)
                return self._error(code, description, retry_after)(environ, start_response)
            handler = getattr(self, "_" + method, None)
            if handler is None:
                return self._error(404, "Not Found: method not found")(environ, start_response)
            outcome = handler(bot, params)
        if isinstance(outcome, Response):
            return outcome(environ, start_response)
        return Response(json.dumps({"ok": True, "result": outcome}), mimetype="application/json")(environ, start_response)

    @staticmethod
    def _error(code: int, description: str, retry_after: int | None = None) -> Response:
        body = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
            description = f"Too Many Requests: retry after {retry_after}"
            body["description"] = description
        return Response(json.dumps(body), status=code, mimetype="application/json")

    def _chat(self, ref):
        if isinstance(ref, str) and ref.startswith("@"):
            return next((c for c in self.chats.values() if (c.get("username") or "").lower() == ref[1:].lower()), None)
        return self.chats.get(int(ref))

    # -- methods ----------------------------------------------------------------------------------
    def _getMe(self, bot, params):
        return bot

    def _setWebhook(self, bot, params):
        self.webhooks[str(bot["id"])] = params
        return True

    def _deleteWebhook(self, bot, params):
        self.webhooks.pop(str(bot["id"]), None)
        return True

    def _getWebhookInfo(self, bot, params):
        hook = self.webhooks.get(str(bot["id"]), {})
        return {"url": hook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0,
                "allowed_updates": hook.get("allowed_updates", [])}

    def _getChat(self, bot, params):
        chat = self._chat(params["chat_id"])
        if chat is None:
            return self._error(400, "Bad Request: chat not found")
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11}

    def _getChatMember(self, bot, params):
        chat = self._chat(params["chat_id"])
        if chat is None:
            return self._error(400, "Bad Request: chat not found")
        return self.members.get((chat["id"], int(params["user_id"])), {"status": "left", "user": {"id": params["user_id"]}})

    def _getChatMemberCount(self, bot, params):
        return self.member_count[int(params["chat_id"])]

    def _createChatInviteLink(self, bot, params):
        chat_id = int(params["chat_id"])
        member = self.members.get((chat_id, bot["id"]), {})
        if member.get("status") != "administrator" or not member.get("can_invite_users"):
            return self._error(400, "Bad Request: not enough rights to manage chat invite links")
        link = {"invite_link": f"https://t.me/+{secrets.token_urlsafe(12)}", "creator": bot,
                "creates_join_request": bool(params.get("creates_join_request")), "is_primary": False,
                "is_revoked": False, "name": params.get("name")}
        self.invites.append({**link, "chat_id": chat_id})
        return link

    def _revokeChatInviteLink(self, bot, params):
        self.revoked.append(params["invite_link"])
        return {"invite_link": params["invite_link"], "creator": bot, "creates_join_request": True,
                "is_primary": False, "is_revoked": True}

    def _approveChatJoinRequest(self, bot, params):
        self.approvals.append({"chat_id": int(params["chat_id"]), "user_id": int(params["user_id"]), "at": time.time()})
        return True

    def _sendMessage(self, bot, params):
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        message = {"message_id": next(self._ids), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private"}, "text": params["text"]}
        self.messages.append({**params, "at": time.time()})
        return message


def user(user_id: int, first_name: str = "Ann") -> dict:
    """A Telegram User object of a person."""
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}


def channel_chat(chat_id: int = CHANNEL_ID) -> dict:
    return {"id": chat_id, "title": "Signals Channel", "type": "channel"}


def invite_object(invite: dict) -> dict:
    """A ChatInviteLink as Telegram puts it in updates (the bot's own links in full)."""
    return {"invite_link": invite["invite_link"], "creator": {"id": BOT_ID, "is_bot": True, "first_name": "Funnel",
                                                              "username": "funnel_test_bot"},
            "creates_join_request": True, "is_primary": False, "is_revoked": False, "name": invite.get("name")}


def join_request_update(update_id: int, user_id: int, date: int, invite: dict | None,
                        chat_id: int = CHANNEL_ID) -> dict:
    """A real chat_join_request update."""
    request = {"chat": channel_chat(chat_id), "from": user(user_id), "user_chat_id": user_id, "date": date,
               "bio": "hi"}
    if invite is not None:
        request["invite_link"] = invite_object(invite)
    return {"update_id": update_id, "chat_join_request": request}


def chat_member_update(update_id: int, user_id: int, date: int, old: str, new: str, invite: dict | None = None,
                       chat_id: int = CHANNEL_ID) -> dict:
    """A real chat_member update (old → new status)."""
    member = {"update_id": update_id, "chat_member": {
        "chat": channel_chat(chat_id), "from": user(user_id), "date": date,
        "old_chat_member": {"user": user(user_id), "status": old},
        "new_chat_member": {"user": user(user_id), "status": new}}}
    if invite is not None:
        member["chat_member"]["invite_link"] = invite_object(invite)
    return member


def private_message_update(update_id: int, user_id: int, date: int, text: str) -> dict:
    """A real message update: a person writes to the bot in their private chat (commands carry an entity)."""
    message = {"message_id": update_id, "from": user(user_id), "date": date, "text": text,
               "chat": {"id": user_id, "first_name": "Ann", "type": "private"}}
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split(" ", 1)[0]), "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def my_chat_member_update_private(update_id: int, user_id: int, date: int, new_status: str) -> dict:
    """A real my_chat_member update from a private chat: the person blocked (kicked) or restarted (member) the bot."""
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "Funnel", "username": "funnel_test_bot"}
    old_status = "member" if new_status == "kicked" else "kicked"
    return {"update_id": update_id, "my_chat_member": {
        "chat": {"id": user_id, "first_name": "Ann", "type": "private"}, "from": user(user_id), "date": date,
        "old_chat_member": {"user": bot, "status": old_status},
        "new_chat_member": {"user": bot, "status": new_status, **({"until_date": 0} if new_status == "kicked" else {})}}}


def my_chat_member_update(update_id: int, date: int, new_status: str, can_invite: bool = False,
                          chat_id: int = CHANNEL_ID) -> dict:
    """A real my_chat_member update about the bot itself."""
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "Funnel", "username": "funnel_test_bot"}
    new = {"user": bot, "status": new_status}
    if new_status == "administrator":
        new.update(can_invite_users=can_invite, can_be_edited=False, is_anonymous=False)
    return {"update_id": update_id, "my_chat_member": {
        "chat": channel_chat(chat_id), "from": user(1), "date": date,
        "old_chat_member": {"user": bot, "status": "administrator", "can_invite_users": True},
        "new_chat_member": new}}


if __name__ == "__main__":
    # `python -m tests.telegram.fake_bot_api`: serve until killed, printing the URL on the first line.
    import logging
    import sys
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = FakeBotApi().start()
    print(fake.url, flush=True)
    sys.stdin.read()
