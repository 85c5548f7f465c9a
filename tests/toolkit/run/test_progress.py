"""Progress moves by NFEs done after every batch of candidates, not once per batch of searches, and says how long is
left; off a terminal it prints plain lines."""

import io

from noisesearch.conditions import Condition
from noisesearch.engine import Task
from noisesearch.run.models import Models
from noisesearch.run.progress import Progress, RoundReport
from noisesearch.run.session import RunSession
from noisesearch.run.settings import build


def test_one_search_reports_every_batch_of_its_candidates():
    settings = build(pipeline="toy-class", algorithm="random", verifiers=["toy-closeness"], budget_nfe=7 * 12, steps=4,
                     batch_size=3)
    models = Models(settings)
    models.prepare(models.device)
    session = RunSession(settings)
    session.check_folder()
    session.open()
    session.begin(models)
    reports = []
    session.watch(reports.append, best=True)
    (result,) = session.run([Task(0, Condition(class_label=1), 0)])
    done = [report.done for report in reports]
    assert len(reports) >= 12 // 3  # one round of 12 candidates, reported batch by batch
    assert done == sorted(done) and 0 < done[0] < result.nfe and done[-1] == result.nfe
    assert reports[-1].finished == 1 and reports[-1].candidates == 12 and reports[-1].best is not None


def test_plain_lines_off_a_terminal_with_an_eta():
    stream = io.StringIO()
    progress = Progress(searches=2, budget_nfe=100, stream=stream, interval=0.0)
    progress.round(RoundReport(done=50, finished=0, candidates=5, computed=50, seconds=2.0))
    progress.round(RoundReport(done=200, finished=2, candidates=20, computed=200, seconds=8.0))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "noisesearch: 50/200 NFEs (25%), searches 0/2, 2.5 candidates/s, about 6 s left"
    assert lines[-1].startswith("noisesearch: 200/200 NFEs (100%), searches 2/2") and len(lines) == 2
