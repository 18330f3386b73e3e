"""`mnemosyne send` and `mnemosyne inbox` between real processes, and serve receiving."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from tests.helpers import assert_one_line_error


class Follower:
    """`mnemosyne inbox --follow --format json` as a child; collects the messages it prints."""

    def __init__(self, instance_id, env, cwd):
        self.instance_id = instance_id
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mnemosyne", "inbox", "--as", instance_id, "--follow",
             "--format", "json"], env=env, cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.messages = []
        self.stderr = []
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self):
        for line in self.process.stdout:
            self.messages.append(json.loads(line))

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        code = self.process.wait(10)
        for thread in self._threads:
            thread.join(5)
        self.process.stdout.close()
        self.process.stderr.close()
        return code


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def registered(cli, *ids):
    listed = {view["instance_id"] for view in
              json.loads(cli("instances", "--format", "json").ok().stdout)}
    return set(ids) <= listed


def test_serve_handles_a_message_sent_from_the_cli(start_daemon, cli):
    daemon = start_daemon("--instance-id", "b0b0b0b0")
    daemon.wait_for_line("ready:")
    cli("send", "--to", "b0b0b0b0", "--type", "JoinRequest", "--payload", '{"branch": "x"}',
        "--from", "a0a0a0a0").ok()
    line = daemon.wait_for_line("message JoinRequest")
    assert 'from a0a0a0a0 to b0b0b0b0: {"branch": "x"}' in line


def test_serve_hands_over_messages_sent_to_its_id_before_it_started(start_daemon, cli):
    cli("send", "--to", "b1b1b1b1", "--type", "Early", "--payload", '"waiting"',
        "--allow-offline").ok()
    daemon = start_daemon("--instance-id", "b1b1b1b1")
    daemon.wait_for_line("ready:")
    daemon.wait_for_line('message Early from ')
    assert any('"waiting"' in line for line in daemon.lines if "message Early" in line)


def test_broadcast_reaches_eight_receivers_exactly_once_and_never_the_sender(
        cli, isolated_env, tmp_path):
    ids = [f"0000000{index}" for index in range(8)]
    followers = [Follower(instance_id, isolated_env, tmp_path) for instance_id in ids]
    sender_inbox = Follower("5e5e5e5e", isolated_env, tmp_path)
    try:
        wait_for(lambda: registered(cli, *ids, "5e5e5e5e"))
        sent = [cli("send", "--broadcast", "--type", "Note", "--payload", str(number),
                    "--from", "5e5e5e5e").ok().stdout.strip() for number in range(3)]
        wait_for(lambda: all(len(f.messages) >= 3 for f in followers))
        time.sleep(0.3)  # anything extra (a duplicate) would arrive by now
    finally:
        codes = [follower.stop() for follower in (*followers, sender_inbox)]
    assert codes == [0] * 9
    for follower in followers:
        assert [message["id"] for message in follower.messages] == sent
        assert [message["payload"] for message in follower.messages] == [0, 1, 2]
    assert sender_inbox.messages == []


def test_direct_messages_arrive_in_send_order(cli, isolated_env, tmp_path):
    for number in range(20):
        cli("send", "--to", "d1d1d1d1", "--type", "Note", "--payload", str(number),
            "--from", "a0a0a0a0", "--allow-offline").ok()
    result = cli("inbox", "--as", "d1d1d1d1", "--format", "json").ok()
    assert [json.loads(line)["payload"] for line in result.stdout.splitlines()] == \
        list(range(20))
    assert cli("inbox", "--as", "d1d1d1d1").ok().stdout == ""


def test_one_kilobyte_limit_at_both_ends(cli, tmp_path):
    big = json.dumps("x" * 1100)
    assert_one_line_error(cli("send", "--to", "d1d1d1d1", "--type", "Note", "--payload", big,
                              "--allow-offline"), 2, "over the limit of 1024 bytes")
    cli("send", "--to", "d1d1d1d1", "--type", "Note", "--payload", big, "--from", "a0a0a0a0",
        "--allow-offline", env={"MNEMOSYNE_MESSAGE_SIZE_CAP": "4096"}).ok()
    result = cli("inbox", "--as", "d1d1d1d1").ok()
    assert result.stdout == ""
    assert "over 1024 bytes" in result.stderr
    assert len(list((cli.root / "rejected").iterdir())) == 1


def test_messages_to_an_instance_that_never_came_expire(cli):
    cli("send", "--to", "99999999", "--type", "Note", "--allow-offline",
        env={"MNEMOSYNE_MESSAGE_TTL_S": "0.5"}).ok()
    assert len(list((cli.root / "coordination_queue").iterdir())) == 1
    time.sleep(0.6)
    cli("inbox", "--as", "d1d1d1d1", env={"MNEMOSYNE_MESSAGE_TTL_S": "0.5"}).ok()
    assert list((cli.root / "coordination_queue").iterdir()) == []


def test_inbox_cannot_steal_a_running_instances_messages(start_daemon, cli):
    daemon = start_daemon("--instance-id", "b0b0b0b0")
    daemon.wait_for_line("ready:")
    assert_one_line_error(cli("inbox", "--as", "b0b0b0b0"), 7, "b0b0b0b0 is already running")


def test_bad_send_and_inbox_arguments(cli):
    assert_one_line_error(cli("send", "--to", "XYZ", "--type", "Note"), 2, "invalid instance id")
    assert_one_line_error(cli("send", "--to", "d1d1d1d1", "--type", "9x"), 2,
                          "invalid message type")
    assert_one_line_error(cli("send", "--type", "Note"), 2, "one of the arguments --to")
    assert_one_line_error(cli("send", "--to", "d1d1d1d1", "--broadcast", "--type", "Note"), 2,
                          "not allowed with argument")
    assert_one_line_error(cli("inbox", "--as", "nothex!!"), 2, "invalid instance id")
    assert_one_line_error(cli("inbox"), 2, "required: --as")
