"""``model.guard``: a held-out verifier that never drives the search, scores every finished candidate, and limits the
final choice to the candidates it ranks in its top ``guard_keep``."""

import pytest

import noisesearch
from noisesearch.errors import UsageError
from noisesearch.run.settings import build
from noisesearch.store.journal import read_run
from noisesearch.store.records import BASELINE

DRIVE = ["self-supervised:digits-classifier"]


def searched(tmp_path, name, algorithm="zero-order", **guard):
    out = tmp_path / name
    results = noisesearch.search(classes=[3, 7], pipeline="digits", algorithm=algorithm, budget_nfe=7 * 16,
                                 verifiers=DRIVE, out=str(out), **guard)
    candidates, _ = read_run(out / "journal")
    return results, candidates


def test_the_guard_limits_the_choice_to_its_top_share_and_never_drives(tmp_path):
    plain, plain_candidates = searched(tmp_path, "plain")
    guarded, candidates = searched(tmp_path, "guarded", guard="digits-classifier", guard_keep=0.25)
    # zero-order moves by what it is told: the same noises and driving scores, so the guard told it nothing
    assert {k: r.scores["self-supervised"] for k, r in plain_candidates.items()} == \
        {k: r.scores["self-supervised"] for k, r in candidates.items()}
    for result in guarded:
        finished = [r for k, r in candidates.items() if k[0] == result.task.condition.key and r.level == 0
                    and r.id != BASELINE]
        assert all("digits-classifier" in r.scores for r in finished)
        ranked = sorted(finished, key=lambda r: (-r.scores["digits-classifier"], r.id))
        kept = ranked[:max(1, -(-len(finished) // 4))]
        best = max(kept, key=lambda r: (r.scores["self-supervised"], -r.id))
        assert result.candidate == best.id and result.scores["digits-classifier"] == best.scores["digits-classifier"]
    assert any(g.candidate != p.candidate for g, p in zip(guarded, plain))  # the guard changed a choice


def test_keeping_every_candidate_is_choosing_without_a_guard(tmp_path):
    plain, _ = searched(tmp_path, "plain", "random")
    kept_all, _ = searched(tmp_path, "all", "random", guard="digits-classifier", guard_keep=1.0)
    assert [r.candidate for r in plain] == [r.candidate for r in kept_all]


@pytest.mark.parametrize("settings,message", [
    ({"verifiers": ["digits-classifier"], "guard": "digits-classifier"}, "already drives the search"),
    ({"guard": "self-supervised:digits-classifier"}, "needs x0-previews or noisy latents"),
    ({"guard": "digits-classifier", "guard_keep": 0}, "model.guard_keep=0"),
    ({"guard": "no-such-verifier"}, "no-such-verifier"),
])
def test_a_guard_that_cannot_guard_is_refused_before_loading(settings, message):
    with pytest.raises(UsageError, match=message):
        build(**{"pipeline": "digits", "verifiers": DRIVE, **settings})


def test_the_server_refuses_a_guard_it_would_not_apply(in_process):
    done = in_process("serve", "--config", "configs/serve/digits.yaml", "--model.verifiers",
                      '["self-supervised:digits-classifier"]', "--model.guard", "digits-classifier")
    assert done.returncode == 2 and "model.guard is not served" in done.stderr and "Traceback" not in done.stderr
