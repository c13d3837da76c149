"""A TCP proxy on 127.0.0.1 that limits throughput (both directions share one token bucket).

Used by the link benchmark to stand in for a 100 Mbit/s line between a city and the province.
"""

from __future__ import annotations

import socket
import threading
import time


class Bucket:
    def __init__(self, bytes_per_second: float) -> None:
        self.rate = bytes_per_second
        self.tokens = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.rate * 0.05, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= n or self.tokens >= self.rate * 0.05 - 1:
                    self.tokens -= n
                    return
                wait = (n - self.tokens) / self.rate
            time.sleep(min(wait, 0.05))


class RateLimitedProxy:
    def __init__(self, target_port: int, mbit_per_second: float = 100.0) -> None:
        self.target_port = target_port
        self.bucket = Bucket(mbit_per_second * 1e6 / 8)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(32768):
                self.bucket.take(len(data))
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        self.sock.close()
