"""The provider's files and batches API through the official `openai` client (OpenAI, or any server
that speaks it). The key is read from the variable the endpoint names and never leaves the client."""
from __future__ import annotations

import json
from typing import Any, Iterator

import openai

from operators import storage
from operators.llm.endpoint import ConfigurationError, EndpointConfig, load_api_key, redact_url, resolve_base_url
from pipelines.batch.requests import CHAT_URL

TERMINAL = ("completed", "failed", "expired", "cancelled")


class ProviderError(RuntimeError):
    """The files/batches API refused an operation (the message names the URL, never the key)."""


class Provider:
    def __init__(self, cfg: EndpointConfig, url: str | None = None):
        self.cfg = cfg
        self.url = (url or resolve_base_url(cfg)).rstrip("/")
        self.where = redact_url(self.url)
        key = load_api_key(cfg, self.url)
        self.client = openai.OpenAI(api_key=key, base_url=self.url, timeout=max(cfg.timeout_s, 60.0), max_retries=3)

    def upload(self, uri: str) -> str:
        with storage.open_read(uri) as handle:
            found = self._call("upload a request file", lambda: self.client.files.create(
                file=(uri.rsplit("/", 1)[-1], handle), purpose="batch"))
        return found.id

    def create(self, file_id: str, metadata: dict[str, str]) -> dict[str, Any]:
        return self._call("create a batch", lambda: self.client.batches.create(
            input_file_id=file_id, endpoint=CHAT_URL, completion_window=self.cfg.batch.completion_window,
            metadata=metadata)).model_dump()

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._call("read a batch", lambda: self.client.batches.retrieve(batch_id)).model_dump()

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return self._call("cancel a batch", lambda: self.client.batches.cancel(batch_id)).model_dump()

    def find_by_input(self, file_id: str) -> dict[str, Any] | None:
        """A batch already created from this file (the driver died between create and recording it)."""
        for batch in self._call("list batches", lambda: self.client.batches.list(limit=100)):
            if batch.input_file_id == file_id:
                return batch.model_dump()
        return None

    def lines(self, file_id: str) -> Iterator[dict[str, Any]]:
        """A result file, streamed line by line."""
        try:
            with self.client.files.with_streaming_response.content(file_id) as response:
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except openai.APIError as err:
            raise self._error("download a result file", err) from None

    def _call(self, what: str, fn):
        try:
            return fn()
        except openai.APIError as err:
            raise self._error(what, err) from None

    def _error(self, what: str, err: openai.APIError) -> Exception:
        status = getattr(err, "status_code", None)
        text = f"endpoint {self.where}: could not {what}"
        if status in (401, 403):
            return ConfigurationError(f"{text}: HTTP {status} (key from ${self.cfg.api_key_env})")
        return ProviderError(f"{text}: {type(err).__name__}{f' HTTP {status}' if status else ''}")
