#!/usr/bin/env python3
"""A lying HTTPS server for tests: answers every POST with HTTP 500 and an error body that quotes
the request's Authorization header back, as a careless proxy or framework might; or, given a
LOCATION, with a 307 redirect there (an endpoint that moved).

Usage: echo_auth_server.py CERT KEY PORT_FILE [LOCATION]
  (listens on 127.0.0.1, a free port written to PORT_FILE)
"""
import http.server
import json
import os
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    location = None

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.location:
            self.send_response(307)
            self.send_header("Location", self.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"detail": "bad auth header: " + str(self.headers.get("Authorization"))}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    cert, key, port_file = sys.argv[1:4]
    if len(sys.argv) > 4:
        Handler.location = sys.argv[4]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
