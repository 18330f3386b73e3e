import io
import json
import os
import threading

import pytest

from mnemosyne.mcp import protocol
from mnemosyne.mcp.server import McpServer, McpSession
from mnemosyne.mcp.stdio import answer_line, serve_stdio


class Output(io.BytesIO):
    def lines(self):
        return [json.loads(line) for line in self.getvalue().decode().splitlines()]


class BrokenOutput(io.BytesIO):
    def write(self, data):
        raise BrokenPipeError


class Wakeup:
    def __init__(self):
        self.read_end, self.write_end = os.pipe()

    def fileno(self):
        return self.read_end

    def signal(self):
        os.write(self.write_end, b"\x0f")

    def close(self):
        os.close(self.read_end)
        os.close(self.write_end)


@pytest.fixture
def server(store):
    return McpServer(store)


def feed(data: bytes):
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    return read_end


def ping(request_id):
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}).encode()


def test_lines_are_answered_in_order_and_the_input_closing_ends_the_loop(server):
    data = b"\n".join([ping(1), b"", b"not json", b"  ", ping(2) + b"\r",
                       b'{"jsonrpc":"2.0","method":"notifications/initialized"}', ping(3)])
    output = Output()
    fd = feed(data)  # the last line has no newline: it is still answered
    try:
        assert serve_stdio(server, McpSession(), fd, output) == "input closed"
    finally:
        os.close(fd)
    lines = output.lines()
    assert [line.get("id") for line in lines] == [1, None, 2, 3]
    assert lines[1]["error"]["code"] == protocol.PARSE_ERROR


def test_an_over_long_line_is_refused_and_the_next_one_answered(server, monkeypatch):
    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", 1000)
    output = Output()
    fd = feed(b"x" * 5000 + b"\n" + ping(7) + b"\n")
    try:
        serve_stdio(server, McpSession(), fd, output)
    finally:
        os.close(fd)
    lines = output.lines()
    assert lines[0]["error"]["code"] == protocol.PARSE_ERROR
    assert lines[-1] == {"jsonrpc": "2.0", "id": 7, "result": {}}


def test_a_gone_reader_ends_the_loop(server):
    fd = feed(ping(1) + b"\n")
    try:
        assert serve_stdio(server, McpSession(), fd, BrokenOutput()) == "output closed"
    finally:
        os.close(fd)


def test_a_wakeup_stops_the_loop_and_idle_work_runs_meanwhile(server):
    read_end, write_end = os.pipe()
    wakeup, ticks = Wakeup(), []
    timer = threading.Timer(0.3, wakeup.signal)
    timer.start()
    try:
        reason = serve_stdio(server, McpSession(), read_end, Output(), wakeup=wakeup,
                             stop_requested=lambda: True, on_idle=lambda: ticks.append(1),
                             idle_interval_s=0.05)
    finally:
        timer.join()
        wakeup.close()
        os.close(read_end)
        os.close(write_end)
    assert reason == "stopped" and len(ticks) >= 2


def test_answer_line():
    assert answer_line(None, None, b"[").startswith('{"jsonrpc":"2.0","id":null')
