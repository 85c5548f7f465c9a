"""Verifier ``vlm``: a VLM judge over any OpenAI-compatible chat completions API (Ma et al. 2025, 3.2 and 4.1)."""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import random
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
from PIL import Image

from noisesearch.plugin import Condition, ServiceError, UsageError, Verifier, judged_frames, parse_options

log = logging.getLogger("noisesearch")

PAPER_CRITERIA = ("accuracy_to_prompt", "originality", "visual_quality", "internal_consistency",
                  "emotional_resonance", "overall_score")
PAPER_RUBRIC = """You judge images generated from a text prompt. Score the image from 0 to 100 on each criterion:
- accuracy_to_prompt: how exactly the image shows what the prompt asks for (objects, counts, attributes, relations).
- originality: how creative and unexpected the rendering is while staying true to the prompt.
- visual_quality: sharpness, detail, lighting, composition; absence of artefacts.
- internal_consistency: whether everything in the image is physically and logically coherent.
- emotional_resonance: how strongly the image conveys the mood the prompt implies.
- overall_score: your overall judgement of the image as a response to the prompt.
Answer with the JSON object only."""


def response_schema(criteria: Sequence[str]) -> dict:
    """The JSON schema of a judgement: one number in [0, 100] per criterion, nothing else."""
    return {
        "type": "object",
        "properties": {name: {"type": "number", "minimum": 0, "maximum": 100} for name in criteria},
        "required": list(criteria),
        "additionalProperties": False,
    }


def png_data_url(image: torch.Tensor) -> str:
    """One image in [0, 1] (C, H, W) as a base64 PNG data URL."""
    array = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Transient(Exception):
    """A reply worth retrying after a pause (timeouts, 429, 5xx, refused connections)."""

    def __init__(self, reason: str, wait: Optional[float] = None):
        super().__init__(reason)
        self.wait = wait


class Invalid(Exception):
    """A reply whose content is no valid judgement (malformed JSON, missing or out-of-range scores)."""


