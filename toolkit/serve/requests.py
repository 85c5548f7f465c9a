"""What a request may ask of the server, checked before anything is queued: each mistake one line naming the field
and the fix, as an HTTP 4xx (``RequestError``). The images route takes OpenAI's fields (``prompt``, ``n``, ``size``,
``response_format``, ``stream``) and the extension fields every route takes (``budget_nfe`` or ``budget_seconds``,
``algorithm``, ``algorithm_args``, ``verifiers``, ``seed``, ``classes``)."""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass
from typing import Any, Optional

from ..conditions import Condition, parse_classes
from ..errors import UsageError
from ..run.settings import RunSettings, build
from .jobs import JobSpec

EXTENSIONS = ("budget_nfe", "budget_seconds", "algorithm", "algorithm_args", "verifiers", "seed", "classes")
OPENAI = ("prompt", "n", "size", "response_format", "stream", "model", "user", "quality", "style", "output_format",
          "background", "moderation", "output_compression", "partial_images", "safety_identifier", "complexity")
SEARCH = ("prompt", "prompts", "n") + EXTENSIONS
ASKED = ("budget_nfe", "budget_seconds", "algorithm", "algorithm_args", "verifiers")  # model settings a request sets


class RequestError(Exception):
    """A request the server refuses: its HTTP status and one line naming the field and the fix."""

    def __init__(self, status: int, message: str, retry_after: Optional[int] = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    """What one request may ask for at most (``noisesearch serve``'s caps)."""

    max_budget_nfe: int = 4096
    max_budget_seconds: float = 600.0
    max_prompt_chars: int = 500
    max_images: int = 8
    max_request_bytes: int = 65536
    verifiers: tuple[str, ...] = ()  # the verifiers a request may name (the server's own by default)


def parse_body(body: bytes, limits: Limits) -> dict:
    """A request body as a JSON object, or a 4xx naming what is wrong with it."""
    if len(body) > limits.max_request_bytes:
        raise RequestError(413, f"the request is {len(body)} bytes, over the server's {limits.max_request_bytes}; "
                                "send a smaller body")
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RequestError(400, "the body is no valid JSON; send a JSON object such as {\"prompt\": \"a red fox\"}") \
            from None
    if not isinstance(data, dict):
        raise RequestError(400, "the body must be a JSON object such as {\"prompt\": \"a red fox\"}")
    return data


def check_names(data: dict, allowed: tuple[str, ...]) -> None:
    for name in data:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RequestError(400, f"unknown field {str(name)[:40]!r}{hint} (fields: {', '.join(allowed)})")


def typed(data: dict, name: str, kinds: tuple, what: str) -> Any:
    value = data.get(name)
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds):
        raise RequestError(400, f"{name} must be {what}")
    return value


