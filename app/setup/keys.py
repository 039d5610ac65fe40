"""The API keys screen: rotate and reveal once, ready-to-paste code, the postback URL builder (docs/setup.md)."""
from flask import Blueprint

from app.web import session

bp = Blueprint("setup_keys", __name__, url_prefix="/spaces/<space>/keys")
session.register_error_pages(bp)
