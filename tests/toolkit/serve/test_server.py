"""`noisesearch serve` as a client sees it: the official openai client on the images route, jobs visible to their
key alone, hostile requests answered 4xx while it keeps serving, two CPU workers sharing jobs, the page in
Chromium, and a kill -9 during load after which every job completes once, equal to its predict twin."""

import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image
from test_requests import BAD_IMAGES

from helpers import chromium
from noisesearch.api import search
from noisesearch.testing.serving import KEYS, Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Server(tmp_path_factory.mktemp("serve") / "jobs", "--devices", "2", "--jobs_per_worker", "4",
                    "--max_images", "4", "--max_budget_nfe", "700").start()
    yield served
    served.kill()


def pixels(b64: str) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_the_openai_client_gets_each_image_with_its_score_and_cost(server):
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key=KEYS[0], max_retries=0)
    answer = client.images.generate(prompt="3", n=2, response_format="b64_json",
                                    extra_body={"algorithm": "zero-order", "budget_nfe": 154, "seed": 7})
    alone = search(classes=[3], per_condition=2, seed=7, pipeline="digits", algorithm="zero-order", budget_nfe=154,
                   batch_size=8, pad_chunks=True)
    assert len(answer.data) == 2
    for image, result in zip(answer.data, alone):
        extra = image.model_dump()
        assert extra["score"] == result.score and extra["nfe"] == result.nfe == 154
        assert extra["scores"] == result.scores and extra["seconds"] > 0
        assert np.array_equal(pixels(image.b64_json), np.array(result.pil))

    events = list(client.images.generate(prompt="5", stream=True, extra_body={"algorithm": "zero-order",
                                                                              "budget_nfe": 308}))
    kinds = [event.type for event in events]
    assert kinds[-1] == "image_generation.completed" and kinds.count("image_generation.completed") == 1
    assert "image_generation.partial_image" in kinds
    partial = [event for event in events if event.type == "image_generation.partial_image"]
    assert [event.partial_image_index for event in partial] == list(range(len(partial)))
    assert pixels(events[-1].b64_json).shape == (16, 16)

    with pytest.raises(Exception) as refused:  # the client's own error type carries our one-line message
        client.images.generate(prompt="3", size="1024x1024")
    assert "16x16" in str(refused.value) and getattr(refused.value, "status_code", None) == 400


def test_jobs_are_their_keys_alone_and_report_progress_and_results(server):
    status, job = server.json("POST", "/v1/searches", {"classes": [1, 2], "n": 2, "budget_nfe": 154})
    assert status == 202 and job["state"] == "queued" and len(job["id"]) == 24
    assert server.json("GET", f"/v1/searches/{job['id']}", key=KEYS[1])[0] == 404
    assert job["id"] not in [j["id"] for j in server.json("GET", "/v1/searches", key=KEYS[1])[1]["data"]]
    status, _, stream = server.call("GET", f"/v1/searches/{job['id']}/events")
    events = [json.loads(line[6:]) for line in stream.decode().splitlines() if line.startswith("data: ")]
    kinds = [event["type"] for event in events]
    assert status == 200 and kinds[-1] == "done" and kinds.count("result") == 4 and "improved" in kinds
    ended = server.json("GET", f"/v1/searches/{job['id']}")[1]
    assert ended["state"] == "done" and ended["progress"]["nfe"] == ended["progress"]["budget_nfe"] == 4 * 154
    status, result = server.json("GET", f"/v1/searches/{job['id']}/result")
    assert status == 200 and len(result["data"]) == 4 and result["cost"]["nfe_used"] == 4 * 154
    status, headers, page = server.call("GET", f"/v1/searches/{job['id']}/report.html")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"<html" in page
    assert server.json("DELETE", f"/v1/searches/{job['id']}")[0] == 409


def test_a_client_that_leaves_mid_stream_does_not_stop_its_job(server):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", "/v1/images/generations", json.dumps(
        {"prompt": "6", "stream": True, "algorithm": "zero-order", "budget_nfe": 616}),
        {"Authorization": f"Bearer {KEYS[0]}", "Content-Type": "application/json"})
    answer = connection.getresponse()
    job_id = answer.getheader("x-noisesearch-job")
    assert answer.status == 200 and answer.getheader("content-type") == "text/event-stream"
    assert answer.readline().startswith(b"event: image_generation.partial_image")
    connection.close()  # gone before the end
    assert server.wait([job_id])[0]["state"] == "done"
    assert f"job {job_id} done" in server.output()


def test_two_cpu_workers_share_a_burst_of_jobs(server):
    ids = [server.json("POST", "/v1/searches", {"classes": [c], "budget_nfe": 308, "algorithm": "zero-order"})[1]
           ["id"] for c in range(6)]
    server.wait(ids)
    workers = {json.loads((server.jobs_dir / job_id / "job.json").read_text())["worker"] for job_id in ids}
    assert len(workers) == 2
    status, _, metrics = server.call("GET", "/metrics")
    text = metrics.decode()
    assert status == 200 and 'noisesearch_jobs{state="done"}' in text
    assert text.count("noisesearch_worker_up{") == 2 and "noisesearch_worker_nfe_per_s" in text


