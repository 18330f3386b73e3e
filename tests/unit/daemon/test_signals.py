import ast
import inspect
import os
import select
import signal
import textwrap

from mnemosyne.daemon import signals as signals_module
from mnemosyne.daemon.signals import SignalQueue


def test_signals_are_queued_in_order_and_handlers_restored():
    before = signal.getsignal(signal.SIGHUP)
    queue = SignalQueue()
    queue.install([signal.SIGHUP, signal.SIGUSR1])
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert queue.wait(1) == signal.SIGHUP
        assert queue.wait(1) == signal.SIGUSR1
        assert queue.wait(0.01) is None
    finally:
        queue.restore()
    assert signal.getsignal(signal.SIGHUP) == before


def test_handler_is_a_single_statement():
    source = textwrap.dedent(inspect.getsource(signals_module.SignalQueue._enqueue))
    function = ast.parse(source).body[0]
    body = [node for node in function.body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    assert len(body) == 1


def test_wakeup_pipe_becomes_readable_and_pending_drains_in_order():
    queue = SignalQueue()
    queue.install([signal.SIGUSR1, signal.SIGUSR2])
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert select.select([queue.fileno()], [], [], 1)[0]
        assert queue.pending() == [signal.SIGUSR2, signal.SIGUSR1]
        assert queue.pending() == []
    finally:
        queue.restore()
    assert signal.set_wakeup_fd(-1) == -1


def test_pending_without_reading_the_pipe_still_returns_what_is_queued():
    queue = SignalQueue()
    queue.install([signal.SIGUSR1])
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert queue.pending(read_pipe=False) == [signal.SIGUSR1]
        assert select.select([queue.fileno()], [], [], 0)[0]  # the pipe was left alone
        assert queue.pending() == []
        assert not select.select([queue.fileno()], [], [], 0)[0]
    finally:
        queue.restore()
