"""Decides whether a program's output for one test matches the expected output.

Runs in the judge server, never in a process that executes untrusted code.
Each function returns the name of the comparison that accepted the output, or
None when none did; the server records that name per test so a user can see
how lenient a verdict was.

`apps_*` reproduce the official APPS evaluator's sequence of comparisons
(hendrycks/apps eval/testing_util.py), including its unsound ones:

standard input, in order: whole output stripped; lines stripped; a single
line; non-empty lines stripped; non-empty lines unstripped; all lines as
floats with numpy.allclose; whitespace-token sets per line compared as a set
of sets (order and repetition ignored); the same with floats rounded to 3
places.
call-based: equality; equality with the first element of the expected list
(the dataset wraps outputs in a list, but not always); a list of tuples equal
to the expected list of lists. The value compared is the program's own (numpy
values keep their dtype and shape, see wire.py), so numpy's broadcasting
comparisons give what they give there, and a comparison that raises (the
truth value of a many-element array) scores -1. A comparison that yields an
array counts as its first element, as the evaluator's driver
(eval/test_one_solution.py) reads it; an empty one is -1 (there, reading its
first element fails and the problem gets no verdict at all).

`strict_*` are what a careful judge would do: standard input compares lines
after removing trailing whitespace and trailing blank lines; call-based
compares values with Python equality except that booleans only equal
booleans, accepting the unwrapped form only for a one-element expected list.
"""

import numpy


def int_keyed_expected(expected):
    """The evaluator's re-keying of JSON dicts (string keys) into int-keyed dicts."""
    try:
        if isinstance(expected, dict):
            expected = [{int(k): v for k, v in expected.items()}]
    except Exception:
        pass
    try:
        if isinstance(expected[0], dict):
            expected = [{int(k): v for k, v in expected[0].items()}]
    except Exception:
        pass
    return expected


# ---------------------------------------------------------------- standard input


def _stripped_equal(left, right):
    return left.strip() == right.strip()


def _equal_as_line_or_lines(lines, expected):
    result = lines == [expected]
    if isinstance(expected, list):
        result = result or lines == expected
    return result


def _floats(items):
    return [float(item) for item in items]


def _rounded_sets(groups):
    return set(frozenset(round(float(token), 3) for token in group) for group in groups)


def apps_standard_input(lines, expected):
    """The evaluator's cascade for a standard-input test. lines: the captured output lines."""
    if isinstance(expected, list):
        expected = "\n".join(expected)
    if _stripped_equal("\n".join(lines), expected):
        return "whole_output_stripped"
    if _stripped_equal("\n".join(line.strip() for line in lines), expected):
        return "lines_stripped"
    try:
        if lines == [expected]:
            return "single_line"
    except Exception:
        pass
    expected_lines = [part.strip() for part in expected.split("\n") if part]
    if _equal_as_line_or_lines(lines, expected_lines):
        return "nonempty_lines_stripped"
    nonempty = [line for line in lines if line]
    if _equal_as_line_or_lines(nonempty, expected_lines):
        return "nonempty_lines"
    try:
        got, want = _floats(nonempty), _floats(expected_lines)
        if len(got) == len(want) and numpy.allclose(got, want):
            return "float_lines_allclose"
    except Exception:
        pass
    expected_sets = [set(line.split()) for line in expected_lines]
    if nonempty == expected_sets:
        return "token_sets"
    output_sets = [set(tokens) for tokens in (line.split() for line in nonempty) if tokens]
    try:
        if set(frozenset(s) for s in output_sets) == set(frozenset(s) for s in expected_sets):
            return "token_set_of_sets"
    except Exception:
        pass
    try:
        if _rounded_sets(output_sets) == _rounded_sets(expected_sets):
            return "rounded_float_set_of_sets"
    except Exception:
        pass
    return None


def strict_standard_input(lines, expected):
    """Lines equal after trailing whitespace and trailing blank lines are removed."""
    if isinstance(expected, list):
        expected = "\n".join(expected)
    if not isinstance(expected, str):
        return None

    def normal(text_lines):
        trimmed = [line.rstrip() for line in text_lines]
        while trimmed and not trimmed[-1]:
            trimmed.pop()
        return trimmed

    got = normal("\n".join(lines).split("\n"))
    want = normal(expected.split("\n"))
    return "strict_lines" if got == want else None


# ---------------------------------------------------------------- call-based


class EmptyComparison(Exception):
    """`output == expected` gave an empty array: the evaluator's driver has no verdict for it."""


def official_passed(result):
    """How the evaluator's driver reads a per-test result: an array by its first element."""
    if isinstance(result, numpy.ndarray):
        if result.size == 0:
            raise EmptyComparison("the comparison gave an empty array (shape %s): the official evaluator's "
                                  "driver cannot read it and records no verdict" % (result.shape,))
        result = result.item(0)
    return bool(result)


def apps_call_based(output, expected):
    """The evaluator's comparisons for a call-based test.

    Raises where the evaluator's comparison raises (it then scores the test -1).
    """
    expected = int_keyed_expected(expected)
    if isinstance(output, tuple):
        output = list(output)
    result = output == expected
    accepted = "equal"
    if isinstance(expected, list) and expected:
        # `a or b`: raises on a many-element array, as in the evaluator.
        if not bool(result):
            result = output == expected[0]
            accepted = "equal_first_expected"
    try:
        if isinstance(output[0], tuple) and not bool(result):
            result = [list(item) for item in output] == expected[0]
            accepted = "tuples_as_lists"
    except Exception:
        pass
    return accepted if official_passed(result) else None


def _plain(value):
    """numpy scalars as the Python values they hold, inside containers too (strict mode)."""
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def _strict_equal(left, right):
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(_strict_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_strict_equal(left[k], right[k]) for k in left)
    if isinstance(left, numpy.ndarray) or isinstance(right, numpy.ndarray):
        return False
    try:
        return type(left) in (int, float, str, type(None)) and left == right
    except Exception:
        return False


def strict_call_based(output, expected):
    """Exact value equality (booleans are not numbers); the unwrapped form only for [x]."""
    expected = int_keyed_expected(expected)
    output = _plain(output)
    if _strict_equal(output, expected):
        return "strict_equal"
    if isinstance(expected, list) and len(expected) == 1 and _strict_equal(output, expected[0]):
        return "strict_equal_singleton"
    return None
