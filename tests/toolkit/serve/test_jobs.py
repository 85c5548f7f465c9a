"""The jobs folder: ids that are safe folder names, one worker per job (a lock the OS frees), whole event lines."""

import json
import subprocess
import sys

import pytest

from noisesearch.serve.app import cancel_job
from noisesearch.serve.jobs import JobSpec, JobStore

SPEC = JobSpec([{"class_label": 3}], 1, {"pipeline": "digits"})


def test_ids_are_unguessable_and_names_outside_them_are_refused(tmp_path):
    store = JobStore(tmp_path)
    job = store.create(SPEC, "owner")
    assert len(job.id) == 24 and store.get(job.id).spec == SPEC
    for name in ("../etc", "..", job.id[:-1], job.id + "/..", ".workers"):
        assert store.get(name) is None
    with pytest.raises(KeyError):
        store.folder("../../x")


def test_a_job_is_held_by_one_claim_and_freed_when_its_holder_dies(tmp_path):
    store = JobStore(tmp_path)
    job = store.create(SPEC, "owner")
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from noisesearch.serve.jobs import JobStore
claim = JobStore({str(tmp_path)!r}).claim({job.id!r})
print("held" if claim else "not", flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert store.claim(job.id) is None
    finally:
        holder.kill()
        holder.wait()
    claim = store.claim(job.id)
    assert claim is not None
    claim.release()


def test_events_are_read_in_whole_lines_from_an_offset(tmp_path):
    store = JobStore(tmp_path)
    job = store.create(SPEC, "owner")
    store.add_event(job.id, {"type": "progress", "nfe": 1})
    with open(store.folder(job.id) / "events.jsonl", "a") as file:
        file.write('{"type": "res')  # a writer halfway through a line
    events, offset = store.events(job.id)
    assert [event for _, event in events] == [{"type": "progress", "nfe": 1}] and events[0][0] == offset
    assert store.events(job.id, offset) == ([], offset)
    with open(store.folder(job.id) / "events.jsonl", "a") as file:
        file.write('ult"}\n')
    assert [event for _, event in store.events(job.id, offset)[0]] == [{"type": "result"}]


def test_a_queued_job_is_cancelled_at_once_and_a_held_one_by_its_marker(tmp_path):
    store = JobStore(tmp_path)
    queued, held = store.create(SPEC, "owner"), store.create(SPEC, "owner")
    assert cancel_job(store, queued).state == "cancelled"
    assert json.loads((store.folder(queued.id) / "events.jsonl").read_text())["type"] == "cancelled"
    claim = store.claim(held.id)
    assert cancel_job(store, held).state == "queued" and store.cancel_asked(held.id)
    claim.release()
    assert [job.id for job in store.jobs(states=("queued",))] == [held.id]


def test_a_full_queue_answers_429_with_retry_after(tmp_path):
    from noisesearch.run.settings import build
    from noisesearch.serve.app import Context, create
    from noisesearch.serve.keys import Keys
    from noisesearch.serve.requests import Limits, RequestError, Requests

    defaults = {"pipeline": "digits"}
    context = Context(JobStore(tmp_path), Requests(build(**defaults), defaults, Limits()), Keys([]), max_queued=2)
    create(context, SPEC, "a")
    create(context, SPEC, "b")
    with pytest.raises(RequestError) as full:
        create(context, SPEC, "c")
    assert full.value.status == 429 and full.value.retry_after == context.retry_after_s
    assert "2 jobs queued or running" in str(full.value)
    assert len(context.store.jobs()) == 2


def test_keys_name_owners_and_refuse_the_rest():
    from noisesearch.serve.keys import Keys

    keys = Keys(["k1", "k2"])
    assert keys.owner("Bearer k1") != keys.owner("Bearer k2") and keys.owner("bearer k1") == keys.owner("Bearer k1")
    assert "k1" not in keys.owner("Bearer k1")
    for header in (None, "", "Bearer", "Bearer k3", "Basic k1", "k1"):
        assert keys.owner(header) is None
    assert Keys([], open_to_all=True).owner(None) == "local" and Keys([]).owner(None) is None