HOSTILE = [  # (method, path, body or raw bytes, key): each answered 4xx
    ("GET", "/v1/searches", None, None),
    ("GET", "/v1/searches", None, "wrong-key"),
    ("POST", "/v1/images/generations", {"prompt": "3"}, ""),
    ("GET", "/v1/searches/..%2F..%2Fetc%2Fpasswd", None, KEYS[0]),
    ("GET", "/v1/searches/AAAAAAAAAAAAAAAAAAAAAAAA/events", None, KEYS[0]),
    ("DELETE", "/v1/searches/AAAAAAAAAAAAAAAAAAAAAAAA", None, KEYS[0]),
    ("POST", "/v1/searches", b"x" * 70000, KEYS[0]),
    ("POST", "/v1/searches", b"{\"classes\": [3", KEYS[0]),
    ("POST", "/v1/searches", {"classes": [3], "prompts": "not a list"}, KEYS[0]),
    ("PUT", "/v1/searches", {"classes": [3]}, KEYS[0]),
    ("GET", "/v1/nothing-here", None, KEYS[0]),
] + [("POST", "/v1/images/generations", body, KEYS[0]) for body, _ in BAD_IMAGES]


def test_hostile_requests_get_4xx_in_one_line_and_the_server_keeps_serving(server):
    assert len(HOSTILE) >= 20
    for method, path, body, key in HOSTILE:
        raw = body if isinstance(body, bytes) else None
        status, _, data = server.call(method, path, None if raw is not None else body, key=key or None, raw=raw)
        assert 400 <= status < 500, (method, path, status, data[:200])
        assert b"Traceback" not in data and b"File \"" not in data
        answer = json.loads(data)
        message = answer["error"]["message"] if "error" in answer else json.dumps(answer["detail"])
        assert "\n" not in message
    assert server.call("GET", "/health", key=None)[0] == 200
    status, answer = server.json("POST", "/v1/searches", {"classes": [4]})
    assert status == 202 and server.wait([answer["id"]])[0]["state"] == "done"
    assert "Traceback" not in server.output()


def test_the_page_runs_a_search_and_shows_its_image(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        browser.get(server.url + "/")
        key = browser.find_element(By.ID, "key")
        key.send_keys(KEYS[1])
        browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
        WebDriverWait(browser, 30).until(lambda b: "digits" in b.find_element(By.ID, "about").text)
        browser.find_element(By.ID, "prompt").send_keys("7")
        budget = browser.find_element(By.ID, "budget")
        budget.clear()
        budget.send_keys("308")
        browser.find_element(By.ID, "algorithm").send_keys("zero-order")
        browser.find_element(By.ID, "go").click()
        WebDriverWait(browser, 120).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".job img.final"))
        card = browser.find_element(By.CSS_SELECTOR, ".job")
        assert card.find_elements(By.CSS_SELECTOR, "img.best") and card.find_elements(By.CSS_SELECTOR, "circle")
        assert card.find_element(By.CSS_SELECTOR, ".status").text.startswith("done")
        assert "zero-order" in card.text and browser.find_element(By.ID, "problem").text == ""
    finally:
        browser.quit()


def test_a_server_killed_under_load_resumes_every_job_once_equal_to_its_predict_twin(tmp_path, in_process):
    jobs_dir = tmp_path / "jobs"
    first = Server(jobs_dir, "--jobs_per_worker", "4").start()
    ids: list[str] = []
    bodies = [{"classes": [c], "n": 2, "seed": c, "algorithm": "zero-order", "budget_nfe": 308} for c in range(4)]

    def client(part):
        for body in part:
            status, job = first.json("POST", "/v1/searches", body)
            assert status == 202
            ids.append(job["id"])

    threads = [threading.Thread(target=client, args=(bodies[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 120
    while not any((jobs_dir / job_id / "journal" / "rank0.jsonl").exists() for job_id in ids):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.kill()
    states = [json.loads((jobs_dir / job_id / "job.json").read_text())["state"] for job_id in ids]
    assert "done" not in states or states.count("done") < len(ids)  # killed mid-load

    second = Server(jobs_dir, "--jobs_per_worker", "4").start()
    try:
        ended = second.wait(ids)
    finally:
        second.kill()
    assert [job["state"] for job in ended] == ["done"] * len(ids)
    by_id = dict(zip(ids, ended))
    for job_id in ids:
        events = [json.loads(line) for line in (jobs_dir / job_id / "events.jsonl").read_text().splitlines()]
        assert [event["type"] for event in events].count("done") == 1
        journal = [json.loads(line) for line in (jobs_dir / job_id / "journal" / "rank0.jsonl").read_text()
                   .splitlines()]
        results = [line for line in journal if line.get("type") == "result"]
        assert len(results) == 2 and len({(r["search"], r["repeat"]) for r in results}) == 2
        summary = json.loads((jobs_dir / job_id / "summary.json").read_text())
        job = by_id[job_id]
        alone = search(classes=[job["conditions"][0]["class_label"]], per_condition=2, seed=job["seed"],
                       pipeline="digits", algorithm="zero-order", budget_nfe=308, batch_size=8, pad_chunks=True)
        assert [r["score"] for r in summary["results"]] == [r.score for r in alone]
        for record, result in zip(summary["results"], alone):
            assert np.array_equal(np.array(Image.open(jobs_dir / job_id / record["image"])), np.array(result.pil))

    twin = in_process("predict", "--config", str(jobs_dir / ids[0] / "config.yaml"), "--out", str(tmp_path / "twin"))
    assert twin.returncode == 0, twin.stderr[-2000:]
    ours = json.loads((jobs_dir / ids[0] / "summary.json").read_text())["results"]
    theirs = json.loads((tmp_path / "twin" / "summary.json").read_text())["results"]
    assert [(r["score"], r["candidate"], r["nfe"]) for r in ours] == [(r["score"], r["candidate"], r["nfe"])
                                                                       for r in theirs]
    for record in ours:
        assert (jobs_dir / ids[0] / record["image"]).read_bytes() == (tmp_path / "twin" / record["image"]).read_bytes()