@dataclass
class JudgeClient:
    """A thread-safe client of ``POST {base_url}/chat/completions`` with timeouts, retries and backoff.

    The key goes into the Authorization header and nowhere else: errors name the URL and status, never headers.
    """

    base_url: str
    model: str
    api_key: str
    criteria: tuple[str, ...] = PAPER_CRITERIA
    rubric: str = PAPER_RUBRIC
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0
    concurrency: int = 8

    def judge(self, data_urls: Sequence, prompts: Sequence[str]) -> list[Optional[dict[str, float]]]:
        """Judgements in the order of the images (None where replies stayed invalid), ``concurrency`` at a time; an
        item that is a list of data URLs is a clip's frames, sent in order in one message."""
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(prompts)))) as pool:
            futures = [pool.submit(self.judge_one, url, prompt) for url, prompt in zip(data_urls, prompts)]
            return [future.result() for future in futures]

    def judge_one(self, data_url, prompt: str) -> Optional[dict[str, float]]:
        """One image's judgement, retried on transient faults; None if every reply was invalid."""
        last = ""
        for attempt in range(self.retries + 1):
            try:
                return self._parse(self._post(self._payload(data_url, prompt)))
            except Transient as fault:
                last = str(fault)
                if attempt < self.retries:
                    time.sleep(fault.wait if fault.wait is not None else self._pause(attempt))
            except Invalid as fault:
                last = str(fault)
                log.warning("VLM judge reply invalid (%s), attempt %d of %d", fault, attempt + 1, self.retries + 1)
                if attempt == self.retries:
                    return None
        raise ServiceError(f"VLM endpoint {self.base_url} failed {self.retries + 1} times (last: {last}); "
                           "everything scored before is journaled: `noisesearch resume OUT` once it is back")

    def _pause(self, attempt: int) -> float:
        return self.backoff * 2**attempt * (0.5 + random.random() / 2)

    def _payload(self, data_url, prompt: str) -> dict:
        urls = [data_url] if isinstance(data_url, str) else list(data_url)
        text = f"Prompt: {prompt}"
        if len(urls) > 1:
            text += f"\nThe {len(urls)} images are frames of one video clip, in order: judge the clip."
        return {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": self.rubric},
                {"role": "user", "content": [
                    {"type": "text", "text": text},
                    *({"type": "image_url", "image_url": {"url": url}} for url in urls),
                ]},
            ],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "judgement", "strict": True, "schema": response_schema(self.criteria)}},
        }

    def _post(self, payload: dict) -> dict:
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/chat/completions", data=json.dumps(payload).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                body = reply.read()
        except urllib.error.HTTPError as error:
            status = error.code
            if status == 429 or status >= 500:
                raise Transient(f"HTTP {status}", _retry_after(error.headers.get("Retry-After"))) from None
            if status in (401, 403):
                raise UsageError(f"VLM endpoint {self.base_url} rejected the API key (HTTP {status}); check the "
                                 "key in the environment variable the vlm verifier reads") from None
            raise UsageError(f"VLM endpoint {self.base_url} answered HTTP {status} for model {self.model!r}; "
                             "check base_url and model") from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
            raise Transient(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise Invalid("reply body is not JSON") from None

    def _parse(self, reply: dict) -> dict[str, float]:
        try:
            content = reply["choices"][0]["message"]["content"]
            judgement = json.loads(content)
        except (KeyError, IndexError, TypeError, ValueError):
            raise Invalid("no JSON judgement in the reply") from None
        if not isinstance(judgement, dict):
            raise Invalid("the judgement is no JSON object")
        scores = {}
        for name in self.criteria:
            value = judgement.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise Invalid(f"criterion {name!r} is {value!r}, not a number in [0, 100]")
            scores[name] = float(value)
        return scores


def _retry_after(header: Optional[str]) -> Optional[float]:
    try:
        return min(60.0, max(0.0, float(header))) if header is not None else None
    except ValueError:
        return None


class VLMJudge(Verifier):
    """A VLM judge of prompt and image, 0-100 on the paper's criteria or the user's rubric; scores one reply each.

    Spec ``vlm:model=NAME,base_url=URL,key_env=VAR,score=CRITERION|mean,rubric=FILE,criteria=a+b,concurrency=8,
    timeout=60,retries=4``. ``base_url`` defaults to ``$OPENAI_BASE_URL`` and the key is read from ``$key_env``
    (default ``OPENAI_API_KEY``) at load time: it never enters the config, journal, logs or reports.
    """

    name = "vlm"
    condition_kinds = ("prompt",)
    watches_clips = True  # a clip goes as its frames in one message (``frames=N`` of them, evenly spaced)

    OPTIONS = {"model": None, "base_url": None, "key_env": "OPENAI_API_KEY", "score": None, "rubric": None,
               "criteria": None, "concurrency": "8", "timeout": "60", "retries": "4", "backoff": "1", "frames": "8"}

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        options = parse_options(self.name, spec, self.OPTIONS, positional="model")
        if not options["model"]:
            raise UsageError("verifier 'vlm' needs a model: vlm:model=NAME,base_url=URL (e.g. gpt-4o)")
        base_url = options["base_url"] or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise UsageError("verifier 'vlm' needs base_url=URL or $OPENAI_BASE_URL (an OpenAI-compatible endpoint)")
        key = os.environ.get(options["key_env"] or "")
        if not key:
            raise UsageError(f"verifier 'vlm' reads its API key from ${options['key_env']}, which is not set; export "
                             "it (or name another variable with key_env=VAR)")
        rubric, criteria = PAPER_RUBRIC, PAPER_CRITERIA
        if options["rubric"]:
            path = Path(options["rubric"]).expanduser()
            if not path.is_file():
                raise UsageError(f"vlm rubric {options['rubric']!r} does not exist; give a text file")
            rubric, criteria = path.read_text(), ("score",)
        if options["criteria"]:
            criteria = tuple(name for name in options["criteria"].split("+") if name)
        fallback = "overall_score" if "overall_score" in criteria else criteria[0] if len(criteria) == 1 else "mean"
        chosen = options["score"] or fallback
        if chosen != "mean" and chosen not in criteria:
            raise UsageError(f"vlm score={chosen!r} is no criterion ({', '.join(criteria)}) nor 'mean'")
        self.chosen = chosen
        self.frames = int(_number(options, "frames"))
        self.client = JudgeClient(base_url, options["model"], key, criteria, rubric,
                                  timeout=_number(options, "timeout"), retries=int(_number(options, "retries")),
                                  backoff=_number(options, "backoff"),
                                  concurrency=int(_number(options, "concurrency")))

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        if images.dim() == 5:  # clips: their frames, evenly spaced with the first and last
            urls = [[png_data_url(frame) for frame in clip[judged_frames(clip.shape[0], self.frames)]]
                    for clip in images]
        else:
            urls = [png_data_url(image) for image in images]
        judgements = self.client.judge(urls, [condition.prompt for condition in conditions])
        values = [self._value(judgement) for judgement in judgements]
        return torch.tensor(values, dtype=torch.float32)

    def _value(self, judgement: Optional[dict[str, float]]) -> float:
        if judgement is None:
            return math.nan
        if self.chosen == "mean":
            return sum(judgement.values()) / len(judgement)
        return judgement[self.chosen]


def _number(options: dict, key: str) -> float:
    try:
        value = float(options[key])
    except (TypeError, ValueError):
        raise UsageError(f"vlm option {key}={options[key]!r} is no number") from None
    if value < 0 or (key in ("concurrency", "timeout") and value == 0):
        raise UsageError(f"vlm option {key}={options[key]!r} must be positive")
    return value
