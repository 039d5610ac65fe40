"""The members screen: add a user by email with a role, change the role, remove (docs/setup.md)."""
from flask import Blueprint

from app.web import session

bp = Blueprint("setup_members", __name__, url_prefix="/spaces/<space>/members")
session.register_error_pages(bp)
