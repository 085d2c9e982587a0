"""Helpers for tests and benchmarks that start a real server on 127.0.0.1."""

import socket
import subprocess
import time
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    """Waits until GET url answers 200; fails with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, f"the API exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"the API did not answer within {timeout} s: {log.read_text()}"
        time.sleep(0.2)
