"""The VLM judge's real client against a real local HTTP server speaking the chat completions protocol, with faults."""

import base64
import io
import json
import math
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image

from noisesearch.conditions import Condition
from noisesearch.errors import ServiceError, UsageError
from noisesearch_plugins.verifiers.vlm import PAPER_CRITERIA, JudgeClient, VLMJudge, png_data_url

KEY = "sk-test-SECRET-9f3a"


class JudgeServer(ThreadingHTTPServer):
    """An OpenAI-compatible judge: overall_score = 100 x mean brightness of the image; faults named in the prompt.

    ``fault:slow``, ``fault:429``, ``fault:500`` and ``fault:malformed``, ``fault:range`` hit the first attempt of an
    image; ``always:500``, ``always:malformed`` and ``always:range`` every attempt. ``fail_after`` makes every reply
    after that many a 503.
    """

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), JudgeHandler)
        self.attempts = Counter()
        self.requests = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_after = None
        self.lock = threading.Lock()

    def handle_error(self, request, client_address):
        pass  # a client that timed out closed its connection: the slow reply has nowhere to go

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class JudgeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.leave()  # before the client can see the reply and send its next request
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            server.requests.append({"headers": dict(self.headers), "body": body})
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
            served = len(server.requests)
        self.counted = True
        try:
            self.answer(server, body, served)
        finally:
            self.leave()

    def leave(self):
        if getattr(self, "counted", False):
            self.counted = False
            with self.server.lock:
                self.server.in_flight -= 1

    def answer(self, server, body, served):
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": "not found"}})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self.reply(401, {"error": {"message": "invalid api key"}})
        if server.fail_after is not None and served > server.fail_after:
            return self.reply(503, {"error": {"message": "overloaded"}})
        schema = body["response_format"]["json_schema"]["schema"]
        assert body["response_format"]["type"] == "json_schema" and schema["required"]
        text, *images = body["messages"][1]["content"]  # a clip comes as its frames, in order
        prompt = text["text"]
        pngs = [base64.b64decode(image["image_url"]["url"].split(",", 1)[1]) for image in images]
        png = b"".join(pngs)
        brightness = float(np.mean([np.asarray(Image.open(io.BytesIO(one)), dtype=np.float64).mean() / 255
                                    for one in pngs]))
        with server.lock:
            server.attempts[(prompt, png)] += 1
            attempt = server.attempts[(prompt, png)]
        time.sleep((hash(png) % 5) * 0.01)  # replies come back out of order
        fault = next((word.split(":")[1] for word in prompt.split() if word.startswith(("fault:", "always:"))), None)
        if fault and (attempt == 1 or "always:" in prompt):
            if fault == "slow":
                time.sleep(4.0)
            elif fault == "429":
                return self.reply(429, {"error": {"message": "rate limited"}}, [("Retry-After", "0.05")])
            elif fault == "500":
                return self.reply(500, {"error": {"message": "boom"}})
            elif fault == "malformed":
                return self.reply(200, {"choices": [{"message": {"role": "assistant", "content": "{not json"}}]})
            elif fault == "range":
                content = json.dumps({name: 150 for name in schema["required"]})
                return self.reply(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})
        judgement = {name: 50.0 for name in schema["required"]}
        judgement[schema["required"][-1]] = round(100 * brightness, 4)
        self.reply(200, {"choices": [{"message": {"role": "assistant", "content": json.dumps(judgement)}}]})


@pytest.fixture
def server():
    server = JudgeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(server, **overrides):
    settings = dict(timeout=1.5, retries=3, backoff=0.01, concurrency=3)
    return JudgeClient(server.base_url, "judge-model", KEY, **{**settings, **overrides})


def images_of(levels):
    """Flat images at 8-bit levels (so the PNG the judge sees holds exactly these values)."""
    return [torch.full((3, 8, 8), level / 255) for level in levels]


def expected(image):
    return 100 * round(float(image[0, 0, 0]) * 255) / 255


def test_every_score_lands_on_its_own_image_through_every_fault(server):
    levels = [20, 230, 80, 180, 128, 50, 200, 150]
    faults = ["fault:slow", "fault:429", "fault:500", "fault:malformed", "fault:range", "", "fault:429", "fault:500"]
    images = images_of(levels)
    judgements = client(server).judge([png_data_url(i) for i in images], [f"a cat {f}" for f in faults])
    for image, judgement in zip(images, judgements):
        assert judgement["overall_score"] == pytest.approx(expected(image), abs=1e-3)
        assert set(judgement) == set(PAPER_CRITERIA)
    retried = [count for (prompt, _), count in server.attempts.items() if "fault:" in prompt]
    assert len(retried) == 7 and min(retried) >= 2  # every fault was met and survived by a retry


def test_concurrency_is_bounded(server):
    images = images_of(range(10, 130, 10))
    judgements = client(server, concurrency=3).judge([png_data_url(i) for i in images], ["a cat"] * len(images))
    assert [j["overall_score"] for j in judgements] == pytest.approx([expected(i) for i in images], abs=1e-3)
    assert server.most_in_flight <= 3 and len(server.requests) == 12


