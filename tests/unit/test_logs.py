import io
import logging

import pytest

from mnemosyne import logs


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logs.set_instance_context(None)
    root.handlers[:] = handlers
    root.setLevel(level)


def test_journal_format_has_priority_prefix_and_no_timestamp():
    stream = io.StringIO()
    logs.configure_logging("debug", stream, journal=True)
    log = logging.getLogger("mnemosyne.test")
    log.debug("d")
    log.info("i")
    log.warning("w\nsecond line")
    log.error("e")
    log.critical("c")
    assert stream.getvalue().splitlines() == ["<7>d", "<6>i", "<4>w", "<4>second line", "<3>e",
                                              "<2>c"]


def test_console_format_is_utc_timestamped_like_the_seed():
    stream = io.StringIO()
    logs.configure_logging("info", stream, journal=False)
    logging.getLogger("mnemosyne.test").warning("careful")
    line = stream.getvalue().strip()
    stamp, level, message = line.split(" ", 2)
    assert stamp.endswith("Z") and "T" in stamp
    assert (level, message) == ("WARN", "careful")


def test_instance_context_tags_every_line_and_levels_filter():
    stream = io.StringIO()
    logs.configure_logging("warning", stream, journal=True)
    logs.set_instance_context("a1b2c3d4")
    log = logging.getLogger("mnemosyne.test")
    log.info("hidden")
    log.warning("shown")
    logs.set_log_level("info")
    log.info("now shown")
    assert stream.getvalue().splitlines() == ["<4>[a1b2c3d4] shown", "<6>[a1b2c3d4] now shown"]


def test_configuring_twice_does_not_duplicate_lines():
    stream = io.StringIO()
    logs.configure_logging("info", stream, journal=True)
    logs.configure_logging("info", stream, journal=True)
    logging.getLogger("mnemosyne.test").info("once")
    assert stream.getvalue() == "<6>once\n"


@pytest.mark.parametrize(("level", "priority"), [(5, 7), (15, 7), (25, 6), (45, 3), (60, 2)])
def test_in_between_levels_map_to_the_nearest_lower_priority(level, priority):
    assert logs.syslog_priority(level) == priority
