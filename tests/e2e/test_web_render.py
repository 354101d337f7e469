"""Caption rendering and export of the web client's own modules, in the real
browser, fed with scripted protocol events.

The servers the e2e tests can start (tiny.en + zh-en) cannot translate English
speech, so translation layout, scrolling and cue splitting are checked here
with events of the documented shapes; everything else about the page is
checked against the real server in test_web_client.py.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page

from tests.e2e.conftest import ConsoleWatch, WebPage, WebServer, parse_srt, parse_webvtt

SETUP_JS = """
async () => {
  const { CaptionView, ScrollFollower } = await import('/captions.js');
  const exp = await import('/export.js');
  document.getElementById('empty').hidden = true;
  const scroller = document.getElementById('captions-scroll');
  const follower = new ScrollFollower(scroller);
  const view = new CaptionView(document.getElementById('captions'), {
    announcer: document.getElementById('announcer'),
    header: document.getElementById('colhead'),
    onChange: () => follower.update(),
  });
  view.newGeneration(0);
  view.setLanguages('en', ['zh', 'fr']);
  window.__t = { view, follower, exp };
}
"""


LONG_FINAL = (
    "so what we found is that the model <really> works --> on long sentences "
    "that go on and on for a very long time indeed"
)


def t(
    segment: int,
    text: str,
    *,
    final: bool,
    stable: str = "",
    start: float = 0.0,
    end: float = 1.0,
    words: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "transcript",
        "final": final,
        "segment": segment,
        "text": text,
        "stable": text if final else stable,
        "unstable": "" if final else text[len(stable) :],
        "start": start,
        "end": end,
        "language": "en",
        "latency_ms": 300.0,
    }
    if final:
        ev["words"] = words or []
    return ev


def tr(
    segment: int,
    lang: str,
    text: str,
    sources: list[int],
    *,
    final: bool,
    start: float = 0.0,
    end: float = 1.0,
) -> dict[str, Any]:
    return {
        "type": "translation",
        "final": final,
        "lang": lang,
        "segment": segment,
        "text": text,
        "source_segments": sources,
        "source_text": "",
        "start": start,
        "end": end,
        "via": "mt",
        "latency_ms": 500.0,
        "mt_ms": 40.0,
    }


def feed(page: Page, *events: dict[str, Any]) -> None:
    page.evaluate(
        "evs => { for (const e of evs) e.type === 'transcript' ? __t.view.transcript(e)"
        " : __t.view.translation(e); }",
        list(events),
    )


def box(page: Page, selector: str) -> dict[str, float]:
    b = page.locator(selector).bounding_box()
    assert b is not None, selector
    return {"x": b["x"], "y": b["y"], "width": b["width"], "height": b["height"]}


def test_partials_settle_in_place_and_translations_sit_beside_or_under(
    web_page: WebPage, web_server: WebServer, web_artifacts: Path
) -> None:
    page = web_page.page
    page.goto(web_server.url + "/")
    page.wait_for_selector("[data-testid=start]:not([disabled])")
    page.evaluate(SETUP_JS)

    feed(page, t(0, " Good morning every", final=False, stable=" Good morning"))
    row = page.locator("[data-key='1:0']")
    row_id = row.evaluate("e => (e.__id = Math.random())")
    assert row.get_attribute("data-state") == "partial"
    stable_color = page.eval_on_selector(
        "[data-key='1:0'] .stable", "e => getComputedStyle(e).color"
    )
    tail_color = page.eval_on_selector(
        "[data-key='1:0'] .unstable", "e => getComputedStyle(e).color"
    )
    assert stable_color != tail_color  # the provisional tail looks provisional
    assert page.inner_text("[data-testid=live-region]") == ""  # partials are not announced
    y_partial = box(page, "[data-key='1:0'] .src")["y"]

    feed(
        page,
        tr(0, "zh", "早上好", [0], final=False),
        t(0, " Good morning everyone.", final=True, start=0.2, end=1.6),
        tr(0, "zh", "大家早上好。", [0], final=True, start=0.2, end=1.6),
        tr(0, "fr", "Bonjour à tous.", [0], final=True, start=0.2, end=1.6),
    )
    assert row.evaluate("e => e.__id") == row_id  # the same element, settled in place
    assert row.get_attribute("data-state") == "final"
    assert box(page, "[data-key='1:0'] .src")["y"] == y_partial  # no jump
    assert page.inner_text("[data-key='1:0'] .src") == "Good morning everyone."
    assert "Good morning everyone." in page.inner_text("[data-testid=live-region]")
    assert page.inner_text("[data-key='1:0'] [data-lang=zh]").strip() == "大家早上好。"

    # Beside: one row, three columns left to right on a wide screen.
    src, zh, fr = (
        box(page, f"[data-key='1:0'] {s}") for s in (".src", "[data-lang=zh]", "[data-lang=fr]")
    )
    assert src["x"] < zh["x"] < fr["x"] and abs(src["y"] - zh["y"]) < 2
    assert page.is_visible("#colhead")
    page.screenshot(path=str(web_artifacts / "web-translations-beside.png"))

    # Under: the same row, translations stacked below the source.
    page.check("[data-testid=translations-under]")
    src, zh = box(page, "[data-key='1:0'] .src"), box(page, "[data-key='1:0'] [data-lang=zh]")
    assert zh["y"] >= src["y"] + src["height"] - 1 and abs(src["x"] - zh["x"]) < 20
    page.uncheck("[data-testid=translations-under]")
    web_page.console.assert_clean()


def test_auto_scroll_stops_when_the_reader_scrolls_back(
    web_page: WebPage, web_server: WebServer
) -> None:
    page = web_page.page
    page.goto(web_server.url + "/")
    page.wait_for_selector("[data-testid=start]:not([disabled])")
    page.evaluate(SETUP_JS)
    scroll = "[data-testid=captions-scroll]"
    gap = f"document.querySelector('{scroll}')"
    at_bottom = f"(() => {{ const e = {gap}; return e.scrollHeight - e.scrollTop - e.clientHeight < 32; }})()"

    for i in range(40):
        feed(page, t(i, f" Sentence number {i} of a long talk.", final=True, start=i, end=i + 0.9))
    page.wait_for_timeout(100)
    assert page.evaluate(at_bottom)
    assert page.is_hidden("[data-testid=jump-live]")

    page.hover(scroll)
    page.mouse.wheel(0, -600)  # the reader scrolls back
    page.wait_for_timeout(200)
    top = page.evaluate(f"{gap}.scrollTop")
    assert page.is_visible("[data-testid=jump-live]")
    for i in range(40, 50):
        feed(page, t(i, f" Sentence number {i} of a long talk.", final=True, start=i, end=i + 0.9))
    page.wait_for_timeout(200)
    assert page.evaluate(f"{gap}.scrollTop") == top  # left where the reader is
    assert not page.evaluate(at_bottom)

    page.focus("[data-testid=jump-live]")
    page.keyboard.press("Enter")  # keyboard usable
    page.wait_for_timeout(100)
    assert page.evaluate(at_bottom)
    assert page.is_hidden("[data-testid=jump-live]")
    feed(page, t(50, " And the end.", final=True, start=50, end=51))
    page.wait_for_timeout(100)
    assert page.evaluate(at_bottom)  # following again
    web_page.console.assert_clean()


def test_exports_split_long_finals_by_word_times_and_escape_text(
    web_page: WebPage, web_server: WebServer
) -> None:
    page = web_page.page
    page.goto(web_server.url + "/")
    page.wait_for_selector("[data-testid=start]:not([disabled])")
    page.evaluate(SETUP_JS)
    words = LONG_FINAL.split()
    ends = [10 + 0.4 * i + 0.3 for i in range(len(words))]
    timed = [
        {"word": w, "start": 10 + 0.4 * i, "end": ends[i], "probability": 0.9}
        for i, w in enumerate(words)
    ]
    feed(
        page,
        t(0, " Short one.", final=True, start=1.0, end=2.0),
        t(1, " " + " ".join(words), final=True, start=10.0, end=ends[-1], words=timed),
    )
    finals = page.evaluate("__t.view.track('source')")
    vtt_text = page.evaluate(
        "f => __t.exp.toWebVTT(__t.exp.buildCues(f), {language: 'en'})", finals
    )
    srt_text = page.evaluate("f => __t.exp.toSRT(__t.exp.buildCues(f))", finals)
    vtt, srt = parse_webvtt(vtt_text), parse_srt(srt_text)
    assert [(c.start, c.end) for c in vtt] == [(c.start, c.end) for c in srt]
    assert vtt[0].text == "Short one." and (vtt[0].start, vtt[0].end) == (1.0, 2.0)
    assert len(vtt) >= 3  # the long final became several cues
    for cue_block in vtt_text.split("\n\n")[2:]:
        lines = [html.unescape(x) for x in cue_block.strip("\n").split("\n")[2:]]
        assert 1 <= len(lines) <= 2 and all(len(x) <= 42 for x in lines), lines
    assert "&lt;really&gt;" in vtt_text and "<really>" in srt_text  # VTT markup escaped
    assert "-->" not in " ".join(c.text for c in vtt)
    assert vtt[1].start == 10.0 and vtt[-1].end == round(ends[-1], 3)
    web_page.console.assert_clean()


def test_small_screen_and_dark_scheme(
    web_browser: Browser, web_server: WebServer, web_artifacts: Path
) -> None:
    context = web_browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", device_scale_factor=1
    )
    try:
        page = context.new_page()
        console = ConsoleWatch()
        console.attach(page)
        page.goto(web_server.url + "/")
        page.wait_for_selector("[data-testid=start]:not([disabled])")
        page.evaluate(SETUP_JS)
        feed(
            page,
            t(0, " Welcome to the keynote.", final=True, start=0.3, end=1.8),
            tr(0, "zh", "欢迎来到主题演讲。", [0], final=True),
            t(1, " Today we talk about", final=False, stable=" Today we", start=2.0, end=3.1),
        )
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px of horizontal scrolling on a phone"
        bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert bg != "rgb(246, 247, 249)", bg  # the dark palette applies
        # Captions come first on a phone, settings below them.
        assert box(page, ".captions-pane")["y"] < box(page, "#speak-form")["y"]
        page.screenshot(path=str(web_artifacts / "web-phone-dark.png"))
        console.assert_clean()
    finally:
        context.close()


def test_keyboard_switches_modes_and_reaches_the_controls(
    web_page: WebPage, web_server: WebServer
) -> None:
    page = web_page.page
    page.goto(web_server.url + "/")
    page.wait_for_selector("[data-testid=start]:not([disabled])")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to captions"
    page.focus("[data-testid=mode-speak]")
    page.keyboard.press("ArrowRight")
    assert page.is_visible("[data-testid=listen-form]") and page.is_hidden(
        "[data-testid=speak-form]"
    )
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "listen-room"
    page.keyboard.type("demo")
    page.keyboard.press("Enter")  # submits the listen form: joins the room
    page.wait_for_selector("[data-testid=connection-state][data-state=connected]")
    assert "Waiting for a speaker" in page.inner_text("[data-testid=connection-state]")
    page.click("[data-testid=leave]")
    page.wait_for_selector("[data-testid=connection-state][data-state=idle]")
    web_page.console.assert_clean()