def test_replies_that_stay_invalid_give_nan_and_the_rest_keep_their_scores(server, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", KEY)
    judge = VLMJudge(f"model=judge-model,base_url={server.base_url},key_env=JUDGE_KEY,timeout=0.5,retries=2,"
                     "backoff=0.01")
    images = torch.stack(images_of([50, 100, 150]))
    prompts = [Condition(prompt=p) for p in ("always:malformed", "fine", "always:range")]
    scores = judge.score(images, prompts)
    assert math.isnan(scores[0]) and math.isnan(scores[2])
    assert float(scores[1]) == pytest.approx(expected(images[1]), abs=1e-3)


def test_an_endpoint_that_keeps_failing_stops_the_run_with_a_service_error(server):
    with pytest.raises(ServiceError, match="failed 4 times \\(last: HTTP 500\\)") as error:
        client(server).judge([png_data_url(images_of([128])[0])], ["always:500"])
    assert KEY not in str(error.value)


def test_a_rejected_key_or_unknown_model_is_the_users_to_fix(server):
    with pytest.raises(UsageError, match="rejected the API key") as error:
        JudgeClient(server.base_url, "judge-model", "sk-wrong", retries=0).judge_one("data:,", "x")
    assert "sk-wrong" not in str(error.value)
    with pytest.raises(UsageError, match="answered HTTP 404"):
        JudgeClient(server.base_url + "/nowhere", "judge-model", KEY, retries=0).judge_one("data:,", "x")


def test_the_spec_is_checked_before_anything_runs(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UsageError, match="needs a model"):
        VLMJudge(None)
    with pytest.raises(UsageError, match="needs base_url"):
        VLMJudge("gpt-4o")
    with pytest.raises(UsageError, match=r"reads its API key from \$OPENAI_API_KEY, which is not set"):
        VLMJudge("model=gpt-4o,base_url=http://127.0.0.1:9")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(UsageError, match="is no criterion"):
        VLMJudge("model=gpt-4o,base_url=http://127.0.0.1:9,score=beauty")
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Score how round the shapes are, 0-100, as {\"roundness\": N}.")
    judge = VLMJudge(f"model=m,base_url=http://127.0.0.1:9,rubric={rubric},criteria=roundness")
    assert judge.client.criteria == ("roundness",) and judge.chosen == "roundness"


def test_a_search_with_the_judge_keeps_the_key_out_of_every_file_and_resumes_after_an_outage(server, cli, in_process,
                                                                                           monkeypatch, tmp_path):
    out = tmp_path / "run"
    spec = f"vlm:model=judge-model,base_url={server.base_url},key_env=JUDGE_KEY,timeout=2,retries=1,backoff=0.01"
    args = ["predict", "--model.pipeline", "toy-prompt", "--model.verifiers", json.dumps([spec]),
            "--model.algorithm_args", '{"n": 4}', "--model.budget_nfe", "28", "--data.batch_size", "1",
            "--data.prompts", '["a bright square", "a dim circle"]', "--out", str(out)]
    server.fail_after = 4  # the first search is judged, the second hits an outage
    down = cli(*args, env={"JUDGE_KEY": KEY})
    assert down.returncode == 1 and "VLM endpoint" in down.stderr and "Traceback" not in down.stderr
    server.fail_after = None
    up = cli("resume", str(out), env={"JUDGE_KEY": KEY})
    assert up.returncode == 0, up.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    for record in summary["results"]:
        brightness = np.asarray(Image.open(out / record["image"]), dtype=np.float64).mean() / 255
        assert record["scores"]["vlm"] == pytest.approx(100 * brightness, abs=1e-3)
    judged = Counter(request["body"]["messages"][1]["content"][0]["text"] for request in server.requests)
    assert summary["nfe_used"] == 56 and judged["Prompt: a bright square"] == 4  # nothing judged twice
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    for output in (down.stdout, down.stderr, up.stdout, up.stderr):
        assert KEY not in output
    monkeypatch.setenv("JUDGE_KEY", "")
    missing = in_process(*args[:-1], str(tmp_path / "other"))
    assert missing.returncode == 2 and "$JUDGE_KEY, which is not set" in missing.stderr


def test_the_judge_passes_the_conformance_suite_against_the_local_server(server, monkeypatch):
    from noisesearch.conditions import Condition
    from noisesearch.testing.verifiers import check_verifier

    monkeypatch.setenv("JUDGE_KEY", KEY)
    judge = VLMJudge(f"model=judge-model,base_url={server.base_url},key_env=JUDGE_KEY,timeout=2,retries=2,"
                     "backoff=0.01")
    images = torch.stack(images_of([20, 230, 80, 180, 128, 50]))
    check_verifier(judge, [Condition(prompt=f"a cat {i}") for i in range(6)], images)


def test_a_clip_reaches_the_judge_as_its_frames_in_one_message(server, monkeypatch):
    from noisesearch.conditions import Condition

    monkeypatch.setenv("JUDGE_KEY", KEY)
    judge = VLMJudge(f"model=judge-model,base_url={server.base_url},key_env=JUDGE_KEY,frames=4,backoff=0.01")
    levels = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]
    clips = torch.stack([torch.stack(images_of(levels)), torch.stack(images_of(levels[::-1]))])  # (2, 12, 3, 8, 8)
    scores = judge.score(clips, [Condition(prompt="a cat"), Condition(prompt="a dog")])
    sent = [request["body"]["messages"][1]["content"] for request in server.requests]
    assert sorted(len(content) - 1 for content in sent) == [4, 4]  # four frames each, one request a clip
    assert "frames of one video clip" in sent[0][0]["text"]
    judged = [levels[i] for i in (0, 4, 7, 11)]  # evenly spaced with the first and last
    assert scores.tolist() == pytest.approx([100 * np.mean(judged) / 255] * 2, abs=1e-3)
