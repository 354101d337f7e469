"""Translation models the tests make themselves: random weights, the real converter.

No English->X weights can be had here, so a test that needs one builds it: a
SentencePiece model trained on a few hundred local English sentences, a tiny
`MarianMTModel` with random weights and that vocabulary, `save_pretrained`, then
CTranslate2's own `TransformersConverter` (int8) and Parley's manifest. The result
is a model directory `--mt-model NAME` serves (NAME found in `PARLEY_MODELS_DIR`).
Random weights translate into nonsense: tests assert the plumbing, never the words.

Every checkpoint is built here, in one place, so that the whole recipe can be
swapped for `parley models convert` on the saved Transformers checkpoint.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from server.models.manifest import Manifest, scan_files, write_manifest

#: Kept small: converting and loading take a second or two, decoding costs next to nothing.
_DIMS = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
         "decoder_attention_heads": 4, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128}


@dataclass(frozen=True)
class BuiltModel:
    name: str
    path: Path  # the model directory (parley-model.json, model.bin, *.spm)
    hf_path: Path  # the Transformers checkpoint it was converted from
    convert_s: float  # CTranslate2 conversion time
    size_bytes: int


def english_sentences(limit: int = 400) -> list[str]:
    """English lines of Fish Fillets NG's dialogue (the Dutch speech data's references)."""
    from benchmarks.data import dutch_clips

    lines = [c.translation_en for c in dutch_clips(fetch=False) if c.translation_en]
    return lines[:limit]


def train_sentencepiece(sentences: Sequence[str], prefix: Path, vocab_size: int = 400) -> Path:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_prefix=str(prefix), vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def build_marian(
    root: Path, name: str, pair: tuple[str, str], sentences: Sequence[str], *, seed: int = 0
) -> BuiltModel:
    """`root/NAME`: a random-weight Marian model for `pair`, converted to int8, with manifest."""
    import json

    import ctranslate2
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    work = root / f"{name}.build"
    hf = work / "hf"
    hf.mkdir(parents=True, exist_ok=True)
    sp_path = train_sentencepiece(sentences, work / "sp")
    sp = spm.SentencePieceProcessor(model_file=str(sp_path))
    # Marian's vocabulary: the SentencePiece pieces, then <pad> last (CTranslate2 drops it).
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    vocab["<pad>"] = len(vocab)
    (work / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    tokenizer = MarianTokenizer(str(sp_path), str(sp_path), str(work / "vocab.json"),
                                source_lang=pair[0], target_lang=pair[1])
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(vocab), pad_token_id=vocab["<pad>"], eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"], max_position_embeddings=256,
        share_encoder_decoder_embeddings=True, **_DIMS,
    )
    model = MarianMTModel(config)
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)

    out = root / name
    t0 = time.perf_counter()
    ctranslate2.converters.TransformersConverter(str(hf)).convert(
        str(out), quantization="int8", force=True
    )
    convert_s = time.perf_counter() - t0
    for spm_name in ("source.spm", "target.spm"):
        shutil.copyfile(hf / spm_name, out / spm_name)
    files = scan_files(out)
    write_manifest(out, Manifest(
        name=name, kind="mt", languages=tuple(sorted(set(pair))), files=files, pairs=(pair,),
        mt_kind="marian", sp_source="source.spm", sp_target="target.spm",
        source={"built_by": "tests.integration.mt_checkpoints", "random_weights": True,
                "seed": seed},
    ))
    return BuiltModel(name, out, hf, convert_s, sum(f.size for f in files.values()))


def models_dir_with(root: Path, cache: Path, names: Sequence[str]) -> Path:
    """`root` as a models directory: links to the cached `names` (base, zh-en...) beside
    the models built into it, so PARLEY_MODELS_DIR=root serves all of them by name."""
    for name in names:
        link = root / name
        if not link.exists():
            link.symlink_to(cache / name, target_is_directory=True)
    return root
