"""A real HTTP webhook receiver on loopback for the `pql notify` tests, with injectable faults.

Each POST is recorded (idempotency key, parsed body, the status answered). ``faults`` maps the 1-based
number of a request to what to do instead of a plain 200: ``500``/``503`` (status), ``(429, "1")``
(status with Retry-After), ``("slow", seconds)`` (answer 200 after a pause), ``("hold", event)`` (wait
until the event is set, then 200).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    key: str | None
    body: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    faults: dict[int, Any] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)  # set at every request
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    path: str = "/services/T000SECRET/B000SECRET/xoxbsecrettoken42"

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver.lock:
                    number = len(receiver.requests) + 1
                    fault = receiver.faults.get(number)
                    entry = Received(self.headers.get("Idempotency-Key"), body, 200)
                    receiver.requests.append(entry)
                receiver.arrived.set()
                status, headers = receiver._act(fault)
                entry.status = status
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def _act(self, fault: Any) -> tuple[int, dict[str, str]]:
        if fault is None:
            return 200, {}
        if isinstance(fault, int):
            return fault, {}
        kind, arg = fault
        if kind == "slow":
            time.sleep(arg)
            return 200, {}
        if kind == "hold":
            arg.wait(30)
            return 200, {}
        return int(kind), {"Retry-After": str(arg)}

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # ---- what arrived -----------------------------------------------------------------------------
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def record_ids(self, *, dedupe: bool) -> Counter[str]:
        """Multiset of record ids in accepted requests (``dedupe``: once per idempotency key, as a receiver would)."""
        seen: set[str | None] = set()
        out: Counter[str] = Counter()
        for r in self.accepted():
            if dedupe and r.key in seen:
                continue
            seen.add(r.key)
            out.update(rec["id"] for rec in r.body.get("records", []))
        return out
