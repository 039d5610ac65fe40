"""The destinations screen: add and edit CAPI / webhook / postback, event maps, pause, send a test event."""
from flask import Blueprint

from app.web import session

bp = Blueprint("setup_destinations", __name__, url_prefix="/spaces/<space>/destinations")
session.register_error_pages(bp)
