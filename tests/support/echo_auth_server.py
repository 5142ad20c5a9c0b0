#!/usr/bin/env python3
"""A lying HTTPS server for tests, on 127.0.0.1 (a free port written to PORT_FILE). By default it
answers every POST with HTTP 500 and an error body that quotes the request's Authorization header
back, as a careless proxy or framework might. Options:
  --records          answer 200 with every record accepted, each carrying the header back in a field,
                     once as json.dumps writes it, once with its slashes escaped ("\\/"), as PHP's
                     json_encode does, and once with every character a \\u escape (the results copy
                     records' fields); the error page has the three forms too;
  --redirect URL     answer 307 to URL (an endpoint that moved); "{token}" in URL is replaced by the
                     token the request carried (a login page that quotes it).

Usage: echo_auth_server.py CERT KEY PORT_FILE [--records | --redirect URL]
"""
import http.server
import json
import os
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    location = None
    records = False

    def do_POST(self):
        request = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.location:
            self.send_response(307)
            token = str(self.headers.get("Authorization")).partition(" ")[2]
            self.send_header("Location", self.location.replace("{token}", token))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        auth = str(self.headers.get("Authorization"))
        escaped = auth.replace("/", "\\/")
        u_escaped = "".join("\\u%04x" % ord(c) for c in auth)
        if self.records:
            status = 200
            parts = []
            for record in json.loads(request)["records"]:
                text = json.dumps({"_id": record.get("_id"), "_status": {"code": 200, "text": "OK"},
                                   "echo": auth})
                parts.append(text[:-1] + ', "echo_escaped": "' + escaped + '", "echo_u": "' + u_escaped + '"}')
            body = ('{"records": [' + ", ".join(parts) + "]}").encode()
        else:
            status = 500
            text = json.dumps({"detail": "bad auth header: " + auth})
            body = (text[:-1] + ', "escaped": "' + escaped + '", "u": "' + u_escaped + '"}').encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    cert, key, port_file = sys.argv[1:4]
    rest = sys.argv[4:]
    if rest[:1] == ["--records"]:
        Handler.records = True
    elif rest[:1] == ["--redirect"]:
        Handler.location = rest[1]
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
