"""The links screen: create, edit, archive; landing URLs and deep links (docs/setup.md)."""
from flask import Blueprint

from app.web import session

bp = Blueprint("setup_links", __name__, url_prefix="/spaces/<space>/links")
session.register_error_pages(bp)
