"""Create a space, and its settings screen: name, time zone, main currency (docs/setup.md)."""
from flask import Blueprint

from app.web import session

bp = Blueprint("setup_spaces", __name__, url_prefix="/spaces")
session.register_error_pages(bp)
