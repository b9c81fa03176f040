"""The OpenAI Batch API on the fake server: `/v1/files` (upload, content) and `/v1/batches` (create,
retrieve, cancel, list).

Each retrieve moves a batch one step: validating -> in_progress -> finalizing -> completed (results
are then ready at once). Validation is real: a line that is not JSON, lacks `custom_id` / `body`, repeats
a `custom_id`, or whose prompt holds `[[batch:invalid]]` fails the batch with the line numbers. Per-line
faults use the chat markers (`[[fault:500x1]]`: the first batch that carries the line answers it with a
500 line). Controls: `hold = True` keeps batches in_progress; `expire_next = N` makes the next batch
expire with only its first N lines answered. `accepted[custom_id]` counts every time a batch accepted
a request; `uploads` lists the uploaded files (name, lines).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any, Optional

from aiohttp import web

from tests.support.openai_server import last_user

STEPS = ("validating", "in_progress", "finalizing", "completed")


class BatchAPI:
    def __init__(self, server):
        self.server = server
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.accepted: Counter = Counter()
        self.uploads: list[dict[str, Any]] = []
        self.hold = False
        self.expire_next: Optional[int] = None
        self._lock = threading.Lock()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}", self._file)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches", self._list)
        app.router.add_get("/v1/batches/{id}", self._retrieve)
        app.router.add_post("/v1/batches/{id}/cancel", self._cancel)

    def running(self) -> list[str]:
        with self._lock:
            return [b["id"] for b in self.batches.values() if b["status"] in STEPS[:3] + ("cancelling",)]

    def _authorized(self, request: web.Request) -> bool:
        key = self.server.expected_key
        return key is None or request.headers.get("Authorization") == f"Bearer {key}"

    # --- files -----------------------------------------------------------------------------------
    def _store(self, data: bytes, name: str, purpose: str) -> dict[str, Any]:
        file_id = "file-" + uuid.uuid4().hex[:16]
        meta = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed"}
        self.files[file_id] = {**meta, "data": data}
        return meta

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_api_key")
        form = await request.post()
        upload = form["file"]
        data = upload.file.read()
        with self._lock:
            meta = self._store(data, upload.filename, str(form.get("purpose")))
            self.uploads.append({"id": meta["id"], "name": upload.filename, "lines": data.count(b"\n")})
        return web.json_response(meta)

    async def _file(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["id"])
        if found is None:
            return _error(404, "not_found")
        return web.json_response({k: v for k, v in found.items() if k != "data"})

    async def _content(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["id"])
        if found is None:
            return _error(404, "not_found")
        return web.Response(body=found["data"], content_type="application/octet-stream")

    # --- batches ---------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_api_key")
        body = await request.json()
        source = self.files.get(body.get("input_file_id"))
        if source is None:
            return _error(400, "invalid_file")
        lines, errors = validate(source["data"])
        with self._lock:
            batch = {"id": "batch_" + uuid.uuid4().hex[:16], "object": "batch", "endpoint": body.get("endpoint"),
                     "errors": {"object": "list", "data": errors} if errors else None,
                     "input_file_id": source["id"], "completion_window": body.get("completion_window"),
                     "status": "validating", "output_file_id": None, "error_file_id": None,
                     "created_at": int(time.time()), "metadata": body.get("metadata"),
                     "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
            batch["_lines"], batch["_expire"] = lines, self.expire_next
            self.expire_next = None
            if not errors:
                for line in lines:
                    self.accepted[line["custom_id"]] += 1
            self.batches[batch["id"]] = batch
        return web.json_response(public(batch))

    async def _list(self, request: web.Request) -> web.Response:
        with self._lock:
            data = [public(b) for b in reversed(list(self.batches.values()))]
        return web.json_response({"object": "list", "data": data, "has_more": False})

    async def _retrieve(self, request: web.Request) -> web.Response:
        with self._lock:
            batch = self.batches.get(request.match_info["id"])
            if batch is None:
                return _error(404, "not_found")
            self._advance(batch)
            return web.json_response(public(batch))

    async def _cancel(self, request: web.Request) -> web.Response:
        with self._lock:
            batch = self.batches.get(request.match_info["id"])
            if batch is None:
                return _error(404, "not_found")
            if batch["status"] in STEPS[:3]:
                batch["status"] = "cancelling"
            return web.json_response(public(batch))

    def _advance(self, batch: dict[str, Any]) -> None:
        status = batch["status"]
        if status == "cancelling":
            self._finish(batch, "cancelled", 0)
        elif status == "validating":
            batch["status"] = "failed" if batch["errors"] else "in_progress"
        elif status == "in_progress" and not self.hold:
            if batch["_expire"] is not None:
                self._finish(batch, "expired", batch["_expire"])
            else:
                batch["status"] = "finalizing"
        elif status == "finalizing":
            self._finish(batch, "completed", len(batch["_lines"]))

    def _finish(self, batch: dict[str, Any], status: str, answered: int) -> None:
        out, err = [], []
        for n, line in enumerate(batch["_lines"]):
            if n >= answered:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                err.append({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "response": None,
                            "error": {"code": code, "message": f"This request could not be executed ({code})."}})
                continue
            result = self._answer(line)
            (out if result["response"]["status_code"] == 200 else err).append(result)
        batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(out), "failed": len(err)}
        for name, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                data = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[name] = self._store(data, f"{batch['id']}_{name}.jsonl", "batch_output")["id"]
        batch["status"] = status

    def _answer(self, line: dict[str, Any]) -> dict[str, Any]:
        body = line["body"]
        messages = body.get("messages") or []
        fault = self.server._fault(last_user(messages), self.accepted[line["custom_id"]])
        status, payload = 200, None
        if fault in ("429", "500", "503", "reset", "hang"):
            status = int(fault) if fault.isdigit() else 500
            payload = {"error": {"message": "The server had an error.", "type": "server_error", "code": None}}
        elif fault in ("400", "context"):
            status = 400
            payload = {"error": {"message": "Invalid request.", "type": "invalid_request_error",
                                 "code": "context_length_exceeded" if fault == "context" else None}}
        elif fault == "malformed":
            payload = {"id": "chatcmpl-x", "choices": "broken"}
        else:
            payload = self.server.completion_body(body, messages, fault)
        return {"id": "batch_req_" + uuid.uuid4().hex[:8], "custom_id": line["custom_id"],
                "response": {"status_code": status, "request_id": uuid.uuid4().hex[:8], "body": payload},
                "error": None}


def validate(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lines, errors, seen = [], [], set()
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            errors.append({"code": "invalid_json_line", "line": number, "message": "This line is not valid JSON."})
            continue
        problem = None
        if not isinstance(line, dict) or not line.get("custom_id") or not isinstance(line.get("body"), dict):
            problem = "Each line needs a custom_id and a body."
        elif line["custom_id"] in seen:
            problem = f"The custom_id {line['custom_id'][:16]} is used more than once."
        elif "[[batch:invalid]]" in json.dumps(line["body"].get("messages")):
            problem = "The body of this request is invalid."
        if problem:
            errors.append({"code": "invalid_request", "line": number, "message": problem})
            continue
        seen.add(line["custom_id"])
        lines.append(line)
    return lines, errors


def public(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def _error(status: int, code: str) -> web.Response:
    return web.json_response({"error": {"message": code, "type": "invalid_request_error", "code": code}},
                             status=status)
