"""Wire formats of the restem sandbox judge.

Two things cross process boundaries inside the container:

* frames: an ASCII decimal byte length, a newline, then that many bytes of
  UTF-8 JSON. The judge server speaks frames with the host on its stdin and
  stdout, and with each runner over a socket pair. Frames are read with exact
  byte counts, so nothing past the current frame is ever pulled into memory.
* values: what a call-based program returned. The runner (untrusted) turns the
  value into a tagged JSON tree (strings, finite floats, booleans and null as
  themselves, every other value as an array whose first element is a tag); the
  server rebuilds inert objects from it: Python's built-in values, fractions,
  decimals, deques, and numpy scalars and arrays with their dtype and shape (an
  object array's elements rebuilt the same way), so `output == expected` behaves
  as it would on the program's own value. No pickle, no eval: a hostile tree can
  only ever become inert data.
"""

import collections
import decimal
import fractions
import json
import math
import os
import sys
import types

MAX_HEADER_DIGITS = 12

# ---------------------------------------------------------------- frames


class FrameError(Exception):
    """A peer sent something that is not a well-formed frame."""


def frame_bytes(payload):
    """The bytes of one frame holding payload, a JSON-able object."""
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return str(len(body)).encode("ascii") + b"\n" + body


def write_frame(fd, payload):
    """Writes one frame to a file descriptor."""
    write_all(fd, frame_bytes(payload))


