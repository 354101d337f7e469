"""The web client when things go wrong: a server that dies and comes back,
a denied microphone, languages the server cannot do, a full server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright

from tests.e2e.conftest import (
    CHROMIUM,
    WEB_SERVER_ARGS,
    ConsoleWatch,
    FakeMic,
    WebPage,
    WebServer,
    WsEvents,
    parse_webvtt,
    wait_until,
    web_chromium_args,
)
from tests.e2e.test_web_client import (
    FINAL_TIMEOUT_S,
    conn_state,
    download_text,
    final_texts,
    open_speaker,
)


@pytest.fixture
def own_web_server(tmp_path: Path) -> Iterator[WebServer]:
    """A server of this test's own, free to be killed."""
    server = WebServer(WEB_SERVER_ARGS, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def busy_web_server(tmp_path: Path) -> Iterator[WebServer]:
    """A server that takes one speaker at a time."""
    server = WebServer((*WEB_SERVER_ARGS, "--max-sessions", "1"), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def banner(page: Page) -> tuple[str | None, str]:
    if not page.is_visible("[data-testid=error-banner]"):
        return None, ""
    return (
        page.get_attribute("[data-testid=error-banner]", "data-code"),
        page.inner_text("[data-testid=error-banner]"),
    )


def test_reconnects_after_the_server_dies_and_returns(
    web_page: WebPage, own_web_server: WebServer, web_artifacts: Path
) -> None:
    page = web_page.page
    server = own_web_server
    ws = WsEvents(page)
    open_speaker(page, server)
    wait_until(page, lambda: len(final_texts(page)) >= 1, FINAL_TIMEOUT_S, "a first final")
    before = final_texts(page)

    server.kill()  # SIGKILL: no close frame, like a crash
    wait_until(page, lambda: conn_state(page) == "reconnecting", 15, "the reconnecting state")
    assert "Connection lost" in page.inner_text("[data-testid=connection-state]")
    assert page.is_visible("[data-testid=retry-now]")
    markers = page.inner_text("[data-testid=captions]")
    assert "Connection lost" in markers, markers
    page.wait_for_timeout(2500)  # let a few attempts fail against the dead port
    assert conn_state(page) in ("reconnecting", "connecting")

    server.start()  # same port
    wait_until(page, lambda: conn_state(page) == "connected", 60, "the connection to come back")
    assert len(ws.of("ready")) == 2
    assert "Reconnected" in page.inner_text("[data-testid=captions]")
    # The microphone kept running: new finals arrive from the new session.
    wait_until(
        page,
        lambda: len(final_texts(page)) > len(before),
        FINAL_TIMEOUT_S,
        "a final after reconnecting",
    )
    page.screenshot(path=str(web_artifacts / "web-reconnect.png"))
    page.click("[data-testid=stop]")
    wait_until(page, lambda: conn_state(page) == "idle", 60, "the idle state after stop")

    # The export's clock runs on across the two sessions.
    cues = parse_webvtt(download_text(page, "export-vtt"))
    starts = [c.start for c in cues]
    assert starts == sorted(starts) and len(set(starts)) == len(starts), starts

    # While the server was down, Chromium itself logs each refused WebSocket
    # connection as a console error ("WebSocket connection to ... failed"); no
    # page script can prevent that. Those, and only those, are expected here;
    # backoff keeps them few.
    refused = web_page.console.assert_clean(
        allow=re.compile(
            rf"WebSocket connection to 'ws://127\.0\.0\.1:{server.port}/v1/stream' failed: "
            r".*ERR_CONNECTION_REFUSED"
        )
    )
    assert 1 <= len(refused) <= 8, refused


def test_denied_microphone_is_explained(
    web_playwright: Playwright, web_fake_mic: FakeMic, web_server: WebServer
) -> None:
    """Without --use-fake-ui-for-media-stream, Chromium denies the microphone (as a user would)."""
    args = [
        a for a in web_chromium_args(web_fake_mic.path) if a != "--use-fake-ui-for-media-stream"
    ]
    browser = web_playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    try:
        page = browser.new_page()
        console = ConsoleWatch()
        console.attach(page)
        ws = WsEvents(page)
        page.goto(web_server.url + "/")
        page.wait_for_selector("[data-testid=start]:not([disabled])")
        page.click("[data-testid=start]")
        wait_until(page, lambda: banner(page)[0] is not None, 15, "the error banner")
        code, text = banner(page)
        assert code == "mic_denied", (code, text)
        assert "Microphone access was denied" in text
        assert conn_state(page) == "failed"
        assert page.is_visible("[data-testid=start]") and page.is_enabled("[data-testid=start]")
        assert ws.events == []  # nothing was sent to the server
        console.assert_clean()
    finally:
        browser.close()


def inject_choice(page: Page, what: str, code: str) -> None:
    """Offer a language the server does not have (as a stale page or a hand-made URL would)."""
    if what == "source":
        page.evaluate(
            "c => { const s = document.querySelector('[data-testid=source-language]');"
            " s.append(new Option(c, c)); s.value = c; }",
            code,
        )
    else:
        page.evaluate(
            "c => { const l = document.createElement('label'); const b = document.createElement('input');"
            " b.type = 'checkbox'; b.value = c; b.checked = true; l.append(b, c);"
            " document.querySelector('[data-testid=target-languages]').append(l); }",
            code,
        )


def test_server_errors_are_explained_and_not_retried_when_permanent(
    web_page: WebPage, busy_web_server: WebServer
) -> None:
    server = busy_web_server
    page = web_page.page
    ws = WsEvents(page)

    # unsupported_language: tiny.en only knows English.
    page.goto(server.url + "/")
    page.wait_for_selector("[data-testid=start]:not([disabled])")
    inject_choice(page, "source", "de")
    page.click("[data-testid=start]")
    wait_until(page, lambda: banner(page)[0] is not None, 30, "the error banner")
    code, text = banner(page)
    assert code == "unsupported_language", (code, text)
    assert "cannot handle that language" in text
    wait_until(page, lambda: conn_state(page) == "failed", 10, "the failed state")
    page.wait_for_timeout(2000)
    assert conn_state(page) == "failed"  # permanent: no reconnect loop
    assert len(ws.of("error")) == 1

    # unsupported_pair: nothing translates English into German here.
    page.reload()
    page.wait_for_selector("[data-testid=start]:not([disabled])")
    inject_choice(page, "target", "de")
    page.click("[data-testid=start]")
    wait_until(page, lambda: banner(page)[0] == "unsupported_pair", 30, "unsupported_pair")
    assert "no model that translates" in banner(page)[1]
    wait_until(page, lambda: conn_state(page) == "failed", 10, "the failed state")

    # overloaded: a second speaker on a one-session server waits and gets in later.
    page.reload()
    open_speaker(page, server)
    wait_until(page, lambda: conn_state(page) == "connected", 30, "the first speaker")
    second = web_page.context.new_page()
    open_speaker(second, server)
    wait_until(second, lambda: banner(second)[0] == "overloaded", 30, "overloaded")
    assert "busy" in banner(second)[1]
    wait_until(second, lambda: conn_state(second) == "reconnecting", 10, "the retry state")
    assert "Server busy" in second.inner_text("[data-testid=connection-state]")
    page.click("[data-testid=stop]")
    wait_until(page, lambda: conn_state(page) == "idle", 60, "the first speaker to stop")
    wait_until(
        second, lambda: conn_state(second) == "connected", 30, "the second speaker to get in"
    )
    assert banner(second)[0] is None  # the message goes once the session is up
    second.click("[data-testid=stop]")
    wait_until(second, lambda: conn_state(second) == "idle", 60, "the second speaker to stop")
    web_page.console.assert_clean()
