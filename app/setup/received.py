"""The received log: the last ingress requests of a space with warnings, and listen mode (docs/received.md)."""
from flask import Blueprint

from app.web import session

bp = Blueprint("setup_received", __name__, url_prefix="/spaces/<space>/received")
session.register_error_pages(bp)
