"""``noisesearch distill`` and ``early:DIR``: trajectories, a Lightning fit that learns, taus per level held out,
and an early verifier that scores stopped candidates undecoded and finished ones by its teacher."""

import json

import pytest
import torch

import noisesearch
from noisesearch.distill.training import fit, taus
from noisesearch.distill.trajectories import Trajectories
from noisesearch.errors import UsageError
from noisesearch.student import LatentScorer, load_student

PROMPTS = ["a red circle", "two blue squares", "a green triangle", "a cross"]


def synthetic(groups: int, per_group: int, seed: int = 0) -> Trajectories:
    """Trajectories whose x0-predictions approach the final sample level by level; the score is its mean."""
    generator = torch.Generator().manual_seed(seed)
    n = groups * per_group
    final_sample = torch.randn(n, 3, 8, 8, generator=generator)
    spread = torch.tensor([2.0, 0.5, 0.0])
    x0 = final_sample[:, None] + spread[None, :, None, None, None] * torch.randn(n, 3, 3, 8, 8, generator=generator)
    x = x0 + torch.tensor([5.0, 1.0, 0.1])[None, :, None, None, None] * torch.randn(n, 3, 3, 8, 8, generator=generator)
    return Trajectories(x=x, x0=x0, sigmas=torch.tensor([5.0, 1.0, 0.1]), cond=torch.randn(n, 4, generator=generator),
                        final=final_sample.mean(dim=(1, 2, 3)), previews=x0.mean(dim=(2, 3, 4)),
                        group=torch.arange(groups).repeat_interleave(per_group))


def test_taus_worked_by_hand():
    held = synthetic(2, 4)
    held.previews[:, 0] = -held.final  # reversed at the first level, the final order at the last
    held.previews[:, 2] = held.final
    measured = taus(None, held)["preview"]
    assert measured[0] == pytest.approx(-1.0) and measured[2] == pytest.approx(1.0)


def test_the_fit_learns_a_score_the_latent_shows():
    train, held = synthetic(16, 8, seed=1), synthetic(4, 8, seed=2)
    network = LatentScorer(channels=3, condition=4, width=8, depth=2)
    before = taus(network.eval(), held)["early"][-1]
    fit(network, train, epochs=30, batch=32, lr=1e-2, seed=0, accelerator="cpu")
    after = taus(network, held)["early"][-1]
    assert after >= 0.6 and after > (before or 0.0) + 0.3, (before, after)


SEEN = {}  # what distill's fit and taus were handed, per fixture: (group, slot) of every row


def spied(name):
    """Wrap ``noisesearch.distill.command.fit`` and ``taus`` to record the rows each is handed."""
    import noisesearch.distill.command as command

    real_fit, real_taus = command.fit, command.taus

    def fit(network, train, *args, **kwargs):
        SEEN.setdefault(name, {})["fit"] = set(zip(train.group.tolist(), train.slot.tolist()))
        return real_fit(network, train, *args, **kwargs)

    def taus(network, held):
        SEEN.setdefault(name, {})["taus"] = set(zip(held.group.tolist(), held.slot.tolist()))
        return real_taus(network, held)

    return fit, taus


