"""The chat-completions protocol as the test server checks it: which request bodies
OpenAI would refuse with a 400, and the shape of an error body."""

from __future__ import annotations

from typing import Any


def max_tokens(body: dict) -> Any:
    mt = body.get("max_completion_tokens")
    return body.get("max_tokens") if mt is None else mt


def validate(body: Any) -> str | None:
    """Why a chat request body is unacceptable (OpenAI would answer 400), or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' must be a non-empty string."
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
        return "'messages' must be a non-empty list of message objects."
    mt = max_tokens(body)
    if mt is not None and (type(mt) is not int or mt < 1):
        return "'max_tokens' / 'max_completion_tokens' must be a positive integer."
    k = body.get("top_logprobs")
    if k is not None and (type(k) is not int or not 0 <= k <= 20):
        return "'top_logprobs' must be an integer between 0 and 20."
    return None


def error_body(message: str, type_: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}
