"""`switchyard smoke` against HTTP servers that misbehave the ways a fresh deploy does: a model still
loading (503 + Retry-After), a server that accepts and never answers, one that answers garbage.
Each is a FAIL line saying what happened, within the timeout, never a traceback or a wait for ever."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stacks.cli import main
from tests.conftest import PROFILES

pytestmark = pytest.mark.timeout(60)
KEY = "k3y-for-smoke-0123456789abcdef0123456789"


def outputs(tmp_path, url: str) -> str:
    path = tmp_path / "pulumi-outputs.json"
    entry = {"namespace": "ml-fraud-scoring", "service": "http://fraud-scoring.ml-fraud-scoring.svc", "url": url}
    path.write_text(json.dumps({"workloads": {"fraud-scoring": entry}}))
    return str(path)


def smoke(tmp_path, url: str, *extra: str) -> int:
    argv = ["smoke", "fraud-scoring", str(PROFILES), "--pulumi-outputs", outputs(tmp_path, url), "--input", "1"]
    return main([*argv, *extra])


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("SWITCHYARD_API_KEY", KEY)


def serve(handler) -> tuple[str, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def test_a_model_still_loading_is_waited_for_as_its_retry_after_says(tmp_path, capsys, env):
    calls: list[float] = []

    class Loading(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            calls.append(time.monotonic())
            if len(calls) < 3:
                body, code, extra = b'{"error": "model is loading"}', 503, {"retry-after": "1"}
            else:
                body, code, extra = b'{"outputs": [0.1]}', 200, {}
            self.send_response(code)
            for k, v in {"content-type": "application/json", "content-length": str(len(body)), **extra}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    url, server = serve(Loading)
    try:
        assert smoke(tmp_path, url, "--timeout", "20") == 0
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert out.startswith("ok") and "503" in out and "model is loading" in out
    assert len(calls) == 3 and calls[1] - calls[0] >= 0.9  # it waited as told


def test_a_503_past_the_timeout_fails_with_the_servers_reason(tmp_path, capsys, env):
    class Full(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            body = b'{"error": "replica is full"}'
            self.send_response(503)
            self.send_header("retry-after", "1")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    url, server = serve(Full)
    started = time.monotonic()
    try:
        assert smoke(tmp_path, url, "--timeout", "2") == 1
    finally:
        server.shutdown()
    assert time.monotonic() - started < 10
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and "503" in out and "replica is full" in out


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    yield sock, held
    for s in held:
        s.close()
    sock.close()


def test_a_server_that_accepts_and_never_answers_times_out_saying_so(tmp_path, capsys, env, listener):
    sock, _ = listener  # the kernel accepts; nobody ever reads or answers
    started = time.monotonic()
    assert smoke(tmp_path, f"http://127.0.0.1:{sock.getsockname()[1]}", "--timeout", "1") == 1
    assert time.monotonic() - started < 10
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "no answer within 1 s" in text and "cannot connect" not in text


def test_a_server_that_answers_garbage_fails_without_a_traceback(tmp_path, capsys, env, listener):
    sock, held = listener

    def answer():
        conn, _ = sock.accept()
        held.append(conn)
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    assert smoke(tmp_path, f"http://127.0.0.1:{sock.getsockname()[1]}", "--timeout", "5") == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "not HTTP" in text and "Traceback" not in text


def test_a_refused_connection_says_cannot_connect(tmp_path, capsys, env, listener):
    sock, _ = listener
    port = sock.getsockname()[1]
    sock.close()
    assert smoke(tmp_path, f"http://127.0.0.1:{port}", "--timeout", "1") == 1
    assert "cannot connect" in capsys.readouterr().err
