import pytest

from mnemosyne.errors import NotFoundError, UsageError
from mnemosyne.store import model


@pytest.mark.parametrize("namespace", ["global", "project:myapp", "project:my-app.v2_x",
                                       "session:myapp:42", "session:a:b-c"])
def test_valid_namespaces(namespace):
    assert model.validate_namespace(namespace) == namespace


@pytest.mark.parametrize("namespace", ["", "Global", "project:", "project:-x", "project:a b",
                                       "session:myapp", "team:x", "global ", " global",
                                       "project:" + "x" * 65, "session:a:b:c"])
def test_invalid_namespaces_are_rejected_never_turned_into_global(namespace):
    with pytest.raises(UsageError, match="invalid namespace"):
        model.validate_namespace(namespace)


def test_memory_types_and_aliases():
    assert model.validate_memory_type("decision") == "decision"
    assert model.validate_memory_type("Bug-Fix") == "bug_fix"
    assert model.validate_memory_type("bugfix") == "bug_fix"
    assert model.validate_memory_type("config") == "configuration"
    with pytest.raises(UsageError) as caught:
        model.validate_memory_type("musing")
    assert all(name in str(caught.value) for name in model.MEMORY_TYPES)


@pytest.mark.parametrize("value", ["1", 10, "10", 5])
def test_importance_in_range(value):
    assert 1 <= model.validate_importance(value) <= 10


@pytest.mark.parametrize("value", ["0", 11, "-3", "high", "5.5", True, None, 5.0])
def test_importance_out_of_range_or_not_whole(value):
    with pytest.raises(UsageError, match="importance"):
        model.validate_importance(value)


def test_content_rules():
    assert model.validate_content("x", 10) == "x"
    for bad in ("", "   \n\t", None):
        with pytest.raises(UsageError, match="empty"):
            model.validate_content(bad, 10)
    with pytest.raises(UsageError, match="over the limit of 4 bytes"):
        model.validate_content("héllo", 4)
    with pytest.raises(UsageError, match="NUL"):
        model.validate_content("a\x00b", 10)


def test_tags_are_stripped_deduplicated_and_checked():
    assert model.parse_tags(" a, b ,a,,c") == ("a", "b", "c")
    assert model.parse_tags(None) == ()
    assert model.parse_tags(["x", "y"]) == ("x", "y")
    with pytest.raises(UsageError, match="invalid tag"):
        model.parse_tags(["has space"])
    with pytest.raises(UsageError, match="at most 32"):
        model.parse_tags(",".join(f"t{i}" for i in range(33)))
    with pytest.raises(UsageError, match="not text"):
        model.parse_tags([1])


def test_timestamps_round_trip_and_reject_other_forms():
    now = model.utc_now()
    assert model.validate_timestamp(now, "t") == now
    with pytest.raises(UsageError, match="not a UTC timestamp"):
        model.validate_timestamp("2026-01-01 12:00:00", "t")


def test_ids():
    memory_id = model.new_memory_id()
    assert model.validate_memory_id(memory_id) == memory_id
    with pytest.raises(UsageError):
        model.validate_memory_id(memory_id.upper())


def test_link_types():
    assert model.validate_link_type("Depends-On") == "depends_on"
    with pytest.raises(UsageError, match="valid types are related"):
        model.validate_link_type("likes")


def test_summary_rules():
    assert model.validate_summary(None) is None
    with pytest.raises(UsageError):
        model.validate_summary(" ")
    with pytest.raises(UsageError):
        model.validate_summary("x" * 1025)


def test_an_update_must_change_something_and_archive_takes_a_boolean():
    with pytest.raises(UsageError, match="nothing to update"):
        model.validate_changes(content=None, summary=None, importance=None, tags=None,
                               memory_type=None, archived=None, max_content_bytes=100)
    with pytest.raises(UsageError, match="archived must be true or false"):
        model.validate_changes(content=None, summary=None, importance=None, tags=None,
                               memory_type=None, archived="yes", max_content_bytes=100)
    assert model.validate_changes(content=None, summary=None, importance="7", tags="a,b",
                                  memory_type="bug", archived=True, max_content_bytes=100) == {
        "importance": 7, "tags": ("a", "b"), "memory_type": "bug_fix", "archived": True}


def test_a_new_memory_is_validated_and_created_now():
    memory = model.new_memory("text", namespace="project:x", importance=3, tags=None,
                              memory_type="note", summary=None, max_content_bytes=100)
    assert (memory.namespace, memory.importance, memory.tags) == ("project:x", 3, ())
    assert memory.created_at == memory.updated_at
    with pytest.raises(UsageError):
        model.new_memory("text", namespace="nope", importance=3, tags=None,
                         memory_type="note", summary=None, max_content_bytes=100)


def test_a_link_is_checked_before_it_is_made():
    link = model.new_link("a" * 8, "b" * 8, "related", 0.5)
    assert (link.source_id, link.target_id, link.link_type, link.strength) == \
        ("a" * 8, "b" * 8, "related", 0.5)
    for link_type, strength in (("nonsense", 1), ("related", 1.5), ("related", True),
                                ("related", "strong")):
        with pytest.raises(UsageError):
            model.validate_link_fields(link_type, strength)
    with pytest.raises(UsageError, match="itself"):
        model.new_link("a" * 8, "a" * 8, "related", 1)


def test_an_id_prefix_names_a_range_and_must_name_one_memory():
    assert model.id_prefix_range(" ABCD ") == ("abcd", "abce")
    for bad in ("abc", "xyz1", "abcd!"):
        with pytest.raises(UsageError):
            model.id_prefix_range(bad)
    assert model.the_one_id(["abcd1"], "abcd") == "abcd1"
    with pytest.raises(NotFoundError):
        model.the_one_id([], "abcd")
    with pytest.raises(UsageError, match="ambiguous"):
        model.the_one_id(["abcd1", "abcd2"], "abcd")


def test_a_listing_limit_of_zero_or_none_means_all():
    assert [model.validate_list_limit(limit) for limit in (None, 0, 7)] == [None, None, 7]
    with pytest.raises(UsageError):
        model.validate_list_limit(-1)
