"""The worker's output file: reused while nothing else can write to it, never shared."""

from __future__ import annotations

import errno
import os
import subprocess

from mnemosyne.daemon import taskoutput
from mnemosyne.daemon.taskoutput import TaskOutput


def run(output, command, wait=True):
    child = output.open_for_child()
    try:
        process = subprocess.Popen(["sh", "-c", command], stdout=child,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        os.close(child)
    if wait:
        process.wait()
    return process


def file_of(output):
    return os.fstat(output._file).st_ino  # which file, for the test


def assert_each_attempt_gets_a_new_file():
    output = TaskOutput(tail_bytes=4096)
    try:
        run(output, "echo one")
        first, held = file_of(output), os.dup(output._file)  # kept: its inode not reused
        output.end_attempt()
        run(output, "echo two")
        assert output.tail() == "two\n" and file_of(output) != first
        os.close(held)
    finally:
        output.close()


def test_the_file_is_emptied_and_kept_when_the_task_left_nothing_behind():
    output = TaskOutput(tail_bytes=8)
    try:
        run(output, "printf 'first and long output'")
        kept = file_of(output)
        assert output.tail() == "g output"
        output.end_attempt()
        run(output, "echo two")
        assert output.tail() == "two\n" and file_of(output) == kept
    finally:
        output.close()


def test_a_process_still_writing_gets_the_file_and_the_next_attempt_a_new_one():
    output = TaskOutput(tail_bytes=4096)
    try:
        escaped = run(output, "sleep 0.4; echo LEAKED", wait=False)  # as if it had left
        first = file_of(output)
        output.end_attempt()
        run(output, "sleep 0.6; echo next")
        assert output.tail() == "next\n" and file_of(output) != first
        escaped.wait()
    finally:
        output.close()


def test_without_leases_every_attempt_gets_a_new_file(monkeypatch):
    real = taskoutput.fcntl.fcntl

    def no_leases(fd, command, argument=0):
        if command == taskoutput.F_SETLEASE:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, command, argument)

    monkeypatch.setattr(taskoutput.fcntl, "fcntl", no_leases)
    assert_each_attempt_gets_a_new_file()


def test_invalid_utf8_is_replaced_and_nothing_is_read_before_any_attempt():
    output = TaskOutput(tail_bytes=4096)
    assert output.tail() == ""
    output.end_attempt()
    try:
        run(output, r"printf 'a\377b'")
        assert output.tail() == "a\ufffdb"
    finally:
        output.close()


def test_without_proc_the_child_shares_the_file_and_it_is_never_reused(monkeypatch):
    real_open = os.open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/self/fd/"):
            raise FileNotFoundError(2, "No such file or directory")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(taskoutput.os, "open", no_proc)
    assert_each_attempt_gets_a_new_file()


def test_a_failure_while_ending_an_attempt_drops_the_file_and_never_raises(monkeypatch):
    output = TaskOutput(tail_bytes=4096)
    run(output, "echo one")

    def broken(fd, length):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(taskoutput.os, "ftruncate", broken)
    output.end_attempt()
    assert output.tail() == ""  # dropped
    monkeypatch.undo()
    run(output, "echo two")
    assert output.tail() == "two\n"
    output.close()


def test_a_lease_broken_by_an_opener_does_not_end_the_process(monkeypatch):
    # Someone opening the file while the lease is held signals the holder: SIGURG (ignored),
    # never SIGIO, which would end this process (and the test run with it).
    real = taskoutput.fcntl.fcntl
    broken = []

    def opened_meanwhile(fd, command, argument=0):
        result = real(fd, command, argument)
        if command == taskoutput.F_SETLEASE and argument == taskoutput.fcntl.F_WRLCK:
            try:
                os.close(os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK))
            except BlockingIOError:  # the lease is being broken: its holder is signalled
                broken.append(fd)
        return result

    monkeypatch.setattr(taskoutput.fcntl, "fcntl", opened_meanwhile)
    output = TaskOutput(tail_bytes=4096)
    try:
        run(output, "echo one")
        output.end_attempt()
        assert broken
    finally:
        output.close()
