"""The token check in front of every route."""

from __future__ import annotations

from mnemosyne.api.front import presented_token
from tests.helpers import http_request


def test_token_from_header_or_query():
    assert presented_token({"HTTP_AUTHORIZATION": "Bearer abc"}) == "abc"
    assert presented_token({"HTTP_AUTHORIZATION": "bearer  abc "}) == "abc"
    assert presented_token({"QUERY_STRING": "access_token=xyz"}) == "xyz"
    assert presented_token({"HTTP_AUTHORIZATION": "Basic abc"}) is None
    assert presented_token({}) is None


def test_without_a_token_configured_everything_is_open(running_api):
    assert http_request(running_api.url + "/health").status == 200


def test_with_a_token_every_route_needs_it(make_api):
    running = make_api(api_token="s3cret")
    for path in ("/health", "/memories", "/events", "/", "/openapi.json"):
        refused = http_request(running.url + path)
        assert refused.status == 401, path
        assert refused.json() == {"error": "missing or wrong API token", "status": 401}
        assert refused.headers["www-authenticate"].startswith("Bearer")
    wrong = http_request(running.url + "/health", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    good = http_request(running.url + "/health", headers={"Authorization": "Bearer s3cret"})
    assert good.status == 200
    assert http_request(running.url + "/health?access_token=s3cret").status == 200
