"""The custom domains screen: add a hostname, the CNAME to set, verify, status (docs/custom-domains.md)."""
from flask import Blueprint

from app.web import session

bp = Blueprint("setup_domains", __name__, url_prefix="/spaces/<space>/domains")
session.register_error_pages(bp)
