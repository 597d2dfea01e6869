"""Wire formats of the restem sandbox judge.

Two things cross process boundaries inside the container:

* frames: an ASCII decimal byte length, a newline, then that many bytes of
  UTF-8 JSON. The judge server speaks frames with the host on its stdin and
  stdout, and with each runner over a socket pair. Frames are read with exact
  byte counts, so nothing past the current frame is ever pulled into memory.
* values: what a call-based program returned. The runner (untrusted) turns the
  value into a tagged JSON tree (strings, finite floats, booleans and null as
  themselves, every other value as an array whose first element is a tag); the server rebuilds plain Python objects from
  it. No pickle, no eval: a hostile tree can only ever become inert data.
"""

import json
import math
import os

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

_NUMERIC_DTYPE_KINDS = "biufc"


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
    """Turns a program's return value into a tagged JSON tree (runs in the runner)."""
    if depth > MAX_DEPTH:
        return ["o", "deep", "<nested deeper than %d>" % MAX_DEPTH]
    next_depth = depth + 1
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


def _encode_library_value(value, depth):
    module = type(value).__module__ or ""
    if module == "collections" and type(value).__name__ == "deque":
        return ["dq", [encode_value(item, depth) for item in value]]
    if module == "numpy" or module.startswith("numpy."):
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        if type(value).__name__ == "ndarray" and kind in _NUMERIC_DTYPE_KINDS + "U":
            return ["nd", value.dtype.str, encode_value(value.tolist(), depth)]
        if hasattr(value, "item") and kind in _NUMERIC_DTYPE_KINDS:
            return encode_value(value.item(), depth)
    try:
        text = repr(value)[:200]
    except Exception:  # a hostile __repr__ must not break encoding
        text = "<unrepresentable>"
    return ["o", type(value).__name__, text]


class BadValue(Exception):
    """A value tree that does not follow the format (a runner that misbehaved)."""


def _decode_float(node):
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    if isinstance(node, list) and len(node) == 2 and node[0] == "nf" and node[1] in ("inf", "-inf", "nan"):
        return float(node[1])
    raise BadValue("bad float")


def decode_value(node, numpy_module, depth=0):
    """Rebuilds plain Python objects from a tagged tree (runs in the server)."""
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
        return [decode_value(item, numpy_module, nd) for item in node[1]]
    if tag == "i" and len(node) == 2 and isinstance(node[1], str):
        return int(node[1], 16)
    if tag == "nf" and len(node) == 2:
        return _decode_float(node)
    if tag == "c" and len(node) == 2 and isinstance(node[1], list) and len(node[1]) == 2:
        return complex(_decode_float(node[1][0]), _decode_float(node[1][1]))
    if tag in ("t", "fs", "set", "dq") and len(node) == 2 and isinstance(node[1], list):
        items = [decode_value(item, numpy_module, nd) for item in node[1]]
        return _build_collection(tag, items)
    if tag == "d" and len(node) == 2 and isinstance(node[1], list):
        pairs = {}
        for pair in node[1]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise BadValue("bad dict entry")
            pairs[decode_value(pair[0], numpy_module, nd)] = decode_value(pair[1], numpy_module, nd)
        return pairs
    if tag == "b" and len(node) == 2 and isinstance(node[1], str):
        return bytes.fromhex(node[1])
    if tag == "nd" and len(node) == 3 and isinstance(node[1], str):
        dtype = numpy_module.dtype(node[1])
        if dtype.kind not in _NUMERIC_DTYPE_KINDS + "U":
            raise BadValue("unsupported array dtype")
        return numpy_module.array(decode_value(node[2], numpy_module, nd), dtype=dtype)
    if tag == "o" and len(node) == 3 and isinstance(node[1], str) and isinstance(node[2], str):
        return Opaque(node[1], node[2])
    raise BadValue("unknown tag %r" % tag[:20])


def _build_collection(tag, items):
    if tag == "t":
        return tuple(items)
    if tag == "fs":
        return frozenset(items)
    if tag == "set":
        return set(items)
    import collections

    return collections.deque(items)
