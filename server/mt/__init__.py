"""Machine translation: CTranslate2 int8 models + SentencePiece, batched for all sessions.

Modules: `requests` (TranslationRequest / TranslationResult), `translator` (one loaded
model), `incremental` (sans-I/O partial/final translation of one stream), `scheduler`
(async batching on one worker thread), `router` (language pair -> model), `sentences`
and `pieces` (text helpers).
"""
