"""How the local embedder cuts sorted inputs into batches: by count and by padded tokens."""

from __future__ import annotations

import pytest

from ingest.embedders.sentence_transformers import token_sorted_batches

pytestmark = pytest.mark.unit


def test_a_batch_ends_when_one_more_input_would_pass_the_token_budget() -> None:
    # Longest first: 50, 50 fill 100 tokens exactly; 30 would make it 150, so it opens a batch
    # that then takes 10 and 5 (3 x 30 = 90) until the count bound of 3.
    assert token_sorted_batches([10, 50, 30, 50, 5], 3, 100) == [[1, 3], [2, 0, 4]]


def test_without_a_budget_only_the_count_bounds_a_batch() -> None:
    assert token_sorted_batches([10, 50, 30, 50, 5], 2, None) == [[1, 3], [2, 0], [4]]


def test_an_input_longer_than_the_budget_still_gets_a_batch_of_its_own() -> None:
    assert token_sorted_batches([300, 20, 20], 8, 100) == [[0], [1, 2]]


def test_equal_lengths_keep_their_input_order_and_nothing_is_lost() -> None:
    lengths = [7] * 9 + [3] * 5
    batches = token_sorted_batches(lengths, 4, 21)  # 3 inputs of 7 tokens reach the budget
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11, 12], [13]]
    assert token_sorted_batches([], 4, 21) == []
