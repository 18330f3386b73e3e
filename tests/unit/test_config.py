from pathlib import Path

import pytest

from mnemosyne.config import (
    SETTINGS,
    ConfigError,
    Settings,
    parse_database_url,
    parse_host_port,
    redact_url,
    resolve_settings,
)


def test_defaults_use_xdg_data_dir_not_the_current_directory(tmp_path):
    settings = resolve_settings(environ={"XDG_DATA_HOME": str(tmp_path / "data"),
                                         "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert settings.db_path == tmp_path / "data" / "mnemosyne" / "mnemosyne.db"
    assert settings.config_dir == tmp_path / "cfg" / "mnemosyne"
    assert settings.busy_timeout_ms >= 5000
    assert settings.heartbeat_interval_s == 2.0
    assert settings.stale_threshold_s == 30.0
    assert settings.poll_interval_s == 2.0
    assert settings.message_size_cap == 1024
    assert settings.api_addr == "127.0.0.1:3000"
    assert all(source == "default" for source in settings.sources.values())


def test_precedence_is_flag_then_env_then_file_then_default(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('db_path = "/from/file.db"\nlog_level = "warning"\n'
                      'busy_timeout_ms = 7000\nheartbeat_interval_s = 3.5\n')
    environ = {"MNEMOSYNE_DB_PATH": "/from/env.db", "MNEMOSYNE_LOG_LEVEL": "error"}
    settings = resolve_settings({"db_path": "/from/flag.db"}, environ, config)
    assert settings.db_path == Path("/from/flag.db")
    assert settings.sources["database_url"] == "flag"
    assert settings.log_level == "error"
    assert settings.sources["log_level"] == "env:MNEMOSYNE_LOG_LEVEL"
    assert settings.busy_timeout_ms == 7000
    assert settings.sources["busy_timeout_ms"] == f"file:{config}"
    assert settings.heartbeat_interval_s == 3.5
    assert settings.stale_threshold_s == 30.0
    assert settings.sources["stale_threshold_s"] == "default"


def test_mnemosyne_db_path_wins_over_database_url(tmp_path):
    environ = {"MNEMOSYNE_DB_PATH": "/a.db", "DATABASE_URL": "sqlite:///b.db",
               "XDG_CONFIG_HOME": str(tmp_path)}
    assert resolve_settings(environ=environ).db_path == Path("/a.db")
    del environ["MNEMOSYNE_DB_PATH"]
    settings = resolve_settings(environ=environ)
    assert settings.db_path == Path("/b.db")
    assert settings.sources["database_url"] == "env:DATABASE_URL"


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////var/lib/m.db", "//var/lib/m.db"),
    ("sqlite:///var/lib/m.db", "/var/lib/m.db"),
    ("/plain/path.db", "/plain/path.db"),
])
def test_database_url_accepts_plain_paths_and_absolute_sqlite_urls(url, expected):
    assert parse_database_url(url) == expected


def test_database_url_relative_plain_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_database_url("rel.db") == str(tmp_path / "rel.db")


@pytest.mark.parametrize("url", ["postgres://u:p@h/db", "postgresql:///db?host=/run/pg",
                                 "POSTGRESQL://h/db"])
def test_database_url_keeps_postgresql_urls_as_given_with_no_sqlite_path(url, tmp_path):
    assert parse_database_url(url) == url
    settings = resolve_settings(environ={"DATABASE_URL": url, "XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.database_url == url and settings.db_path is None


def test_config_show_hides_the_database_password(tmp_path):
    url = "postgresql://alice:s3cret@db.example/mem?sslmode=require&password=other"
    settings = resolve_settings(environ={"DATABASE_URL": url, "XDG_CONFIG_HOME": str(tmp_path)})
    shown = {row["name"]: row["value"] for row in settings.describe()}["database_url"]
    assert shown == "postgresql://alice:***@db.example/mem?sslmode=require&password=***"
    assert redact_url("postgresql://bob@h/db") == "postgresql://bob@h/db"


def test_legacy_db_path_key_and_flag_still_work(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('db_path = "/from/file.db"\n')
    settings = resolve_settings(environ={}, config_path=config)
    assert settings.db_path == Path("/from/file.db")
    assert resolve_settings({"db_path": "/f.db"}, {}, config).database_url == "/f.db"


@pytest.mark.parametrize("url", ["libsql://host/db", "mysql://x/y", "sqlite://relative.db",
                                 "sqlite:///"])
def test_database_url_rejects_other_schemes_naming_the_supported_ones(url):
    with pytest.raises(ValueError, match="sqlite:///ABSOLUTE/PATH"):
        parse_database_url(url)


def test_bad_database_url_in_environment_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"env:DATABASE_URL.*unsupported scheme .libsql."):
        resolve_settings(environ={"DATABASE_URL": "libsql://x", "XDG_CONFIG_HOME": str(tmp_path)})


def test_unknown_file_key_error_names_the_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("db_pth = 1\n")
    with pytest.raises(ConfigError) as caught:
        resolve_settings(environ={}, config_path=config)
    assert str(config) in str(caught.value)
    assert "db_pth" in str(caught.value)


def test_every_invalid_value_is_reported_at_once(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('busy_timeout_ms = -1\nlog_level = "loud"\n')
    with pytest.raises(ConfigError) as caught:
        resolve_settings({"api_addr": "nohost"}, environ={}, config_path=config)
    assert len(caught.value.problems) == 3
    assert caught.value.exit_code == 2


def test_not_toml_and_missing_explicit_file_are_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_settings(environ={}, config_path=bad)
    with pytest.raises(ConfigError, match="no such file"):
        resolve_settings(environ={}, config_path=tmp_path / "missing.toml")


def test_missing_default_config_file_is_fine(tmp_path):
    settings = resolve_settings(environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.config_path == tmp_path / "mnemosyne" / "config.toml"


def test_secret_is_masked_in_description(tmp_path):
    settings = resolve_settings(environ={"MNEMOSYNE_SHARED_SECRET": "hunter2",
                                         "XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.shared_secret == "hunter2"
    shown = {row["name"]: row for row in settings.describe()}
    assert shown["shared_secret"]["value"] == "********"
    assert shown["shared_secret"]["source"] == "env:MNEMOSYNE_SHARED_SECRET"
    assert "hunter2" not in repr(settings.describe())


def test_settings_table_and_dataclass_agree():
    fields = set(Settings.__dataclass_fields__) - {"config_path", "config_dir", "state_dir",
                                                   "sources", "problems"}
    assert fields == {setting.name for setting in SETTINGS}
    assert all(setting.doc for setting in SETTINGS)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:3000", ("127.0.0.1", 3000)), ("[::1]:0", ("::1", 0)),
    ("localhost:8080", ("localhost", 8080)),
])
def test_host_port_parsing(text, expected):
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["3000", ":3000", "127.0.0.1:", "127.0.0.1:70000",
                                  "example.com:80", "1.2.3.4:x"])
def test_host_port_rejects_bad_addresses(text):
    with pytest.raises(ValueError):
        parse_host_port(text)


@pytest.mark.parametrize(("name", "value"), [
    ("MNEMOSYNE_HEARTBEAT_INTERVAL_S", "0"), ("MNEMOSYNE_HEARTBEAT_INTERVAL_S", "nan"),
    ("MNEMOSYNE_MESSAGE_SIZE_CAP", "1.5"), ("MNEMOSYNE_SHARED_SECRET", ""),
])
def test_invalid_environment_values(tmp_path, name, value):
    environ = {name: value, "XDG_CONFIG_HOME": str(tmp_path)}
    if value == "":
        # An empty variable counts as unset.
        assert resolve_settings(environ=environ).shared_secret is None
        return
    with pytest.raises(ConfigError, match=name):
        resolve_settings(environ=environ)


def test_settings_are_frozen(tmp_path):
    settings = resolve_settings(environ={"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(AttributeError):
        settings.log_level = "debug"  # type: ignore[misc]


def test_lenient_resolution_falls_back_to_defaults_and_keeps_the_problems(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('heartbeat_interval_s = -1\nnot_a_key = 1\n')
    with pytest.raises(ConfigError):
        resolve_settings(environ={}, config_path=config)
    settings = resolve_settings(environ={"MNEMOSYNE_MESSAGE_TTL_S": "soon"}, config_path=config,
                                lenient=True)
    assert settings.message_ttl_s == 300.0
    assert settings.sources["message_ttl_s"] == "default"
    assert any("not_a_key" in problem for problem in settings.problems)
    assert any(problem.startswith("message_ttl_s from env:") for problem in settings.problems)
    config.write_text("heartbeat_interval_s = -1\n")
    settings = resolve_settings(environ={}, config_path=config, lenient=True)
    assert settings.heartbeat_interval_s == 2.0
    assert settings.problems and settings.problems[0].startswith("heartbeat_interval_s from file")


def test_child_environment_adds_to_this_process_s(monkeypatch):
    from mnemosyne.config import child_environment  # noqa: PLC0415

    monkeypatch.setenv("MNEMOSYNE_TEST_INHERITED", "yes")
    environment = child_environment({"EXTRA": "1"})
    assert environment["MNEMOSYNE_TEST_INHERITED"] == "yes" and environment["EXTRA"] == "1"