class Requests:
    """Turns request bodies into job specs for one server: its world (``settings``, the model settings every job
    starts from) and its ``limits``."""

    def __init__(self, settings: RunSettings, defaults: dict, limits: Limits):
        self.settings = settings
        self.defaults = defaults
        self.limits = limits

    def images(self, data: dict) -> JobSpec:
        """``POST /v1/images/generations``: one condition, ``n`` searches of it, images answered as b64_json."""
        check_names(data, OPENAI + EXTENSIONS)
        if typed(data, "response_format", (str,), "\"b64_json\"") not in (None, "b64_json"):
            raise RequestError(400, "response_format: this server answers with images in the body; use b64_json")
        if typed(data, "output_format", (str,), "\"png\"") not in (None, "png"):
            raise RequestError(400, "output_format: this server makes png images; use png or leave it out")
        self.check_size(typed(data, "size", (str,), "a size such as \"16x16\""))
        stream = bool(typed(data, "stream", (bool,), "true or false"))
        partial = typed(data, "partial_images", (int,), "a whole number")
        if partial is not None and (partial < 0 or not stream):
            raise RequestError(400, f"partial_images={partial}: give how many best-so-far images to stream at most "
                                    "(0 or more, with stream true), or leave it out for every improvement")
        typed(data, "model", (str,), "a string")
        prompts = [typed(data, "prompt", (str,), "a string")]
        spec = self.spec(data, prompts if prompts[0] is not None else None, "images")
        return dataclasses.replace(spec, stream=stream, partial_images=partial)

    def search(self, data: dict) -> JobSpec:
        """``POST /v1/searches``: ``prompt`` or ``prompts`` (or ``classes``), ``n`` searches of each."""
        check_names(data, SEARCH)
        prompts = typed(data, "prompts", (list,), "a list of strings")
        prompt = typed(data, "prompt", (str,), "a string")
        if prompt is not None and prompts is not None:
            raise RequestError(400, "give prompt or prompts, not both")
        return self.spec(data, [prompt] if prompt is not None else prompts, "search")

    def check_size(self, size: Optional[str]) -> None:
        own = f"{self.settings.args.width}x{self.settings.args.height}"
        if size not in (None, "auto", own):
            raise RequestError(400, f"size {size[:20]!r}: this server's model makes {own} images; use {own} or leave "
                                    "it out")

    def spec(self, data: dict, prompts: Optional[list], kind: str) -> JobSpec:
        conditions = self.conditions(data, prompts)
        n = typed(data, "n", (int,), "a whole number")
        n = 1 if n is None else n
        if not 1 <= n <= self.limits.max_images:
            raise RequestError(400, f"n={n}: ask for 1 to {self.limits.max_images} images a request")
        if n * len(conditions) > self.limits.max_images:
            raise RequestError(400, f"{len(conditions)} conditions x n={n} is over {self.limits.max_images} images a "
                                    "request; ask for fewer")
        seed = typed(data, "seed", (int,), "a whole number")
        model = self.model(data)
        return JobSpec([c.as_dict() for c in conditions], n, model, 0 if seed is None else seed, kind)

    def conditions(self, data: dict, prompts: Optional[list]) -> list[Condition]:
        """The request's conditions: prompts for a text model, classes (or a prompt naming a class) for a class
        model, checked against the world."""
        classes = data.get("classes")
        family = self.settings.family
        if family.condition_kind == "class":
            if classes is None and prompts is not None:
                classes = ",".join(str(p).strip() for p in prompts)
            if classes is None:
                raise RequestError(400, f"classes: this server's model is class-conditional; give classes (e.g. "
                                        f"[3]) or a prompt that is a class label, 0-{(family.num_classes or 1) - 1}")
            try:
                labels = parse_classes(",".join(map(str, classes)) if isinstance(classes, list) else str(classes))
            except UsageError:
                raise RequestError(400, f"classes {str(classes)[:40]!r}: give class labels such as [3] or [0, 4]") \
                    from None
            conditions = [Condition(class_label=label) for label in labels]
        else:
            if classes is not None:
                raise RequestError(400, "classes: this server's model takes prompts; give prompt")
            if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
                raise RequestError(400, "prompt: give the prompt text (a non-empty string)")
            long = [p for p in prompts if len(p) > self.limits.max_prompt_chars]
            if long:
                raise RequestError(400, f"prompt is {len(long[0])} characters, over the server's "
                                        f"{self.limits.max_prompt_chars}; shorten it")
            conditions = [Condition(prompt=p.strip()) for p in prompts]
        try:
            family.check_conditions(conditions)
        except UsageError as error:
            raise RequestError(400, field_message(error)) from None
        return conditions

    def model(self, data: dict) -> dict:
        """The job's model settings: the server's, with what the request sets over them, checked as ``noisesearch
        predict`` checks them; a budget over the server's cap (a clock's default one included) is capped."""
        asked = {name: data[name] for name in ASKED if data.get(name) is not None}
        budget, seconds = asked.get("budget_nfe"), asked.get("budget_seconds")
        if isinstance(budget, int) and not isinstance(budget, bool) and budget > self.limits.max_budget_nfe:
            raise RequestError(400, f"budget_nfe={budget} is over the server's {self.limits.max_budget_nfe}; ask for "
                                    "less")
        if isinstance(seconds, (int, float)) and seconds > self.limits.max_budget_seconds:
            raise RequestError(400, f"budget_seconds={seconds} is over the server's "
                                    f"{self.limits.max_budget_seconds:g}; ask for less")
        self.check_verifiers(asked.get("verifiers"))
        merged = {**self.defaults, **asked}
        settings = checked(merged)
        if settings.search.budget_nfe > self.limits.max_budget_nfe:  # the server's own budget, or a clock's cap
            merged["budget_nfe"] = max(settings.sample_nfe,
                                       self.limits.max_budget_nfe // settings.sample_nfe * settings.sample_nfe)
            settings = checked(merged)
        if settings.search.algorithm.uses_gradients and not self.settings.search.algorithm.uses_gradients:
            raise RequestError(400, f"algorithm {settings.search.algorithm.name!r} needs gradients, which this "
                                    "server's loop does not evaluate; pick an algorithm without them")
        return merged

    def check_verifiers(self, verifiers: Any) -> None:
        """Only the verifiers the server allows (a verifier may load weights or call a paid API)."""
        names = [verifiers] if isinstance(verifiers, str) else verifiers
        if names is None:
            return
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise RequestError(400, "verifiers must be a list of verifier names")
        refused = [name for name in names if name not in self.limits.verifiers]
        if refused:
            raise RequestError(400, f"verifier {refused[0][:40]!r} is not offered here; use "
                                    f"{', '.join(self.limits.verifiers)} (GET /v1/options)")


def checked(model: dict) -> RunSettings:
    """``build`` of a request's model settings; a refusal is a 400 naming the field."""
    try:
        return build(**model)
    except UsageError as error:
        raise RequestError(400, field_message(error)) from None


def field_message(error: Exception) -> str:
    """A settings refusal as a request's field: ``model.budget_nfe=5 ...`` reads ``budget_nfe=5 ...``."""
    return str(error).replace("model.", "").splitlines()[0]
