"""The bench's HTTP client: POSTs on keep-alive connections, one per thread."""

import http.client
import threading

from betreco.processes import HOST

HEADERS = {"Content-Type": "application/json"}  # plus Authorization with --production


def use_api_key(key: str) -> None:
    """Write with a token from now on (--production: authenticated writes are not throttled)."""
    HEADERS["Authorization"] = f"Bearer {key}"


class Http:
    """POSTs to 127.0.0.1:port over keep-alive HTTP/1.1, one connection per thread."""

    def __init__(self, port: int, timeout: float = 60.0):
        self.port, self.timeout = port, timeout
        self.local = threading.local()
        self.reconnects = 0

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    HOST, self.port, timeout=self.timeout
                )
            try:
                conn.request("POST", path, body, HEADERS)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError) as error:
                # The server closed an idle keep-alive connection: reconnect once. Records
                # are keyed by id, so a record sent twice is still stored once.
                conn.close()
                self.local.conn = None
                self.reconnects += 1
                if attempt:
                    raise RuntimeError(f"POST {path} failed twice: {error}") from error
                continue
            if response.will_close:
                conn.close()
                self.local.conn = None
            return response.status, data
        raise AssertionError("unreachable")


def expect_202(status: int, body: bytes, what: str) -> None:
    if status != 202:
        raise RuntimeError(f"{what}: HTTP {status}: {body[:300]!r}")


def expect_201(status: int, body: bytes, what: str) -> None:
    if status != 201:
        raise RuntimeError(f"{what}: HTTP {status} instead of 201: {body[:300]!r}")
