"""The conversion core: canonical events and their field rules, the one-statement write of event +
journey + outbox rows, the click write, their group-commit writers and the after-commit
announcement. Entry points (ingress API, landing, Telegram) and consumers (delivery, received log,
deck) import this package; it imports none of them (tests/test_layering.py)."""
