"""The received log: ingress requests as sent, with their answers and warnings (docs/received.md)."""
