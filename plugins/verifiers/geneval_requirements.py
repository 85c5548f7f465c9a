"""What a GenEval prompt asks for (Ghosh et al. 2023): objects with counts, colours and relative positions.

Requirements come from GenEval's metadata (one JSON object per line: ``tag``, ``include``, ``exclude``, ``prompt``)
or are parsed from prompts in GenEval's forms ("a photo of two dogs", "a photo of a red car and a blue bench",
"a photo of a cup left of a bench"; the "a photo of" is optional).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from noisesearch.plugin import UsageError

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
RELATIONS = ("left of", "right of", "above", "below")
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
           "ten": 10}
IRREGULAR = {"people": "person", "buses": "bus", "glasses": "glass", "mice": "mouse", "knives": "knife", "sheep": "sheep", "skis": "skis",
             "scissors": "scissors", "geese": "goose", "children": "child", "teeth": "tooth", "feet": "foot",
             "men": "man", "women": "woman", "leaves": "leaf", "wolves": "wolf", "shelves": "shelf"}


@dataclass(frozen=True)
class Want:
    """One ``include`` clause: at least ``count`` objects of ``name``, of ``color``, ``relation`` the ``target``-th
    clause's objects; as an ``exclude`` clause, fewer than ``count`` objects of ``name``."""

    name: str
    count: int = 1
    color: Optional[str] = None
    relation: Optional[str] = None
    target: Optional[int] = None


@dataclass(frozen=True)
class Requirements:
    """A prompt's GenEval requirements: its category (tag), what must be there and what must not."""

    tag: str
    include: tuple[Want, ...]
    exclude: tuple[Want, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The object names a detector must look for."""
        return tuple(dict.fromkeys(want.name for want in self.include + self.exclude))


def singular(noun: str) -> str:
    """The singular of an English plural noun (GenEval's object names are singular)."""
    head, _, last = noun.rpartition(" ")
    if last in IRREGULAR:
        word = IRREGULAR[last]
    elif last.endswith("ies") and len(last) > 4:
        word = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "sses", "xes", "zes")):
        word = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        word = last[:-1]
    else:
        word = last
    return f"{head} {word}" if head else word


_COLOR = "|".join(COLORS)
_OBJECT = re.compile(rf"^(?:(?P<article>an?|the)|(?P<number>{'|'.join(NUMBERS)}|\d+))\s+"
                     rf"(?:(?P<color>{_COLOR})(?:-colou?red)?\s+)?(?P<noun>[a-z][a-z ]*?)$")


def _object(phrase: str) -> Want:
    match = _OBJECT.match(phrase.strip())
    if match is None:
        raise ValueError(f"{phrase.strip()!r} is not 'a/an [colour] object' or 'NUMBER [colour] objects'")
    number = match["number"]
    count = 1 if number is None else (NUMBERS[number] if number in NUMBERS else int(number))
    noun = match["noun"].strip()
    return Want(singular(noun) if count > 1 else noun, count, match["color"])


def parse_prompt(prompt: str) -> Requirements:
    """The requirements of a prompt in one of GenEval's forms; ValueError when it is in none."""
    text = re.sub(r"\s+", " ", prompt.strip().lower().rstrip("."))
    text = re.sub(r"^(?:a photo of|an image of|a picture of) ", "", text)
    for relation in RELATIONS:
        left, sep, right = text.partition(f" {relation} ")
        if sep:
            subject, target = _object(left), _object(right)
            return Requirements("position", (target, Want(subject.name, subject.count, subject.color, relation, 0)))
    parts = text.split(" and ")
    if len(parts) > 2:
        raise ValueError("GenEval prompts name one or two kinds of object")
    wants = tuple(_object(part) for part in parts)
    if len(wants) == 2:
        return Requirements("color_attr" if any(w.color for w in wants) else "two_object", wants)
    (want,) = wants
    if want.count > 1:
        return Requirements("counting", wants, (Want(want.name, want.count + 1, want.color),))
    return Requirements("colors" if want.color else "single_object", wants)


def _want(clause: object, where: str, index: int, include: bool) -> Want:
    if not isinstance(clause, dict) or not isinstance(clause.get("class"), str):
        raise ValueError(f"{where} clause {index} needs a 'class' name")
    count = clause.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"{where} clause {index}: count must be a positive integer, got {count!r}")
    color = clause.get("color")
    if color is not None and color not in COLORS:
        raise ValueError(f"{where} clause {index}: colour {color!r} is not one of {', '.join(COLORS)}")
    relation = target = None
    if "position" in clause:
        position = clause["position"]
        if not include or not (isinstance(position, list) and len(position) == 2 and position[0] in RELATIONS
                               and isinstance(position[1], int) and 0 <= position[1] < index):
            raise ValueError(f"{where} clause {index}: position must be [RELATION, EARLIER_CLAUSE] with RELATION one "
                             f"of {', '.join(RELATIONS)}")
        relation, target = position
    return Want(clause["class"], count, color, relation, target)


def from_metadata(entry: dict) -> Requirements:
    """Requirements of one GenEval metadata object; ValueError naming what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("expected a JSON object with tag, include and prompt")
    tag = entry.get("tag")
    if tag not in TAGS:
        raise ValueError(f"tag {tag!r} is not one of {', '.join(TAGS)}")
    include, exclude = entry.get("include"), entry.get("exclude", [])
    if not isinstance(include, list) or not include or not isinstance(exclude, list):
        raise ValueError("'include' must be a non-empty list and 'exclude' a list")
    if not isinstance(entry.get("prompt"), str):
        raise ValueError("'prompt' must be the prompt's text")
    return Requirements(tag, tuple(_want(c, "include", i, True) for i, c in enumerate(include)),
                        tuple(_want(c, "exclude", i, False) for i, c in enumerate(exclude)))


def read_metadata(path: str) -> dict[str, Requirements]:
    """Prompt -> requirements of a GenEval metadata file (JSONL); a line that does not parse is a UsageError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"GenEval metadata file {path!r} does not exist; give a JSONL file with one "
                         '{"tag", "include", "prompt"} object per line')
    table = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            table[entry["prompt"] if isinstance(entry, dict) and "prompt" in entry else None] = from_metadata(entry)
        except (ValueError, TypeError) as error:
            raise UsageError(f"{path}:{number}: {str(error).splitlines()[0]}; see GenEval's evaluation_metadata.jsonl "
                             "for the format") from None
    return table
