import http.server
import json
import socket
import threading

import pytest

from mnemosyne.doctor import api_check
from tests.unit.doctor.conftest import snapshot


class Health:
    """A real HTTP server on 127.0.0.1, port 0, answering /health as told."""

    def __init__(self, body, status=200):
        self.body, self.status, self.requests, self.headers = body, status, [], []
        health = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                health.requests.append(self.path)
                health.headers.append(dict(self.headers))
                raw = health.body if isinstance(health.body, bytes) else \
                    json.dumps(health.body).encode()
                self.send_response(health.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def serve():
    servers = []

    def start(body, status=200):
        servers.append(Health(body, status))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def results(world, fix=False):
    return [(f.status, f.details.get("instance_id")) for f in api_check.run(world.context(fix=fix))]


def test_nothing_advertised_is_ok(world):
    world.live("11111111")
    assert [f.message for f in api_check.run(world.context())] == [
        "no live instance advertises an API"]


def test_an_instance_answering_as_itself_is_ok(world, serve):
    server = serve({"instance_id": "11111111", "status": "ok"})
    world.live("11111111", api_url=server.url)
    before = snapshot(world.root.path)
    assert results(world, fix=True) == [("ok", "11111111")]
    assert server.requests == ["/health"]
    assert not {name.lower() for name in server.headers[0]} & {"authorization", "cookie"}
    assert snapshot(world.root.path) == before


def test_degraded_answers_warn_and_wrong_ones_are_problems(world, serve):
    degraded = serve({"instance_id": "11111111", "status": "degraded"}, status=503)
    taken_over = serve({"instance_id": "99999999", "status": "ok"})
    not_json = serve(b"<html>hello</html>")
    a_list = serve(["11111111"])
    world.live("11111111", api_url=degraded.url)
    world.live("22222222", api_url=taken_over.url)
    world.live("33333333", api_url=not_json.url)
    world.live("44444444", api_url=a_list.url)
    findings = {f.details["instance_id"]: f for f in api_check.run(world.context())}
    assert findings["11111111"].status == "warn" and "degraded" in findings["11111111"].message
    assert findings["22222222"].status == "problem"
    assert "answers as '99999999'" in findings["22222222"].message
    assert findings["33333333"].status == "problem"
    assert findings["44444444"].status == "problem"
    assert "not a JSON object" in findings["44444444"].message


def test_no_answer_is_a_problem(world):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    world.live("11111111", api_url=f"http://127.0.0.1:{port}")
    world.live("22222222", api_url=f"https://127.0.0.1:{port}")
    findings = {f.details["instance_id"]: f for f in api_check.run(world.context())}
    assert findings["11111111"].status == "problem" and "does not answer" in \
        findings["11111111"].message
    assert "not an http URL" in findings["22222222"].message


def test_a_listener_that_never_answers_times_out(world):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        world.live("11111111", api_url=f"http://127.0.0.1:{silent.getsockname()[1]}")
        findings = api_check.run(world.context())
    assert [f.status for f in findings] == ["problem"]


def test_entries_that_are_not_live_and_verified_are_never_contacted(world, serve):
    server = serve({"instance_id": "x", "status": "ok"})
    world.hung("22222222")
    world.registry().put({**world.registry().entries()["22222222"], "api_url": server.url})
    world.register("33333333", world.dead_pid(), start_time=1, key=b"o" * 32,
                   api_url=server.url)
    world.register("44444444", world.dead_pid(), start_time=1, api_url=server.url)
    world.register("55555555", world.sleeper().pid, key=b"o" * 32, api_url=server.url)
    assert [f.status for f in api_check.run(world.context())] == ["ok"]
    assert server.requests == []
