from __future__ import annotations

import pytest

from server.errors import ProtocolError
from server.rooms.query import parse_listen_query


def test_room_and_language() -> None:
    r = parse_listen_query("/v1/listen?room=team.a-1&lang=zh-CN")
    assert (r.room, r.lang) == ("team.a-1", "zh")
    assert parse_listen_query("/v1/listen?room=x").lang is None
    assert parse_listen_query("/v1/listen?room=x&lang=").lang is None
    assert parse_listen_query("/v1/listen?lang=EN&room=x&token=t").lang == "en"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "bad_message"),
        ("?room=", "bad_message"),
        ("?room=a/b", "bad_message"),
        ("?room=" + "x" * 65, "bad_message"),
        ("?room=a&room=b", "bad_message"),
        ("?room=a&lang=en&lang=de", "bad_message"),
        ("?room=a&lang=english!", "unsupported_language"),
    ],
)
def test_bad_requests_are_fatal_with_a_code(query: str, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_listen_query("/v1/listen" + query)
    assert info.value.code == code and info.value.fatal
