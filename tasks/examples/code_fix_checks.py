"""Tests the code_fix example's parameter must pass (imported as module `solution`)."""

from solution import strange_sort_list


def test_alternates_min_and_max():
    assert strange_sort_list([1, 2, 3, 4]) == [1, 4, 2, 3]


def test_repeated_values():
    assert strange_sort_list([5, 5, 5, 5]) == [5, 5, 5, 5]


def test_odd_length():
    assert strange_sort_list([1, 2, 3, 4, 5]) == [1, 5, 2, 4, 3]


def test_empty():
    assert strange_sort_list([]) == []


def test_does_not_change_its_input():
    values = [3, 1, 2]
    strange_sort_list(values)
    assert values == [3, 1, 2]
