"""The conditions DataModule: classes or prompts, times ``per_condition`` repeats, as searches to run."""

from __future__ import annotations

from typing import Optional

import lightning as L
from jsonargparse.typing import PositiveInt
from torch.utils.data import DataLoader

from ..conditions import Condition
from ..errors import UsageError
from ..engine import Task
from ..pipeline import Family
from ..run.tasks import conditions_of


class ConditionsDataModule(L.LightningDataModule):
    """Turns ``classes`` ("3", "0,4,7", "0-9"), ``prompts`` or a ``prompts_file`` into searches.

    Args:
        classes: class labels for a class-conditional pipeline; by default all of its classes.
        prompts: prompts for a text-conditional pipeline.
        prompts_file: a text file with one prompt per line (blank lines and lines starting with # skipped).
        per_condition: independent searches per condition (each with its own noises).
        batch_size: searches per ``predict_step``; their candidates share the model's batches.
    """

    def __init__(
        self,
        classes: Optional[str] = None,
        prompts: Optional[list[str]] = None,
        prompts_file: Optional[str] = None,
        per_condition: PositiveInt = 1,
        batch_size: PositiveInt = 10,
    ):
        super().__init__()
        self.per_condition = per_condition
        self.batch_size = batch_size
        self.conditions: Optional[list[Condition]] = conditions_of(classes, prompts, prompts_file)
        self.tasks: list[Task] = []

    def resolve(self, family: Family) -> list[Task]:
        """The searches to run, checked against the pipeline family (before any weights load)."""
        if self.conditions is None:
            if family.condition_kind != "class":
                raise UsageError(f"pipeline {family.name!r} needs prompts: set data.prompts or data.prompts_file")
            if family.num_classes is None:
                raise UsageError(f"pipeline {family.name!r} does not say how many classes it has: set data.classes")
            self.conditions = [Condition(class_label=label) for label in range(family.num_classes)]
        family.check_conditions(self.conditions)
        self.tasks = [
            Task(i * self.per_condition + repeat, condition, repeat)
            for i, condition in enumerate(self.conditions)
            for repeat in range(self.per_condition)
        ]
        return self.tasks

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # tasks carry no tensors; each candidate's noise is built where the model runs

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.tasks, batch_size=self.batch_size, shuffle=False, collate_fn=TaskBatch)


class TaskBatch:
    """A batch of tasks, opaque to Lightning's input conversion (a precision plugin must not rebuild the tasks)."""

    def __init__(self, tasks):
        self.tasks = list(tasks)

    def __iter__(self):
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)
