"""What a request may ask: every malformed or hostile body is a 4xx naming the field, before anything is queued."""

import json

import pytest

from noisesearch.run.settings import build
from noisesearch.serve.requests import Limits, RequestError, Requests, parse_body

DEFAULTS = {"pipeline": "digits", "batch_size": 8, "pad_chunks": True, "budget_nfe": 77}
LIMITS = Limits(max_budget_nfe=700, max_budget_seconds=30, max_images=4, max_request_bytes=4096,
                verifiers=("digits-classifier",))

# (body, the words the one-line message must hold): each would otherwise be queued, crash a worker or run away
BAD_IMAGES = [
    (b"{not json", "no valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"\xff\xfe\x00", "no valid JSON"),
    (b"[" * 2000 + b"]" * 2000, "no valid JSON"),
    (json.dumps({"prompt": "3", "x": "y" * 5000}).encode(), "over the server's 4096"),
    ({"promt": "3"}, "did you mean 'prompt'"),
    ({"prompt": 3}, "prompt must be a string"),
    ({"prompt": "3", "n": "2"}, "n must be a whole number"),
    ({"prompt": "3", "n": True}, "n must be a whole number"),
    ({"prompt": "3", "n": 0}, "1 to 4 images"),
    ({"prompt": "3", "n": 100}, "1 to 4 images"),
    ({"prompt": "3", "budget_nfe": -5}, "budget_nfe"),
    ({"prompt": "3", "budget_nfe": 10**9}, "over the server's 700"),
    ({"prompt": "3", "budget_seconds": 3600}, "over the server's 30"),
    ({"prompt": "3", "budget_seconds": 5, "algorithm": "halving"}, "clock cannot stop it"),
    ({"prompt": "3", "algorithm": "rm -rf /"}, "unknown algorithm"),
    ({"prompt": "3", "algorithm": "gradient"}, "needs gradients"),
    ({"prompt": "3", "algorithm_args": {"n": -1}}, "n=-1"),
    ({"prompt": "3", "verifiers": ["vlm:http://evil.example"]}, "not offered here"),
    ({"prompt": "3", "verifiers": "digits-classifier; rm"}, "not offered here"),
    ({"prompt": "3", "size": "1024x1024"}, "makes 16x16 images"),
    ({"prompt": "3", "response_format": "url"}, "b64_json"),
    ({"prompt": "3", "partial_images": 2}, "with stream true"),
    ({"prompt": "3", "stream": True, "partial_images": -1}, "0 or more"),
    ({"prompt": "../../etc/passwd"}, "class labels"),
    ({"prompt": "12"}, "class"),
    ({"classes": [3], "prompt": "4", "seed": "zero"}, "seed must be a whole number"),
    ({}, "class-conditional"),
]


@pytest.fixture(scope="module")
def requests():
    return Requests(build(**DEFAULTS), DEFAULTS, LIMITS)


def body(data) -> bytes:
    return data if isinstance(data, bytes) else json.dumps(data).encode()


@pytest.mark.parametrize("data, words", BAD_IMAGES, ids=[str(i) for i in range(len(BAD_IMAGES))])
def test_a_bad_images_request_is_a_4xx_naming_the_problem(requests, data, words):
    with pytest.raises(RequestError) as refused:
        requests.images(parse_body(body(data), LIMITS))
    assert 400 <= refused.value.status < 500
    message = str(refused.value)
    assert words in message and "\n" not in message and "Traceback" not in message


def test_a_good_request_becomes_the_job_predict_would_run(requests):
    spec = requests.images({"prompt": " 3 ", "n": 2, "seed": 5, "algorithm": "zero-order", "budget_nfe": 154,
                            "stream": True, "partial_images": 1})
    assert spec.conditions == [{"class_label": 3}] and spec.per_condition == 2 and spec.seed == 5
    assert spec.stream and spec.partial_images == 1 and spec.kind == "images"
    assert spec.model == {**DEFAULTS, "algorithm": "zero-order", "budget_nfe": 154}
    assert [(task.index, task.condition.class_label, task.repeat) for task in spec.tasks()] == [(0, 3, 0), (1, 3, 1)]
    searches = requests.search({"classes": [1, 2], "n": 2})
    assert searches.searches == 4 and searches.kind == "search"


def test_a_clock_without_a_budget_gets_the_servers_cap(requests):
    spec = Requests(build(**DEFAULTS), {**DEFAULTS, "budget_nfe": None}, LIMITS).images(
        {"prompt": "3", "budget_seconds": 2})
    settings = build(**spec.model)
    assert settings.search.budget_seconds == 2 and settings.search.budget_nfe <= LIMITS.max_budget_nfe
    assert settings.search.budget_nfe % settings.sample_nfe == 0


def test_the_searches_route_takes_prompts_or_classes_not_both(requests):
    with pytest.raises(RequestError, match="prompt or prompts"):
        requests.search({"prompt": "3", "prompts": ["4"]})
    with pytest.raises(RequestError, match="over 4 images"):
        requests.search({"classes": [1, 2, 3], "n": 2})
