"""Unit checks of sandbox/harness/wire.py's value trees, run inside the sandbox image.

test/integration/harness-values.test.ts runs this with the image's python3 and numpy
(the harness is at /opt/restem). It prints one line per failed check and "ok N" at the
end; any failure exits 1.
"""

import json
import math
import sys

sys.path.insert(0, "/opt/restem")

import numpy as np  # noqa: E402

import apps_compare  # noqa: E402
import wire  # noqa: E402

failures = []
checks = 0


def check(condition, what):
    global checks
    checks += 1
    if not condition:
        failures.append(what)


def through_the_wire(value):
    tree = json.loads(json.dumps(wire.encode_value(value), allow_nan=False))
    return wire.decode_value(tree, np)


def same(left, right):
    """Same type, dtype and shape all the way down (NaN equals NaN)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, np.ndarray):
        return (left.dtype == right.dtype and left.shape == right.shape
                and all(same(a, b) for a, b in zip(left.ravel().tolist(), right.ravel().tolist())))
    if isinstance(left, np.generic):
        return left.dtype == right.dtype and same(left.item(), right.item())
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return left == right


def ragged_object_array():
    array = np.empty(2, dtype=object)
    array[0], array[1] = [1, 2], (3, np.int64(4))
    return array


ROUND_TRIPS = [
    np.int64(3), np.int32(-3), np.uint64(2 ** 64 - 1), np.int8(-128), np.float64(0.1), np.float32(0.1),
    np.float16(1.5), np.float64("nan"), np.float64("-inf"), np.complex128(1 - 2j), np.complex64(3j),
    np.bool_(True), np.str_("ab"), np.bytes_(b"xy"),
    np.array(3), np.array(3.5), np.array([]), np.array([[]]), np.zeros((0, 3)), np.zeros((2, 0), dtype=np.int32),
    np.array([[1, 2], [3, 4]]), np.array([1.5, float("nan")]), np.array([True, False]), np.array(["a", "bcd"]),
    np.array([b"a"]), np.array([1 + 1j]), np.arange(6, dtype=np.uint16).reshape(2, 3).T,
    np.array([3], dtype=object), np.array([2 ** 70, "x", None], dtype=object), ragged_object_array(),
    np.array([[np.int64(1), 2.5]], dtype=object),
    [np.int64(1), [np.float64(2.5)], (np.str_("s"),)], {1: np.int64(2)},
    3, 2 ** 70, -0.0, "s", None, True, [1, (2, 3)], {"k": [1]},
]
for value in ROUND_TRIPS:
    try:
        back = through_the_wire(value)
        check(same(value, back), "round trip changed %r into %r" % (value, back))
    except Exception as error:  # noqa: BLE001 -- report every failure, not only the first
        check(False, "round trip of %r raised %r" % (value, error))

# Wrappers travel as the dict, list or str they wrap (they compare as it does).
import collections  # noqa: E402
import types  # noqa: E402

for value, plain in ((collections.ChainMap({1: 2}, {3: 4}), {3: 4, 1: 2}), (collections.UserDict({1: 2}), {1: 2}),
                     (types.MappingProxyType({1: 2}), {1: 2}), (collections.UserList([5]), [5]),
                     (collections.UserString("ab"), "ab")):
    back = through_the_wire(value)
    check(same(back, plain), "%r should come back as %r, came back as %r" % (value, plain, back))

# Values restem does not rebuild become opaque, equal to nothing.
for value in (np.matrix([[1]]), np.ma.array([1]), np.longdouble(1), np.datetime64("2020-01-01"),
              np.array([(1, 2)], dtype=[("a", "i8"), ("b", "i8")]), object()):
    back = through_the_wire(value)
    check(isinstance(back, wire.Opaque), "%r should stay opaque, came back as %r" % (value, back))

HOSTILE = [
    ["nd", "<U2147483647", [1], ["a"]],
    ["nd", "<U99999999", [9], ["a"] * 9],
    ["nd", "<i8", [2], [["i", "1"]]],
    ["nd", "<i8", [1], [1.5]],
    ["nd", "<i8", [1], [True]],
    ["nd", "<i8", [1], [["i", "1" + "0" * 30]]],
    ["nd", "<U3", [1], [["i", "1"]]],
    ["nd", "V8", [0], []],
    ["nd", "M8[ns]", [0], []],
    ["nd", "<f16", [0], []],
    ["nd", "i4,f8", [0], []],
    ["nd", "<i8", [-1], []],
    ["nd", "<i8", [True], [["i", "1"]]],
    ["nd", "<i8", "x", []],
    ["nd", "<i8", [1] * 40, [["i", "1"]]],
    ["nd", "not a dtype", [0], []],
    ["ns", "|O", ["i", "1"]],
    ["ns", "<i8", "3"],
    ["ns", "<i8", ["i", "1" + "0" * 30]],
    ["ns", "|b1", ["i", "1"]],
    ["fr", ["i", "1"], ["i", "0"]],
    ["fr", ["i", "1"], 2.0],
    ["dec", "not a number"],
    ["dec", "1" * 20000],
    ["nd", "<i8", [1]],
]
for tree in HOSTILE:
    try:
        value = wire.decode_value(tree, np)
        check(False, "hostile tree %r decoded to %r" % (str(tree)[:80], value))
    except wire.BadValue:
        check(True, "")
    except Exception as error:  # noqa: BLE001
        check(False, "hostile tree %r raised %r instead of BadValue" % (str(tree)[:80], error))

# The evaluator's driver reads a comparison that gave an array by its first element.
check(apps_compare.apps_call_based(np.array([5, 6]), 5) == "equal", "array([True, False]) counts as True")
check(apps_compare.apps_call_based(np.array([6, 5]), 5) is None, "array([False, True]) counts as False")
try:
    apps_compare.apps_call_based(np.array([]), [])
    check(False, "an empty comparison must raise")
except apps_compare.EmptyComparison:
    check(True, "")

for line in failures:
    print("FAIL " + line)
print("ok %d" % (checks - len(failures)) if not failures else "failed %d of %d" % (len(failures), checks))
sys.exit(1 if failures else 0)
