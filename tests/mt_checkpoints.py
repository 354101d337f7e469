"""Tiny Transformers translation checkpoints, one per model family, made for the tests.

No model hub is reachable here, so each family's checkpoint is MADE: random weights from a
`transformers` config (d_model 32, one layer each side), a SentencePiece model trained on
local sentences (Fish Fillets NG's English lines and their Dutch translations, from the
Dutch speech set the tests already fetch), the family's own tokenizer class, all saved with
`save_pretrained` in the layout the real hub repos have. `parley models convert` then runs
on them for real. Random weights translate into nonsense: tests assert plumbing, not words.

Every builder returns the checkpoint folder; `torch` and `transformers` are imported here
only (the `test` extra installs them).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.data.dutch import fillets_dir, parse_dialogs

SP_VOCAB = 400
_SMALL = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_position_embeddings": 256,
}
#: The MADLAD-style test model's target tokens.
T5_LANGUAGES = ("en", "de", "fr", "nl", "pt", "es")


def corpus(dest: Path) -> Path:
    """A text file of a few thousand English and Dutch sentences (one per line)."""
    scripts = sorted(fillets_dir().glob("script/*/dialogs_nl.lua"))
    if not scripts:
        raise RuntimeError(
            f"no Fish Fillets dialogue scripts in {fillets_dir()}: "
            "run `python -m benchmarks.data fetch dutch` (scripts/test.sh does)"
        )
    lines: list[str] = []
    for script in scripts:
        for _id, english, dutch in parse_dialogs(script.read_text(errors="replace")):
            lines += [english, dutch]
    path = dest / "corpus.txt"
    path.write_text("\n".join(line for line in lines if line.strip()) + "\n", "utf-8")
    return path


def _train_sp(text: Path, prefix: Path, **options: Any) -> Path:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(prefix),
        vocab_size=SP_VOCAB,
        character_coverage=1.0,
        minloglevel=2,
        **options,
    )
    Path(f"{prefix}.vocab").unlink(missing_ok=True)
    return Path(f"{prefix}.model")


def _seed() -> None:
    import torch

    torch.manual_seed(0)


def _discourage(model: Any, token_ids: list[int]) -> None:
    """Random weights may write nothing but special tokens (an empty text, nothing to follow
    through the server): push their logits down, as training would for a sentence."""
    import torch

    with torch.no_grad():
        bias = getattr(model, "final_logits_bias", None)
        for token_id in token_ids:
            if bias is not None:  # BART family: CTranslate2 converts this bias
                bias[0, token_id] = -100.0
            else:
                model.lm_head.weight[token_id].zero_()  # logit 0: below the best of many


def build_marian(text: Path, out: Path) -> Path:
    """OPUS-MT style: source.spm / target.spm / vocab.json (folder named opus-mt-en-de)."""
    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    out.mkdir(parents=True)
    sp_path = _train_sp(text, out / "sp")
    shutil.move(sp_path, out / "source.spm")
    shutil.copyfile(out / "source.spm", out / "target.spm")
    sp = spm.SentencePieceProcessor(model_file=str(out / "source.spm"))
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab))
    tok = MarianTokenizer(
        source_spm=str(out / "source.spm"),
        target_spm=str(out / "target.spm"),
        vocab=str(out / "vocab.json"),
        source_lang="en",
        target_lang="de",
    )
    config = MarianConfig(
        vocab_size=len(vocab),
        pad_token_id=vocab["<pad>"],
        eos_token_id=0,
        decoder_start_token_id=vocab["<pad>"],
        **_SMALL,
    )
    _seed()
    MarianMTModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _fairseq_tokenizer_config(out: Path, tokenizer_class: str, codes: list[str],
                              **extra: Any) -> None:
    """tokenizer_config.json as the hub's NLLB / M2M100 repos have it (language codes as
    additional special tokens)."""
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": tokenizer_class,
        "additional_special_tokens": codes,
        **extra,
    }))


def build_nllb(text: Path, out: Path) -> Path:
    """NLLB-200 style: M2M100 weights, sentencepiece.bpe.model, FLORES-200 codes."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    out.mkdir(parents=True)
    _train_sp(text, out / "sentencepiece.bpe", model_type="bpe")
    _fairseq_tokenizer_config(out, "NllbTokenizer", list(FAIRSEQ_LANGUAGE_CODES),
                              src_lang="eng_Latn", tgt_lang="fra_Latn")
    tok = NllbTokenizer.from_pretrained(str(out))
    config = M2M100Config(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        decoder_start_token_id=tok.eos_token_id,
        tokenizer_class="NllbTokenizer",
        **_SMALL,
    )
    _seed()
    M2M100ForConditionalGeneration(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_m2m100(text: Path, out: Path) -> Path:
    """M2M100 style: vocab.json + sentencepiece.bpe.model, `__xx__` codes, 8 made-up words."""
    import sentencepiece as spm
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    out.mkdir(parents=True)
    sp_path = _train_sp(text, out / "sentencepiece.bpe", model_type="bpe")
    sp = spm.SentencePieceProcessor(model_file=str(sp_path))
    vocab: dict[str, int] = {}
    for special in ("<s>", "<pad>", "</s>", "<unk>"):
        vocab[special] = len(vocab)
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab))
    codes = [f"__{c}__" for c in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    _fairseq_tokenizer_config(out, "M2M100Tokenizer", codes, src_lang="en", tgt_lang="es",
                              language_codes="m2m100", num_madeup_words=8)
    tok = M2M100Tokenizer.from_pretrained(str(out))
    config = M2M100Config(
        vocab_size=len(tok) + 8,  # the made-up words CTranslate2's converter appends
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        decoder_start_token_id=tok.eos_token_id,
        **_SMALL,
    )
    _seed()
    M2M100ForConditionalGeneration(config).save_pretrained(out)
    return out


def build_mbart50(text: Path, out: Path) -> Path:
    """mBART-50 many-to-many style: sentencepiece.bpe.model, `de_DE` codes."""
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    out.mkdir(parents=True)
    _train_sp(text, out / "sentencepiece.bpe", model_type="bpe")
    tok = MBart50Tokenizer.from_pretrained(
        str(out), src_lang="en_XX", tgt_lang="it_IT", bos_token="<s>"
    )
    config = MBartConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        decoder_start_token_id=tok.eos_token_id,
        tokenizer_class="MBart50Tokenizer",
        scale_embedding=True,
        normalize_before=True,
        normalize_embedding=True,
        add_final_layer_norm=True,
        **_SMALL,
    )
    _seed()
    model = MBartForConditionalGeneration(config)
    _discourage(model, tok.all_special_ids)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_madlad(text: Path, out: Path) -> Path:
    """MADLAD-400 style: T5 weights, spiece.model with `<2xx>` target tokens."""
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    out.mkdir(parents=True)
    _train_sp(
        text, out / "spiece", model_type="unigram",
        user_defined_symbols=[f"<2{c}>" for c in T5_LANGUAGES],
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
    )
    tok = T5Tokenizer.from_pretrained(str(out), extra_ids=0)
    config = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        decoder_start_token_id=tok.pad_token_id,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    _seed()
    model = T5ForConditionalGeneration(config)
    _discourage(model, [tok.pad_token_id, tok.eos_token_id])
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_qwen2(text: Path, out: Path) -> Path:
    """A Qwen2-style causal LM: byte-level BPE tokenizer.json (no SentencePiece model) with
    ChatML markup and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out.mkdir(parents=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train([str(text)], trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = QWEN_CHAT_TEMPLATE
    config = Qwen2Config(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        eos_token_id=bpe.token_to_id("<|im_end|>"),
        pad_token_id=bpe.token_to_id("<|endoftext|>"),
    )
    _seed()
    Qwen2ForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


Builder = Callable[[Path, Path], Path]

#: family -> (builder, checkpoint folder name, --pair for convert or None, target language)
FAMILIES: dict[str, tuple[Builder, str, str | None, str]] = {
    "marian": (build_marian, "opus-mt-en-de", None, "de"),  # the pair from the folder name
    "nllb": (build_nllb, "nllb-tiny", "en-fr", "fr"),
    "m2m100": (build_m2m100, "m2m100-tiny", "en-es", "es"),
    "llm": (build_qwen2, "qwen2-tiny", "en-pt", "pt"),
    "mbart": (build_mbart50, "mbart50-tiny", "en-it", "it"),
    "t5": (build_madlad, "madlad-tiny", "en-nl", "nl"),
}