def write_all(fd, data):
    """Writes every byte of data to a file descriptor."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exact(fd, count):
    """Reads exactly count bytes, or returns None on end of stream."""
    chunks = []
    remaining = count
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd, max_bytes):
    """Reads one frame; None on a clean end of stream; FrameError when malformed or too big."""
    digits = b""
    while True:
        byte = os.read(fd, 1)
        if not byte:
            if digits:
                raise FrameError("stream ended inside a frame header")
            return None
        if byte == b"\n":
            break
        if not byte.isdigit() or len(digits) >= MAX_HEADER_DIGITS:
            raise FrameError("bad frame header")
        digits += byte
    if not digits:
        raise FrameError("empty frame header")
    length = int(digits)
    if length > max_bytes:
        raise FrameError("frame of %d bytes exceeds the limit of %d" % (length, max_bytes))
    body = read_exact(fd, length)
    if body is None:
        raise FrameError("stream ended inside a frame body")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FrameError("frame is not UTF-8 JSON: %s" % error) from None


# ---------------------------------------------------------------- values

MAX_DEPTH = 200
MAX_ARRAY_BYTES = 64 << 20
MAX_ARRAY_DIMS = 32
MAX_DECIMAL_CHARS = 10_000

# numpy dtype kinds restem rebuilds: bool, signed, unsigned, float, complex, str, bytes, object.
_ARRAY_KINDS = "biufcUSO"
_SCALAR_PYTHON_TYPES = {"b": (bool,), "i": (int,), "u": (int,), "f": (float,), "c": (complex,),
                        "U": (str,), "S": (bytes,)}


class Opaque:
    """Stands for a returned object restem does not rebuild (a user class, a function...).

    It equals nothing but itself, which is where restem departs from the official
    evaluator: there, `output == expected` would call the program's own __eq__.
    """

    __slots__ = ("type_name", "text")

    def __init__(self, type_name, text):
        self.type_name = type_name
        self.text = text

    def __repr__(self):
        return "<opaque %s: %s>" % (self.type_name, self.text)


def _encode_float(value):
    if math.isfinite(value):
        return value
    return ["nf", repr(value)]


def encode_value(value, depth=0):
    """Turns a program's return value into a tagged JSON tree (runs in the runner).

    numpy values come first: np.float64 is a float, np.str_ a str and np.complex128 a
    complex, yet they compare with lists as arrays do, so they keep their dtype.
    """
    if depth > MAX_DEPTH:
        return ["o", "deep", "<nested deeper than %d>" % MAX_DEPTH]
    next_depth = depth + 1
    numpy_module = sys.modules.get("numpy")
    if numpy_module is not None and isinstance(value, (numpy_module.ndarray, numpy_module.generic)):
        return _encode_numpy(value, numpy_module, next_depth)
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return ["i", format(int(value), "x")]
    if isinstance(value, float):
        return _encode_float(float(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, complex):
        return ["c", [_encode_float(value.real), _encode_float(value.imag)]]
    if isinstance(value, tuple):
        return ["t", [encode_value(item, next_depth) for item in value]]
    if isinstance(value, list):
        return ["l", [encode_value(item, next_depth) for item in value]]
    if isinstance(value, dict):
        return ["d", [[encode_value(k, next_depth), encode_value(v, next_depth)] for k, v in value.items()]]
    if isinstance(value, frozenset):
        return ["fs", [encode_value(item, next_depth) for item in value]]
    if isinstance(value, set):
        return ["set", [encode_value(item, next_depth) for item in value]]
    if isinstance(value, (bytes, bytearray)):
        return ["b", bytes(value).hex()]
    return _encode_library_value(value, next_depth)


def _rebuildable_dtype(dtype):
    """dtypes whose values survive the trip: no long double, datetime, void or structured types."""
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.itemsize <= 0:
        return False
    return not ((dtype.kind == "f" and dtype.itemsize > 8) or (dtype.kind == "c" and dtype.itemsize > 16))


def _opaque(value):
    try:
        text = repr(value)[:200]
    except Exception:  # a hostile __repr__ must not break encoding
        text = "<unrepresentable>"
    return ["o", type(value).__name__, text]


def _encode_numpy(value, numpy_module, depth):
    """An array as dtype, shape and its elements in C order; a scalar as dtype and its value.

    Subclasses of ndarray (matrix, masked arrays) compare differently and stay opaque.
    """
    dtype = value.dtype
    if not _rebuildable_dtype(dtype):
        return _opaque(value)
    if isinstance(value, numpy_module.ndarray):
        if type(value) is not numpy_module.ndarray:
            return _opaque(value)
        items = value.ravel().tolist()
        return ["nd", dtype.str, list(value.shape), [encode_value(item, depth) for item in items]]
    if dtype.kind == "O":
        return _opaque(value)
    return ["ns", dtype.str, encode_value(value.item(), depth)]


def _encode_library_value(value, depth):
    """Standard-library values. The mapping and sequence wrappers compare with lists, dicts and
    strings exactly as the dict, list or str they wrap does, so they travel as that."""
    if isinstance(value, collections.deque):
        return ["dq", [encode_value(item, depth) for item in value]]
    if isinstance(value, (collections.ChainMap, collections.UserDict, types.MappingProxyType)):
        return encode_value(dict(value.items()), depth - 1)
    if isinstance(value, collections.UserList):
        return encode_value(list(value.data), depth - 1)
    if isinstance(value, collections.UserString):
        return encode_value(str(value.data), depth - 1)
    if isinstance(value, fractions.Fraction):
        return ["fr", encode_value(value.numerator, depth), encode_value(value.denominator, depth)]
    if isinstance(value, decimal.Decimal):
        return ["dec", str(value)]
    return _opaque(value)


class BadValue(Exception):
    """A value tree that does not follow the format (a runner that misbehaved)."""


def _decode_float(node):
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    if isinstance(node, list) and len(node) == 2 and node[0] == "nf" and node[1] in ("inf", "-inf", "nan"):
        return float(node[1])
    raise BadValue("bad float")


def decode_value(node, numpy_module, depth=0):
    """Rebuilds plain Python (and numpy) objects from a tagged tree (runs in the server).

    Raises only BadValue (or RecursionError) for a tree that does not follow the format.
    """
    try:
        return _decode(node, numpy_module, depth)
    except (ValueError, TypeError, OverflowError, ArithmeticError, MemoryError) as error:
        if isinstance(error, BadValue):
            raise
        raise BadValue("%s: %s" % (type(error).__name__, str(error)[:200])) from None


def _decode(node, numpy_module, depth):
    if depth > MAX_DEPTH + 2:
        raise BadValue("value nested too deeply")
    nd = depth + 1
    if node is None or isinstance(node, (bool, str)):
        return node
    if isinstance(node, float):
        return node
    if isinstance(node, int):
        raise BadValue("bare integer in value tree")
    if not isinstance(node, list):
        raise BadValue("unexpected node")
    if len(node) < 2 or not isinstance(node[0], str):
        raise BadValue("untagged array")
    tag = node[0]
    if tag == "l" and len(node) == 2 and isinstance(node[1], list):
        return [_decode(item, numpy_module, nd) for item in node[1]]
    if tag == "i" and len(node) == 2 and isinstance(node[1], str):
        return int(node[1], 16)
    if tag == "nf" and len(node) == 2:
        return _decode_float(node)
    if tag == "c" and len(node) == 2 and isinstance(node[1], list) and len(node[1]) == 2:
        return complex(_decode_float(node[1][0]), _decode_float(node[1][1]))
    if tag in ("t", "fs", "set", "dq") and len(node) == 2 and isinstance(node[1], list):
        items = [_decode(item, numpy_module, nd) for item in node[1]]
        return _build_collection(tag, items)
    if tag == "d" and len(node) == 2 and isinstance(node[1], list):
        pairs = {}
        for pair in node[1]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise BadValue("bad dict entry")
            pairs[_decode(pair[0], numpy_module, nd)] = _decode(pair[1], numpy_module, nd)
        return pairs
    if tag == "b" and len(node) == 2 and isinstance(node[1], str):
        return bytes.fromhex(node[1])
    if tag == "nd" and len(node) == 4 and isinstance(node[1], str) and isinstance(node[3], list):
        return _decode_array(node, numpy_module, nd)
    if tag == "ns" and len(node) == 3 and isinstance(node[1], str):
        return _decode_numpy_scalar(node, numpy_module, nd)
    if tag == "fr" and len(node) == 3:
        numerator, denominator = _decode(node[1], numpy_module, nd), _decode(node[2], numpy_module, nd)
        if type(numerator) is not int or type(denominator) is not int or denominator <= 0:
            raise BadValue("bad fraction")
        return fractions.Fraction(numerator, denominator)
    if tag == "dec" and len(node) == 2 and isinstance(node[1], str) and len(node[1]) <= MAX_DECIMAL_CHARS:
        return decimal.Decimal(node[1])
    if tag == "o" and len(node) == 3 and isinstance(node[1], str) and isinstance(node[2], str):
        return Opaque(node[1], node[2])
    raise BadValue("unknown tag %r" % tag[:20])


def _decode_dtype(text, numpy_module):
    if len(text) > 16:
        raise BadValue("bad dtype")
    dtype = numpy_module.dtype(text)
    if not _rebuildable_dtype(dtype):
        raise BadValue("unsupported dtype %r" % text)
    return dtype


def _decode_array(node, numpy_module, depth):
    dtype = _decode_dtype(node[1], numpy_module)
    shape = node[2]
    if (not isinstance(shape, list) or len(shape) > MAX_ARRAY_DIMS
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise BadValue("bad array shape")
    size = math.prod(shape)
    items = node[3]
    if size != len(items) or size * dtype.itemsize > MAX_ARRAY_BYTES:
        raise BadValue("array elements do not match its shape, or it is too large")
    values = [_decode(item, numpy_module, depth) for item in items]
    if dtype.kind == "O":
        flat = numpy_module.empty(size, dtype=object)
        for index, item in enumerate(values):
            flat[index] = item  # one by one: a list element stays one element
    else:
        expected = _SCALAR_PYTHON_TYPES[dtype.kind]
        if not all(type(item) in expected for item in values):
            raise BadValue("array element of the wrong type for %s" % dtype.str)
        flat = numpy_module.array(values, dtype=dtype).reshape(size)
    return flat.reshape(shape)


def _decode_numpy_scalar(node, numpy_module, depth):
    dtype = _decode_dtype(node[1], numpy_module)
    if dtype.kind == "O":
        raise BadValue("object scalar")
    value = _decode(node[2], numpy_module, depth)
    if type(value) not in _SCALAR_PYTHON_TYPES[dtype.kind]:
        raise BadValue("scalar of the wrong type for %s" % dtype.str)
    scalar = numpy_module.array(value, dtype=dtype)[()]
    return scalar


def _build_collection(tag, items):
    if tag == "t":
        return tuple(items)
    if tag == "fs":
        return frozenset(items)
    if tag == "set":
        return set(items)
    return collections.deque(items)
