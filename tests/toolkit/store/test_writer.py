"""The journal's background writer: batches written in order on one thread, at most ``depth`` behind, errors
raised in the caller, and a run written in the background journals exactly what an inline one does."""

import json
import threading

import pytest

import noisesearch
from noisesearch.store.writer import JournalWriter


def test_batches_are_written_in_order_and_flush_waits_for_them(tmp_path):
    written = []
    writer = JournalWriter(depth=2)
    for i in range(6):
        writer.submit(lambda i=i: written.append(i) or 1)
    writer.flush()
    assert written == list(range(6)) and writer.durable == 6
    writer.close()
    assert not writer.thread.is_alive()


def test_submit_waits_while_depth_batches_are_queued():
    release, submitted = threading.Event(), threading.Event()
    writer = JournalWriter(depth=1)
    writer.submit(lambda: release.wait() and 0)  # taken by the thread, held there
    writer.submit(lambda: 0)  # fills the queue

    def third():
        writer.submit(lambda: 0)
        submitted.set()

    threading.Thread(target=third, daemon=True).start()
    assert not submitted.wait(0.3), "a third batch was queued beside a full queue"
    release.set()
    assert submitted.wait(10)
    writer.close()


def test_an_error_on_the_writer_is_raised_in_the_caller_and_nothing_after_it_is_written():
    written = []
    writer = JournalWriter(depth=4)

    def full_disk():
        raise OSError(28, "No space left on device")

    writer.submit(full_disk)
    writer.submit(lambda: written.append("after") or 1)
    with pytest.raises(OSError, match="No space left"):
        writer.flush()
    assert written == [] and writer.durable == 0
    writer.close()


def journal_of(out):
    lines = [json.loads(line) for line in (out / "journal" / "rank0.jsonl").read_text().splitlines()]
    for line in lines:
        line.get("record", {}).pop("seconds", None)  # wall-clock time: the one field that may differ
    return lines


def test_a_run_written_in_the_background_journals_what_an_inline_one_does(tmp_path):
    for background in (True, False):
        noisesearch.search(classes=[3, 7], algorithm="zero-order", algorithm_args={"n": 2}, budget_nfe=66,
                           batch_size=3, out=tmp_path / str(background), background_writes=background)
    assert journal_of(tmp_path / "True") == journal_of(tmp_path / "False")
    assert sorted(p.name for p in (tmp_path / "True" / "journal" / "artifacts" / "rank0").iterdir()) == \
        sorted(p.name for p in (tmp_path / "False" / "journal" / "artifacts" / "rank0").iterdir())
