"""Every translation model family, from a Transformers checkpoint to a listener's captions.

For each family a tiny checkpoint is MADE (tests/mt_checkpoints.py: random weights, a
SentencePiece model or tokenizer.json trained on local sentences), converted by the real
`parley models convert` (CTranslate2's TransformersConverter, int8) into a models directory,
then served by a real `parley serve` on a free port (tiny.en + every converted model), with
real English speech (LibriVox) from a speaker in a room and one listener per family asking
for that family's target language. Random weights translate into nonsense: the tests assert
the plumbing (manifests, language tokens, prompts, kept prefixes, events), never the words.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.errors import ModelError
from server.models.manifest import read_manifest, write_manifest
from server.models.paths import models_dir as default_models_dir
from server.models.resolve import resolve_mt
from server.mt.generator import PromptModel, Seq2SeqModel
from server.mt.incremental import IncrementalOptions, IncrementalTranslator, TranslationEvent
from server.mt.requests import TranslationRequest
from server.mt.translator import Translator, TranslatorOptions
from tests.integration.conftest import ROOT, parley_serve
from tests.integration.rooms_support import Follower, librivox_files, speak, speech
from tests.mt_checkpoints import FAMILIES, corpus

FAMILY_NAMES = list(FAMILIES)
#: The first output token of a model whose family forces the target language's token.
FORCED_TOKEN = {"nllb": "fra_Latn", "m2m100": "__es__", "mbart": "it_IT"}
#: The source side's first token, by family (None: the text itself comes first).
SOURCE_TOKEN = {"marian": None, "nllb": "eng_Latn", "m2m100": "__en__", "mbart": "en_XX",
                "t5": "<2nl>", "llm": "<|im_start|>"}
#: Language tokens the converted manifest must map (Whisper's ISO code -> family token).
LANG_TOKENS: dict[str, dict[str, str]] = {
    "marian": {}, "llm": {}, "t5": {"nl": "<2nl>", "en": "<2en>"},
    "nllb": {"en": "eng_Latn", "fr": "fra_Latn", "de": "deu_Latn", "zh": "zho_Hans"},
    "m2m100": {"en": "__en__", "es": "__es__"}, "mbart": {"en": "en_XX", "it": "it_IT"},
}
SENTENCE = "What kind of strange ship is that? It is the wreck of a civilian airplane."


@dataclass(frozen=True)
class Converted:
    family: str
    name: str  # the cache name (`--mt-model NAME`)
    target: str
    root: Path
    convert_s: float


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Converted]:
    """Every family's checkpoint made and converted by the real CLI, in a models directory
    that also holds (a link to) the cached tiny.en."""
    work = tmp_path_factory.mktemp("families")
    models = work / "models"
    models.mkdir()
    tiny = default_models_dir() / "tiny.en"
    assert tiny.is_dir(), "run: parley models pull tiny.en"
    (models / "tiny.en").symlink_to(tiny)
    text = corpus(work)
    out: dict[str, Converted] = {}
    for family, (build, folder, pair, target) in FAMILIES.items():
        checkpoint = build(text, work / "checkpoints" / folder)
        command = [sys.executable, "-m", "server", "models", "--models-dir", str(models),
                   "convert", str(checkpoint), *(("--pair", pair) if pair else ())]
        started = time.monotonic()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                              check=False)
        took = time.monotonic() - started
        assert proc.returncode == 0, proc.stderr
        root = Path(proc.stdout.strip().splitlines()[-1])
        assert root == models / folder
        out[family] = Converted(family, folder, target, root, took)
    return out


@pytest.fixture(scope="module")
def env(converted: dict[str, Converted]) -> dict[str, str]:
    models = next(iter(converted.values())).root.parent
    return {**os.environ, "PARLEY_MODELS_DIR": str(models)}


def _info(item: Converted) -> Any:
    return resolve_mt(item.name, models_dir=item.root.parent)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_convert_writes_a_servable_manifest(
    family: str, converted: dict[str, Converted], env: dict[str, str]
) -> None:
    item = converted[family]
    manifest = read_manifest(item.root)
    assert manifest.kind == "mt" and manifest.mt_kind == family
    assert manifest.pairs == (("en", item.target),)
    assert (item.root / "model.bin").is_file()
    assert manifest.source["quantization"] == "int8"
    if family == "llm":  # byte-level BPE: no SentencePiece model, the tokenizer.json
        assert manifest.tokenizer == "tokenizer.json" and manifest.sp_source is None
        assert manifest.prompt is not None
        assert manifest.prompt.template.startswith("<|im_start|>user\n")
        assert manifest.prompt.template.endswith("<|im_start|>assistant\n")
        assert "{text}" in manifest.prompt.template and "<|im_end|>" in manifest.prompt.stop
    else:  # SentencePiece kept where the family has it
        assert manifest.sp_source is not None and (item.root / manifest.sp_source).is_file()
        assert manifest.tokenizer is None and manifest.prompt is None
    for code, token in LANG_TOKENS[family].items():
        assert manifest.lang_tokens[code] == token
    if family in ("marian", "llm"):
        assert manifest.lang_tokens == {}
    listing = subprocess.run(
        [sys.executable, "-m", "server", "models", "list", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    rows = {r["name"]: r for r in json.loads(listing.stdout)}
    assert rows[item.name]["cached"] and rows[item.name]["pairs"] == [["en", item.target]]
    assert rows[item.name]["family"] == family


def test_convert_again_is_a_no_op_and_a_clash_is_refused(
    converted: dict[str, Converted], env: dict[str, str], tmp_path: Path
) -> None:
    item = converted["marian"]
    checkpoint = Path(read_manifest(item.root).source["directory"])
    again = subprocess.run(
        [sys.executable, "-m", "server", "models", "convert", str(checkpoint)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    assert again.returncode == 0 and "already converted" in again.stderr
    clash = subprocess.run(
        [sys.executable, "-m", "server", "models", "convert", str(checkpoint), "--pair", "en-fr",
         "--name", item.name],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    assert clash.returncode == 1 and "already in" in clash.stderr and "--force" in clash.stderr
    # `--mt-model CHECKPOINT_DIR` finds the conversion made from that folder.
    info = resolve_mt(str(checkpoint), models_dir=item.root.parent)
    assert info.path == item.root and info.kind == "marian"


def test_mt_model_repo_id_finds_its_conversion(
    converted: dict[str, Converted], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--mt-model ORG/NAME` after a conversion on another machine (its folder copied into
    this models directory): served from the cache, no hub asked (offline here)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    item = converted["nllb"]
    copied = tmp_path / "nllb-200-distilled-600M"
    shutil.copytree(item.root, copied)
    manifest = read_manifest(copied)
    write_manifest(copied, dataclasses.replace(
        manifest, name=copied.name, source={**manifest.source, "directory": None,
                                            "repo": "facebook/nllb-200-distilled-600M"}))
    info = resolve_mt("facebook/nllb-200-distilled-600M", models_dir=tmp_path)
    assert info.path == copied and info.kind == "nllb" and info.pairs == (("en", "fr"),)
    with pytest.raises(ModelError, match="cannot be reached"):  # not converted: the hub
        resolve_mt("facebook/m2m100_418M", models_dir=tmp_path)


def _recording(translator: Translator) -> list[dict[str, Any]]:
    """Record what the translator gives CTranslate2 (the real model still runs)."""
    runner = translator._model
    real = runner._model
    calls: list[dict[str, Any]] = []
    method = "generate_batch" if isinstance(runner, PromptModel) else "translate_batch"
    assert isinstance(runner, PromptModel | Seq2SeqModel)

    class Recorder:
        def __getattr__(self, attr: str) -> Any:
            if attr != method:
                return getattr(real, attr)

            def call(batch: list[list[str]], **kwargs: Any) -> Any:
                result = getattr(real, method)(batch, **kwargs)
                calls.append({"batch": batch, **kwargs, "result": result})
                return result

            return call

    runner._model = Recorder()  # type: ignore[assignment]
    return calls


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_language_tokens_and_kept_prefix(family: str, converted: dict[str, Converted]) -> None:
    """The family's framing reaches CTranslate2, the forced tokens never reach the text, and
    a target prefix (the incremental layer's kept words) starts the translation."""
    item = converted[family]
    translator = Translator(_info(item), TranslatorOptions(threads=1))
    calls = _recording(translator)
    [plain] = translator.translate_batch([TranslationRequest(SENTENCE, "en", item.target)])
    assert plain.text and plain.tokens > 0
    sources = calls[-1]["batch"]
    assert len(sources) == 2  # two sentences, translated side by side
    first = SOURCE_TOKEN[family]
    assert all(s[0] == first for s in sources) if first else sources[0][0] == "\u2581What"
    if family == "llm":
        prompt = "".join(sources[0])
        assert "English" in prompt and "Portuguese" in prompt
        assert sources[0][-1] == "\u010a"  # the answer starts after "assistant\n"
        assert "<|im_end|>" in calls[-1]["end_token"]
    else:
        assert all(s[-1] == "</s>" for s in sources)
    if family in FORCED_TOKEN:
        assert all(p == [FORCED_TOKEN[family]] for p in calls[-1]["target_prefix"])
        hypothesis = calls[-1]["result"][0].hypotheses[0]
        assert hypothesis[0] == FORCED_TOKEN[family]
        assert FORCED_TOKEN[family] not in plain.text
    # Incremental: the previous partial translation's kept words start the next one.
    kept = "Wat is dit voor"
    [prefixed] = translator.translate_batch(
        [TranslationRequest(SENTENCE, "en", item.target, target_prefix=kept)]
    )
    assert prefixed.text.startswith(kept), prefixed.text
    if family in FORCED_TOKEN:
        assert calls[-1]["target_prefix"][0][0] == FORCED_TOKEN[family]
    elif family == "llm":  # the kept words are the start of the answer, after the prompt
        start = translator._codec.decode_target(calls[-1]["batch"][0])
        assert start.endswith("assistant " + kept), start
    # Finals are translated once, without a prefix: the same text as before.
    [again] = translator.translate_batch([TranslationRequest(SENTENCE, "en", item.target)])
    assert again.text == plain.text


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_partials_reuse_the_previous_translation(
    family: str, converted: dict[str, Converted]
) -> None:
    """A growing sentence through the incremental core: each partial after the first is
    asked with the previous translation as prefix, and starts with it. (No back-off here:
    random weights may write one long "word", which a back-off of words would empty.)"""
    item = converted[family]
    translator = Translator(_info(item), TranslatorOptions(threads=1))
    stream = IncrementalTranslator(
        "en", item.target, IncrementalOptions(partial_interval_s=0.0, prefix_backoff=0)
    )
    words = SENTENCE.split()
    events: list[TranslationEvent] = []
    prefixes: list[str | None] = []
    for n in range(3, len(words), 3):
        stream.on_partial(" ".join(words[:n]), float(n))
        request = stream.next_request(float(n))
        assert request is not None and not request.final
        prefixes.append(request.target_prefix)
        [result] = translator.translate_batch([request])
        if request.target_prefix:
            assert result.text.startswith(request.target_prefix)
        events += stream.on_result(request, result, float(n))
    stream.on_final(0, SENTENCE, True, 99.0)
    final = stream.next_request(99.0)
    assert final is not None and final.final and final.target_prefix is None
    events += stream.on_result(final, translator.translate_batch([final])[0], 99.0)
    assert prefixes[0] is None and any(prefixes[1:])
    assert events[-1].final and events[-1].text


@pytest.fixture(scope="module")
def room_run(
    converted: dict[str, Converted], env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Follower]:
    """One server with every converted model; an English speaker in a room; one listener
    per family's target language (and one following the transcript only)."""
    args = ["--asr-model", "tiny.en"]
    for item in converted.values():
        args += ["--mt-model", item.name]
    pcm = speech(librivox_files()[:2], pause_s=0.8)
    with parley_serve(*args, tmp=tmp_path_factory.mktemp("srv"), env=env) as server:

        async def run() -> dict[str, Follower]:
            followers = {f: Follower(server.ws, "families", c.target)
                         for f, c in converted.items()}
            tasks = [asyncio.create_task(f.run()) for f in followers.values()]
            await asyncio.wait_for(
                asyncio.gather(*(f.joined.wait() for f in followers.values())), 60
            )
            for family, follower in followers.items():
                assert follower.error is None, (family, follower.error)
            await speak(server.ws, pcm, room="families", speed=2.0, source_language="en")
            await asyncio.wait_for(asyncio.gather(*tasks), 180)
            return followers

        followers = asyncio.run(run())
        log = server.log_text()
    assert "Traceback" not in log, log[-3000:]
    return followers


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_listener_gets_captions_in_its_language(
    family: str, converted: dict[str, Converted], room_run: dict[str, Follower]
) -> None:
    follower = room_run[family]
    target = converted[family].target
    assert follower.events[0]["type"] == "joined"
    assert not follower.of("error"), follower.of("error")
    finals = follower.of("translation", final=True)
    transcripts = follower.of("transcript", final=True)
    assert transcripts and finals, [e["type"] for e in follower.events]
    assert all(e["lang"] == target and e["via"] == "mt" for e in follower.of("translation"))
    assert any(e["text"] for e in finals)
    partials = follower.of("translation", final=False)
    print(f"{family}: {len(partials)} partial, {len(finals)} final translations into {target}:"
          f" {finals[0]['text'][:60]!r}")
    assert partials, "no partial translation (incremental path)"
    for event in follower.of("translation"):  # no language token or piece mark leaks out
        assert "\u2581" not in event["text"] and "</s>" not in event["text"]
        assert "<|im_end|>" not in event["text"] and "__en__" not in event["text"]
    # Every final transcript segment is covered by one final translation, in order.
    covered = [s for e in finals for s in e["source_segments"]]
    assert covered == sorted(covered) and set(covered) == {e["segment"] for e in transcripts}
