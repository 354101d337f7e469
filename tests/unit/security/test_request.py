"""Token extraction from headers / query string, and redaction of paths for logs."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers

from server.security.request import redact_path, token_from_request


def test_bearer_header_wins_over_query() -> None:
    headers = Headers([("Authorization", "Bearer from-header")])
    assert token_from_request(headers, "/v1/stream?token=from-query") == "from-header"


@pytest.mark.parametrize("name", ["authorization", "AUTHORIZATION", "Authorization"])
def test_header_name_is_case_insensitive(name: str) -> None:
    assert token_from_request({name: "bearer abc"}, "/") == "abc"
    assert token_from_request([(name, "Bearer  abc ")], "/") == "abc"


def test_query_parameter() -> None:
    path = "/v1/listen?room=lobby&token=abc%2Bdef&lang=zh"
    assert token_from_request(Headers(), path) == "abc+def"


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({}, "/v1/stream"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "/v1/stream"),  # not a bearer token
        ({"Authorization": "Bearer"}, "/v1/stream?token="),  # empty both ways
        ({"X-Token": "abc"}, "/v1/stream?tok=abc"),
    ],
)
def test_no_token(headers: dict[str, str], path: str) -> None:
    assert token_from_request(headers, path) is None


def test_redact_path_hides_token_values() -> None:
    assert redact_path("/v1/listen?room=a&token=s3cret&lang=zh") == (
        "/v1/listen?room=a&token=***&lang=zh"
    )
    assert redact_path("/v1/stream?token=s3cret") == "/v1/stream?token=***"
    assert redact_path("/v1/stream?TOKEN=s3cret#x") == "/v1/stream?TOKEN=***#x"
    assert redact_path("/v1/stream?mytoken=keep") == "/v1/stream?mytoken=keep"
