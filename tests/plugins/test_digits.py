"""The embedded digits world: weights load through diffusers from a folder, classifiers are accurate, search helps."""

import shutil

import pytest
import torch

from noisesearch.api import search
from noisesearch.conditions import Condition
from noisesearch.lightning.module import SearchModule
from noisesearch.resolve import resolve_pipeline
from noisesearch.testing.verifiers import VerifierSuite
from noisesearch_plugins.digits.data import load_split
from noisesearch_plugins.digits.pipeline import WEIGHTS, DigitsFamily, DigitsPipeline
from noisesearch_plugins.digits.training import heldout_accuracy
from noisesearch_plugins.digits.evaluation import DigitsEvaluator
from noisesearch_plugins.digits.verifier import DigitsClassifier


def test_split_is_fixed_and_disjoint():
    train, heldout = load_split("train"), load_split("heldout")
    assert len(train[0]) == 1300 and len(heldout[0]) == 497
    assert train[0].shape[1:] == (1, 16, 16) and train[0].min() >= -1 and train[0].max() <= 1
    assert torch.equal(load_split("train")[1], train[1])


def test_shipped_weights_are_small_safetensors():
    files = [p for p in WEIGHTS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    assert not [p for p in files if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]


@pytest.mark.parametrize("net", ["classifier", "evaluator"])
def test_classifiers_are_accurate_on_heldout(net):
    model = DigitsClassifier().net if net == "classifier" else DigitsEvaluator().net
    assert heldout_accuracy(model) > 0.95


def test_a_copied_folder_is_recognised_and_loaded(tmp_path):
    folder = tmp_path / "my-digits"
    shutil.copytree(WEIGHTS, folder)
    family, source = resolve_pipeline(str(folder))
    assert isinstance(family, DigitsFamily) and source == str(folder)
    loaded = family.load(source)
    assert isinstance(loaded, DigitsPipeline) and loaded.family is family and loaded.folder == folder
    assert isinstance(loaded.unet, torch.nn.Module)


class TestDigitsClassifierConforms(VerifierSuite):
    """The shipped suite, subclassed as a plugin author would, on held-out digits."""

    def make_verifier(self):
        return DigitsClassifier()

    def conditions(self, verifier):
        return [Condition(class_label=int(label)) for label in load_split("heldout")[1][:6]]

    def images(self, verifier, count):
        return (load_split("heldout")[0][:count] + 1) / 2


def test_the_classifier_reads_held_out_digits_as_their_class():
    images, labels = load_split("heldout")
    conditions = [Condition(class_label=int(label)) for label in labels[:6]]
    scores = DigitsClassifier().score((images[:6] + 1) / 2, conditions)
    assert (scores > 0.5).all()


def test_random_search_beats_no_search_under_the_evaluator():
    evaluator = DigitsEvaluator()

    def accuracy(algorithm):
        results = search(classes=list(range(10)), per_condition=4, seed=11,
                         module=SearchModule(algorithm=algorithm, batch_size=160))
        images = torch.stack([r.image for r in results])
        labels = torch.tensor([r.task.condition.class_label for r in results])
        return evaluator.accuracy(images, labels)

    plain, searched = accuracy("none"), accuracy("random")
    assert searched > plain + 0.05, (plain, searched)
