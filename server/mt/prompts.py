"""Prompts for decoder-only LLM translators (family "llm").

A prompt template is chosen and rendered once, when the model is converted (server.models
.convert): the user message below, per model family, wrapped in the tokenizer's own chat
template where it has one (rendered with `transformers`, so the server needs no Jinja), else
a plain completion prompt. The result is stored in the model's manifest with the
placeholders {source_language}, {target_language} and {text}; `fill` puts a request in.

The answer is what the model writes after the prompt. For incremental translation the kept
words of the previous partial translation are appended to the prompt as the start of the
answer, exactly as a target prefix is given to an encoder-decoder model.
"""

from __future__ import annotations

from server.models.languages import language_name
from server.models.types import LlmPrompt

SOURCE = "{source_language}"
TARGET = "{target_language}"
TEXT = "{text}"

#: A generic instruction: Qwen2.5, Gemma, Llama, Mistral ... instruction-tuned models.
GENERIC = (
    "Translate the following {source_language} text into {target_language}. "
    "Reply with the translation only.\n\n{text}"
)
#: Tower (Unbabel) and EuroLLM were trained on this form.
TOWER = (
    "Translate the following {source_language} source text to {target_language}:\n"
    "{source_language}: {text}\n{target_language}: "
)
#: A base model without a chat template: complete the line.
COMPLETION = "{source_language}: {text}\n{target_language}:"

#: End-of-turn / end-of-text tokens of the common chat formats; those in a model's
#: vocabulary end its answers.
STOP_CANDIDATES = (
    "<|im_end|>",  # Qwen, EuroLLM (ChatML)
    "<end_of_turn>",  # Gemma
    "<|eot_id|>",  # Llama 3
    "<|end|>",  # Phi-3
    "<|endoftext|>",
    "</s>",  # Llama 2, Mistral, Tower
    "<eos>",  # Gemma
)


def instruction_for(name: str) -> str:
    """The user message for a model, by its name (repo id or folder)."""
    lowered = name.lower()
    if "tower" in lowered or "eurollm" in lowered:
        return TOWER
    return GENERIC


def fill(prompt: LlmPrompt, source: str, target: str, text: str) -> str:
    """The prompt for one sentence. Control tokens written in the text are removed, so a
    transcript cannot end the turn early."""
    for token in prompt.stop:
        text = text.replace(token, " ")
    filled = prompt.template.replace(SOURCE, language_name(source))
    filled = filled.replace(TARGET, language_name(target))
    return filled.replace(TEXT, text.strip())


def first_line(text: str) -> str:
    """An answer's first non-empty line: models may add a note or a second translation
    after a line break; a sentence's translation is one line."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
