"""The `endpoint:` section of a pipeline config, shared by every LLM stage.

The API key never appears here: `api_key_env` names the environment variable that holds it, and the
key is read only where the HTTP client is built (`load_api_key`).
"""
from __future__ import annotations

import os
from typing import Any, Literal, Optional
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from operators.llm.batch_settings import BatchSettings

from operators.base import OperatorConfig

OPENAI_URL = "https://api.openai.com/v1"
LOCAL = "local"  # reserved: the embedded llama.cpp server (pipelines/local_llm.py replaces it)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_PLACEHOLDER_KEY = "sk-no-key-needed"  # local servers ignore the key, the client wants one
# Other accepted spellings of `batch.*` settings (issue 17 writes them flat): alias -> field of `batch:`.
BATCH_ALIASES = {"max_resubmits": "max_resubmits", "batch_file_results": "file_results"}


class ConfigurationError(RuntimeError):
    """The endpoint cannot be used as configured (missing key, unreachable URL, refused key)."""


class Price(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_usd_per_1m: float = Field(0.0, ge=0)
    completion_usd_per_1m: float = Field(0.0, ge=0)
    # The batch column (mode: batch / batch_file); None: half the synchronous price, as OpenAI's Batch API.
    batch_prompt_usd_per_1m: Optional[float] = Field(None, ge=0)
    batch_completion_usd_per_1m: Optional[float] = Field(None, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_usd_per_1m + completion_tokens * self.completion_usd_per_1m) / 1e6

    def batch(self) -> "Price":
        """The price of a request answered through a batch."""
        prompt, completion = self.batch_prompt_usd_per_1m, self.batch_completion_usd_per_1m
        return Price(prompt_usd_per_1m=self.prompt_usd_per_1m / 2 if prompt is None else prompt,
                     completion_usd_per_1m=self.completion_usd_per_1m / 2 if completion is None else completion)


# List prices in USD per million tokens (2026-11); override or extend with `endpoint.prices`.
DEFAULT_PRICES = {
    "gpt-4": Price(prompt_usd_per_1m=30.0, completion_usd_per_1m=60.0),
    "gpt-4-32k": Price(prompt_usd_per_1m=60.0, completion_usd_per_1m=120.0),
    "gpt-4o": Price(prompt_usd_per_1m=2.5, completion_usd_per_1m=10.0),
    "gpt-4o-mini": Price(prompt_usd_per_1m=0.15, completion_usd_per_1m=0.6),
    "gpt-3.5-turbo": Price(prompt_usd_per_1m=0.5, completion_usd_per_1m=1.5),
}


class EndpointConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: Optional[str] = None  # None: $OPENAI_BASE_URL, else the OpenAI API; "local": embedded server
    model: str = "gpt-4"
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable holding the key, never the key

    # Client pool: actors x requests in flight per actor.
    num_actors: int = Field(2, ge=1)
    num_cpus_per_actor: float = Field(0.25, gt=0, le=4)
    concurrency_per_actor: int = Field(64, ge=1, le=4096)
    batch_rows: Optional[int] = Field(None, ge=1)  # rows per actor call; default 4 x concurrency

    # Cluster-wide limits (None: unlimited); `burst_s` seconds of rate may go out at once.
    rpm: Optional[float] = Field(None, gt=0)
    tpm: Optional[float] = Field(None, gt=0)
    burst_s: float = Field(1.0, gt=0)
    # "cluster": one shared limiter actor (limits, 429 cool-downs and budget hold across actors and nodes);
    # "local": each actor enforces the limits alone (single-actor runs, unit tests without Ray).
    limiter: Literal["cluster", "local"] = "cluster"

    # "direct": the SDK's URL and headers sent with aiohttp (fast); "sdk": AsyncOpenAI.post (see transport.py).
    transport: Literal["direct", "sdk"] = "direct"
    # "sync": one request per row; "batch": the provider's Batch API; "batch_file": offline files (docs/batch.md).
    mode: Literal["sync", "batch", "batch_file"] = "sync"
    batch: BatchSettings = Field(default_factory=BatchSettings)

    # Faults.
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    max_retry_after_s: float = Field(300.0, ge=0)
    connect_attempts: int = Field(3, ge=1)  # a URL that never accepted a connection fails the run after this
    # Circuit breaker (breaker.py): this many infrastructure failures in a row stop the stage; a stage that
    # lost more than this share of its rows to them fails the run instead of publishing.
    breaker_consecutive: int = Field(20, ge=1)
    max_infra_failure_share: float = Field(0.5, ge=0, le=1)

    # Context limit of the model for the `prompt_too_long` check before paying (None: let the API say).
    context_tokens: Optional[int] = Field(None, ge=1)

    # Money.
    prices: dict[str, Price] = Field(default_factory=dict)  # model -> price; merged over DEFAULT_PRICES
    max_cost_usd: Optional[float] = Field(None, ge=0)
    max_requests: Optional[int] = Field(None, ge=0)

    # Response cache: None -> <output uri>/_llm_cache; "none" disables it.
    cache_uri: Optional[str] = None
    cache_flush_s: float = Field(1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _fold_batch_spellings(cls, data: Any) -> Any:
        """The issue's flat spellings (`max_resubmits`, `batch_file_results`) go into `batch:`."""
        if not isinstance(data, dict) or not any(name in data for name in BATCH_ALIASES):
            return data
        data = dict(data)
        batch = data.get("batch")
        batch = batch.model_dump(exclude_unset=True) if isinstance(batch, BatchSettings) else dict(batch or {})
        for alias, field in BATCH_ALIASES.items():
            if alias not in data:
                continue
            value = data.pop(alias)
            if field in batch and batch[field] != value:
                raise ValueError(f"{alias}={value!r} and batch.{field}={batch[field]!r} disagree: give one "
                                 f"(batch.{field} is the documented spelling)")
            batch[field] = value
        data["batch"] = batch
        return data

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, value: Optional[str]) -> Optional[str]:
        if value and "@" in (urlsplit(value).netloc or ""):
            raise ValueError("must not contain credentials (user:password@host): the API key comes from the "
                             "environment variable named by endpoint.api_key_env, sent as a Bearer token")
        return value

    @model_validator(mode="after")
    def _batch_needs_cache(self) -> "EndpointConfig":
        if self.mode != "sync" and (self.cache_uri or "x").lower() in ("none", "off", ""):
            raise ValueError(f"mode {self.mode} keeps its answers in the response cache: cache_uri must not be "
                             f"{self.cache_uri!r}")
        return self

    def price(self) -> Optional[Price]:
        return {**DEFAULT_PRICES, **self.prices}.get(self.model)


def resolve_base_url(cfg: EndpointConfig) -> str:
    """The URL the client talks to: configured, else $OPENAI_BASE_URL, else the OpenAI API."""
    url = cfg.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
    return url.rstrip("/")  # "local" stays: the runner swaps in the embedded server's URL


def is_local(url: str) -> bool:
    return url == LOCAL or (urlsplit(url).hostname or "") in _LOCAL_HOSTS


def redact_url(url: str) -> str:
    """The URL without userinfo, query or fragment (any of them might hold a credential)."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url.split("?")[0]
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def load_api_key(cfg: EndpointConfig, url: str) -> str:
    """The key from the environment; a remote endpoint without one is a configuration error."""
    key = os.environ.get(cfg.api_key_env, "")
    if key:
        return key
    if is_local(url):
        return _PLACEHOLDER_KEY
    raise ConfigurationError(
        f"endpoint {redact_url(url)} needs an API key: set the environment variable {cfg.api_key_env} "
        f"(endpoint.api_key_env) on the driver and on every Ray node")


def cache_location(cfg: EndpointConfig, output_uri: Optional[str], name: Optional[str] = None) -> Optional[str]:
    """Where the endpoint's answers are cached; a named endpoint (`endpoints.NAME`) has its own folder."""
    if cfg.cache_uri is not None:
        if cfg.cache_uri.lower() in ("none", "off", ""):
            return None
        root = cfg.cache_uri.rstrip("/")
    elif not output_uri:
        return None
    else:
        root = output_uri.rstrip("/") + "/_llm_cache"
    return f"{root}/{name}" if name else root


def endpoint_label(name: Optional[str]) -> str:
    """How messages and the manifest name an endpoint: `endpoint` (the default) or `endpoints.NAME`."""
    return f"endpoints.{name}" if name else "endpoint"


class LLMStageConfig(OperatorConfig):
    """What every LLM stage's config has: which endpoint it talks to (None: `endpoint:`)."""
    endpoint: Optional[str] = None

    def endpoint_refs(self) -> tuple[Optional[str], ...]:
        """Every endpoint name the stage uses, the first one sizing its actor pool."""
        return (self.endpoint,)


def endpoint_refs(config: Any) -> tuple[Optional[str], ...]:
    refs = getattr(config, "endpoint_refs", None)
    return tuple(refs()) if refs is not None else (None,)
