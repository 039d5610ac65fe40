"""Every page names its icon, so browsers do not probe /favicon.ico (a 404 in every console)."""
import re


def test_pages_and_docs_link_an_icon_that_is_served(client):
    for path in ("/login", "/docs/api"):
        page = client.get(path).get_data(as_text=True)
        icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
        assert icon, path
        served = client.get(icon.group(1))
        assert served.status_code == 200 and served.mimetype == "image/svg+xml" and b"<svg" in served.data
