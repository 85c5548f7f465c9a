"""The shapes world's scenes and captions: rendering, grammar, ground truth, and the evaluator's reader."""

import random

import numpy as np
import pytest

from noisesearch_plugins.shapes.captions import (CATEGORIES, HELD_OUT, Caption, Want, parse, sample_caption,
                                                 satisfied, scene_for)
from noisesearch_plugins.shapes.scenes import BACKGROUND, COLOURS, SHAPES, Scene, Thing, overlaps, render


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_renders_its_colour_at_its_centre_on_the_background(shape):
    image = render(Scene((Thing(shape, "blue", "large", 0.5, 0.5),)))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert tuple(image[16, 16]) == COLOURS["blue"]
    assert tuple(image[1, 1]) == BACKGROUND


def test_shapes_differ_where_they_should():
    renders = {shape: render(Scene((Thing(shape, "red", "large", 0.5, 0.5),))) for shape in SHAPES}
    corner = {shape: tuple(image[10, 10]) for shape, image in renders.items()}  # inside a square, outside the others
    assert corner["square"] == COLOURS["red"] and corner["circle"] != COLOURS["red"]
    assert corner["cross"] == BACKGROUND and corner["triangle"] == BACKGROUND


@pytest.mark.parametrize("category", CATEGORIES)
def test_scenes_made_for_a_caption_satisfy_it_and_parse_back(category):
    rng = random.Random(0)
    for _ in range(50):
        caption = sample_caption(category, rng)
        assert parse(caption.text) == caption
        scene = scene_for(caption, rng, distractors=rng.randint(0, 2))
        assert satisfied(scene, caption), (caption, scene)
        assert not any(overlaps(a, b) for i, a in enumerate(scene.things) for b in scene.things[i + 1:])


def test_ground_truth_rejects_what_the_caption_denies():
    circle_left = Thing("circle", "red", "small", 0.2, 0.5)
    square_right = Thing("square", "blue", "small", 0.8, 0.5)
    scene = Scene((circle_left, square_right))
    assert satisfied(scene, parse("a circle left of a square"))
    assert not satisfied(scene, parse("a circle right of a square"))
    assert not satisfied(scene, parse("a circle above a square"))  # same height: no vertical relation
    assert satisfied(scene, parse("a red circle and a blue square"))
    assert not satisfied(scene, parse("a blue circle and a red square"))  # attribute binding swapped
    assert not satisfied(scene, parse("two circles"))
    assert not satisfied(Scene((circle_left, Thing("circle", "red", "small", 0.5, 0.2),
                                Thing("circle", "red", "small", 0.8, 0.8))), parse("two circles"))  # exactly two


def test_training_captions_never_show_held_out_pairs_and_held_out_ones_only_show_them():
    rng = random.Random(1)
    for category in ("colours", "colour_attribution"):
        for _ in range(100):
            seen = sample_caption(category, rng)
            assert all((w.colour, w.shape) not in HELD_OUT for w in seen.wants)
            probe = sample_caption(category, rng, held_out=True)
            assert all((w.colour, w.shape) in HELD_OUT for w in probe.wants)
            scene = scene_for(seen, rng, distractors=2)
            assert all((t.colour, t.shape) not in HELD_OUT for t in scene.things)


def test_text_outside_the_grammar_is_refused():
    for text in ("a dog", "five circles", "a circle near a square", "two red circles and"):
        with pytest.raises(ValueError, match="outside the shapes grammar"):
            parse(text)
    assert parse("a triangle") == Caption("a triangle", "single_object", (Want("triangle"),))


def test_the_shipped_reader_reads_noisy_renders_of_held_out_scenes_as_the_ground_truth_does():
    """The evaluator's validation: agreement of satisfied(read scene) with satisfied(true scene), on fresh noisy
    renders of scenes made for held-out captions (and on other captions of the same category, mostly false)."""
    from noisesearch_plugins.shapes.evaluation import validate
    from noisesearch_plugins.shapes.reader import Reader

    agreement = validate(Reader(), seed=11, per_category=30)
    assert agreement["overall"] >= 0.95 and min(agreement.values()) >= 0.85


def test_the_reader_finds_nothing_in_an_empty_image():
    from noisesearch_plugins.shapes.reader import Reader

    assert Reader().read(render(Scene(()))).things == ()
