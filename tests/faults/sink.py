"""A webhook receiver for the fault suite, run as its own process: logs `webhook-id<TAB>eid` per request.

Usage: python tests/faults/sink.py PORT LOGFILE      (answers 200 to every POST; SIGTERM stops it)
"""
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    out = open(path, "a", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                eid = json.loads(body)["data"]["eid"]
            except (ValueError, KeyError, TypeError):
                eid = "?"
            with lock:
                out.write(f"{self.headers.get('webhook-id', '?')}\t{eid}\n")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a sender killed mid-request resets its connection: expected here

    server = Server(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    out.close()


if __name__ == "__main__":
    main()
