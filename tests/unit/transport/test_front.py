"""Which side of the port serves a connection, from its first bytes (server.transport.front)."""

from __future__ import annotations

import pytest

from server.transport.front import MAX_METHOD_BYTES, sniff


@pytest.mark.parametrize("head", [b"GET / HTTP/1.1\r\n", b"GET ", b"GET /v1/stream?x=1 HTTP/1.1"])
def test_get_stays_with_websockets(head: bytes) -> None:
    assert sniff(head) == "websockets"


@pytest.mark.parametrize("head", [
    b"POST /v1/audio/transcriptions HTTP/1.1\r\n", b"PUT ", b"HEAD / HTTP/1.1",
    b"OPTIONS * HTTP/1.1", b"get / HTTP/1.1", b"GETS / HTTP/1.1",
])
def test_other_methods_go_to_the_asgi_side(head: bytes) -> None:
    assert sniff(head) == "asgi"


@pytest.mark.parametrize("head", [b"", b"G", b"GE", b"GET", b"POS"])
def test_a_method_not_complete_yet_waits(head: bytes) -> None:
    assert sniff(head) is None


def test_no_method_at_all_goes_to_h11_which_answers_400() -> None:
    assert sniff(b"X" * (MAX_METHOD_BYTES + 1)) == "asgi"
    assert sniff(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") is None
    assert sniff(b"garbage\r\n") == "asgi"
