"""test_http_log.py - no client can grow the server's log (issue 12, finding 7).

libmicrohttpd writes a message for each connection dropped mid-request;
stampd lets at most 10 of them a minute through (src/server/http.c). 200
connections that send half a request and reset must leave a bounded log, and
the server keeps answering.
"""

import os
import socket
import struct
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HALF_REQUESTS = (b"POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
                 b"GET /v1/keys HTTP/1.1\r\nHo")


class AbortedConnections(unittest.TestCase):
    def test_200_aborted_connections_log_a_bounded_number_of_lines(self):
        srv = harness.Stampd("http-log")
        srv.init(psds=1)
        srv.start(processors=1)
        try:
            before = len(srv.stderr_text().splitlines())
            for i in range(200):
                c = socket.create_connection((srv.host, srv.port), timeout=10)
                c.sendall(HALF_REQUESTS[i % 2])
                time.sleep(0.01)  # let the server read the half request first
                # An RST rather than a FIN: the client vanished mid-request.
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            st, _, _ = srv.request("GET", "/v1/keys")
            self.assertEqual(st, 200)
            lines = srv.stderr_text().splitlines()[before:]
            self.assertLessEqual(len(lines), 13, "\n".join(lines[:20]))
            for line in lines:
                # "TIME warning http: ..." (docs/operations.md, "Logs"); the
                # access line of the last request is the one other.
                self.assertRegex(line, r"^\S+Z (warning http: |info access )", line)
            srv.stop()
        finally:
            srv.abandon()


if __name__ == "__main__":
    harness.main()
