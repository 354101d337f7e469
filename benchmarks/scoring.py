"""Accuracy: WER of transcripts, BLEU / chrF of translations (sacrebleu)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.data import StreamPart, normalize_basic, normalize_en
from benchmarks.data import wer as _wer


def transcript_wer(reference: str, hypothesis: str, language: str) -> float:
    """Normalized WER: `normalize_en` for English, `normalize_basic` otherwise."""
    if language == "en":
        return round(_wer(reference, hypothesis), 4)
    return round(_wer(normalize_basic(reference), normalize_basic(hypothesis),
                      normalize=False), 4)


@dataclass(frozen=True)
class TimedText:
    start: float
    end: float
    text: str


def assign_to_parts(items: Sequence[TimedText], parts: Sequence[StreamPart]) -> list[str]:
    """Join each item's text onto the stream part (clip) it overlaps most (nearest if none)."""
    out: list[list[str]] = [[] for _ in parts]
    if not parts:
        return []
    for item in items:
        if not item.text.strip():
            continue
        best, best_overlap, best_dist = 0, -1.0, float("inf")
        for k, p in enumerate(parts):
            overlap = min(item.end, p.end_s) - max(item.start, p.start_s)
            mid = (item.start + item.end) / 2
            dist = 0.0 if p.start_s <= mid <= p.end_s else min(abs(mid - p.start_s),
                                                               abs(mid - p.end_s))
            if overlap > best_overlap or (overlap == best_overlap and dist < best_dist):
                best, best_overlap, best_dist = k, overlap, dist
        out[best].append(item.text.strip())
    return [" ".join(t) for t in out]


def translation_scores(
    items: Sequence[TimedText], parts: Sequence[StreamPart]
) -> dict[str, float | int | None]:
    """BLEU and chrF against the parts' English references.

    `bleu`/`chrf`: corpus scores over clips, each translation assigned to the clip its time
    span overlaps most. `bleu_doc`/`chrf_doc`: the whole stream as one text, which does not
    depend on that assignment.
    """
    import sacrebleu

    refs = [p.translation_en or "" for p in parts]
    if not parts or not any(refs):
        return {"bleu": None, "chrf": None, "bleu_doc": None, "chrf_doc": None, "clips": 0}
    hyps = assign_to_parts(items, parts)
    doc_hyp = " ".join(i.text.strip() for i in items if i.text.strip())
    doc_ref = " ".join(r for r in refs if r)
    return {
        "bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
        "bleu_doc": round(sacrebleu.corpus_bleu([doc_hyp], [[doc_ref]]).score, 2),
        "chrf_doc": round(sacrebleu.corpus_chrf([doc_hyp], [[doc_ref]]).score, 2),
        "clips": len(parts),
    }


__all__ = ["TimedText", "assign_to_parts", "normalize_en", "transcript_wer",
           "translation_scores"]
