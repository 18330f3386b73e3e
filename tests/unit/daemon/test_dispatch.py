"""The message dispatch: handlers for every message, handlers per type, failures contained."""

from __future__ import annotations

import logging

import pytest

from mnemosyne.coord.queue import Message
from mnemosyne.daemon.dispatch import Dispatch
from mnemosyne.errors import UsageError


def message(kind: str) -> Message:
    return Message("0-a-b-c", "aaaaaaaa", None, kind, "now", {"plan": "p"})


def test_handlers_run_for_every_message_then_by_type():
    seen = []
    dispatch = Dispatch(lambda m: seen.append(("log", m.message_type)))
    dispatch.on_any(lambda m: seen.append(("any", m.message_type)))
    dispatch.on("WorkAvailable", lambda m: seen.append(("work", m.payload["plan"])))
    dispatch(message("WorkAvailable"))
    dispatch(message("JoinRequest"))
    assert seen == [("log", "WorkAvailable"), ("any", "WorkAvailable"), ("work", "p"),
                    ("log", "JoinRequest"), ("any", "JoinRequest")]
    assert dispatch.types() == ["WorkAvailable"]


def test_a_failing_handler_is_logged_and_the_others_still_run(caplog):
    seen = []

    def broken(_message):
        raise ValueError("bad payload")

    dispatch = Dispatch(broken)
    dispatch.on("WorkStop", seen.append)
    with caplog.at_level(logging.ERROR):
        dispatch(message("WorkStop"))
    assert len(seen) == 1 and "bad payload" in caplog.text


def test_a_bad_type_is_refused():
    with pytest.raises(UsageError):
        Dispatch().on("no spaces allowed", print)