@pytest.fixture(scope="module")
def early(tmp_path_factory):
    root = tmp_path_factory.mktemp("early")
    prompts = root / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    from noisesearch.cli import main

    fit, taus = spied("prompts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("noisesearch.distill.command.fit", fit)
        patch.setattr("noisesearch.distill.command.taus", taus)
        assert main(["distill", "--pipeline", "shapes", "--prompts_file", str(prompts), "--per_condition", "4",
                     "--epochs", "1", "--width", "8", "--depth", "2", "--out", str(root / "early")]) == 0
    return root / "early"


def test_held_out_conditions_never_reach_training(early):
    seen = SEEN["prompts"]
    held_groups = {group for group, _ in seen["taus"]}
    assert seen["fit"] and seen["taus"] and len(seen["fit"]) + len(seen["taus"]) == len(PROMPTS) * 4
    assert not held_groups & {group for group, _ in seen["fit"]}
    _, card = load_student(str(early))
    assert len(held_groups) == len(card["trajectories"]["held_out"]) == 1


def test_a_lower_is_better_teacher_is_negated_on_finished_samples(early, tmp_path):
    import shutil

    from noisesearch_plugins.verifiers.early import EarlyVerifier

    lower = tmp_path / "lower"
    shutil.copytree(early, lower)
    card = json.loads((lower / "card.json").read_text())
    (lower / "card.json").write_text(json.dumps({**card, "higher_is_better": False}))
    images = torch.rand(3, 3, 32, 32)
    conditions = [noisesearch.Condition(prompt=p) for p in PROMPTS[:3]]
    kept, negated = EarlyVerifier(str(early)), EarlyVerifier(str(lower))
    raw = kept.teacher.score(images, conditions)
    assert torch.allclose(kept.score(images, conditions), raw) and raw.abs().sum() > 0
    assert torch.allclose(negated.score(images, conditions), -raw)


def test_an_early_verifier_refuses_a_search_at_levels_it_never_saw(early):
    with pytest.raises(UsageError, match="distilled at steps 8.*differs in steps"):
        noisesearch.search(prompts=["a cross"], verifiers=[f"early:{early}"], steps=4, algorithm="halving",
                           budget_nfe=60)
    with pytest.raises(UsageError, match="differs in sampler"):
        noisesearch.search(prompts=["a cross"], verifiers=[f"early:{early}"], sampler="euler",
                           algorithm="halving", budget_nfe=90)


def test_distill_writes_a_card_with_taus_per_level(early):
    network, card = load_student(str(early))
    assert card["teacher"] == "shapes-clip" and card["pipeline"] == "shapes" and card["run"]["steps"] == 8
    assert len(card["sigmas"]) == len(card["tau_early"]) == len(card["tau_preview"]) == 8
    assert card["tau_preview"][-1] is not None and card["tau_preview"][-1] > 0.5  # the last preview is the image
    assert len(card["trajectories"]["held_out"]) == 1 and json.loads((early / "card.json").read_text()) == card
    assert isinstance(network, LatentScorer)


def test_an_early_verifier_scores_stopped_candidates_undecoded_and_finished_ones_by_its_teacher(early, tmp_path):
    from noisesearch.lightning.module import SearchModule

    module = SearchModule(pipeline="shapes", algorithm="halving", algorithm_args={"n": 4},
                          verifiers=[f"early:{early}"], budget_nfe=90)
    module.models.load()
    pipeline = module.pipeline
    decoded = []
    original = pipeline.decode
    pipeline.decode = lambda x0: decoded.append(len(x0)) or original(x0)
    results = noisesearch.search(prompts=PROMPTS[:2], module=module, out=tmp_path / "run")
    from noisesearch.store.journal import read_run

    candidates, _ = read_run(tmp_path / "run" / "journal")
    finished = sum(record.stop == 0 for record in candidates.values())
    assert sum(record.stop > 0 for record in candidates.values()) > 0
    assert sum(decoded) == finished  # stopped candidates were scored from their latents, never decoded
    teacher = module.models.verifiers[0].teacher
    for result in results:
        again = teacher.score(result.image[None], [result.task.condition])
        assert result.scores["early"] == pytest.approx(float(again), abs=1e-4)


def test_early_verifiers_are_refused_where_they_cannot_apply(early, in_process, tmp_path):
    with pytest.raises(UsageError, match="early:DIR"):
        noisesearch.search(classes=[3], verifiers=["early"], budget_nfe=44)
    with pytest.raises(UsageError, match="reads latents of pipeline 'shapes', not 'digits'"):
        noisesearch.search(classes=[3], verifiers=[f"early:{early}"], budget_nfe=44)
    with pytest.raises(UsageError, match="no early verifier folder"):
        noisesearch.search(prompts=["a cross"], verifiers=[f"early:{tmp_path}"], budget_nfe=60)
    one = tmp_path / "one.txt"
    one.write_text("a cross\n")
    done = in_process("distill", "--pipeline", "shapes", "--prompts_file", str(one), "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "two or more conditions" in done.stderr and "Traceback" not in done.stderr


def test_seeds_held_out_leave_every_condition_in_training_and_in_the_card_and_the_seed_decides_the_weights(tmp_path, in_process):
    from noisesearch.cli import main
    from noisesearch.distill.command import seeds_kept_out, unseen_seeds

    rows = synthetic(3, 5)
    rows.slot = torch.arange(5).repeat(3)
    held = unseen_seeds(rows, per_condition=5, kept=seeds_kept_out(5, 0.3))
    assert held.sum() == 6 and set(rows.group[held].tolist()) == set(rows.group[~held].tolist()) == {0, 1, 2}
    assert set(rows.slot[held].tolist()) == {3, 4}
    arguments = ["distill", "--pipeline", "digits", "--classes", "0-2", "--per_condition", "6",
                 "--held_out_trajectories", "0.5", "--epochs", "1", "--width", "8", "--depth", "2"]
    fit, taus = spied("seeds")
    for name in ("early-digits", "again"):
        torch.manual_seed(len(name))  # whatever ran before, the seed alone decides the weights
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("noisesearch.distill.command.fit", fit)
            patch.setattr("noisesearch.distill.command.taus", taus)
            assert main([*arguments, "--out", str(tmp_path / name)]) == 0
    assert {slot for _, slot in SEEN["seeds"]["fit"]} == {0, 1, 2}  # the held-out seeds 3-5 never reach fit
    assert {slot for _, slot in SEEN["seeds"]["taus"]} == {3, 4, 5} and len(SEEN["seeds"]["fit"]) == 9
    _, card = load_student(str(tmp_path / "early-digits"))
    assert card["trajectories"]["held_out_per_condition"] == 3 and len(card["trajectories"]["held_out"]) == 3
    assert card["tau_preview"][-1] is not None and card["tau_preview"][-1] > 0.5
    weights = [(tmp_path / name / "model.safetensors").read_bytes() for name in ("early-digits", "again")]
    assert weights[0] == weights[1]
    done = in_process("distill", "--pipeline", "digits", "--classes", "0-2", "--per_condition", "2",
                   "--held_out_trajectories", "0.5", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "keep out two or more" in done.stderr and "Traceback" not in done.stderr
