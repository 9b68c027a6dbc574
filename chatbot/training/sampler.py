"""Batches in which no two pairs come from the same FAQ entry.

MultipleNegativesRankingLoss treats every other pair of a batch as a negative: two phrasings of
one entry in a batch would be pushed apart as if they answered different questions. With 100
phrasings an entry (CLINC) and a batch of 16 that would happen in most batches. Imported only
when a training starts (it needs torch and sentence-transformers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

LABEL = "label"  # the dataset column with each pair's entry (a collator label: never embedded)
MIN_BATCH = 2  # one pair alone has no negatives


class OneEntryPerBatchSampler(DefaultBatchSampler):
    """Each batch takes one pair from each of the entries with the most pairs left (ties in
    random order), so entries run out together and batches stay full. The number of batches
    depends only on how many pairs each entry has, so `len` is exact."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        groups: dict[Any, list[int]] = defaultdict(list)
        for index, label in enumerate(dataset[LABEL]):
            groups[label].append(index)
        self.groups = list(groups.values())
        self._length = sum(1 for _ in self._plan([len(g) for g in self.groups], None))

    def _plan(self, counts: list[int], generator: torch.Generator | None) -> Iterator[list[int]]:
        """Which groups each batch draws from."""
        counts = list(counts)
        while True:
            order = (
                torch.randperm(len(counts), generator=generator).tolist()
                if generator is not None
                else list(range(len(counts)))
            )
            live = sorted((g for g in order if counts[g]), key=lambda g: -counts[g])
            chosen = live[: self.batch_size]
            if len(chosen) < MIN_BATCH:
                return
            for g in chosen:
                counts[g] -= 1
            yield chosen

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[list[int]]:
        generator = self.generator or torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        queues = [
            [group[i] for i in torch.randperm(len(group), generator=generator).tolist()]
            for group in self.groups
        ]
        for chosen in self._plan([len(q) for q in queues], generator):
            yield [queues[g].pop() for g in chosen]
