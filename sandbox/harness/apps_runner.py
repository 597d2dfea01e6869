"""Runs one untrusted program against a problem's test inputs, as the APPS evaluator does.

This module is loaded by the zygote, a process the judge server forks before it
has seen any program or test. For each program the zygote forks a runner; the
runner receives the code and the test *inputs* (never the expected outputs) over
its own socket, executes the program with the official APPS evaluator's
execution semantics, and sends back what the program produced for each test.
Comparing those outputs with the expected ones is the server's job.

Execution semantics kept from the official evaluator (hendrycks/apps,
eval/testing_util.py), re-implemented here:
  * the same prelude of imports is prepended to every program;
  * standard-input programs have their non-import lines moved into a function
    `code()` that is called once per test with sys.stdin, sys.stdin.read/
    readline/readlines and builtins.open patched to serve the test input, and
    stdout captured and split into lines;
  * call-based programs are loaded as a module named "tmp_sol" (so a
    `__main__` guard never runs); `class Solution` programs are instantiated
    once; the named function is then called once per test;
  * a 4 s SIGALRM raises TimeoutException per test (and around loading); a
    failed load is a compile error (-2), an exception in a test is -1 and the
    next test still runs; the same destructive-function guard is installed.
"""

import builtins
import collections
import contextlib
import faulthandler
import fractions
import functools
import heapq
import io
import itertools
import math
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import typing
from unittest import mock

import numpy

import wire

# The imports the official evaluator prepends to every program, so programs may
# use these names without importing them.
PRELUDE = (
    "import sys\n"
    "import time\n"
    "import itertools\n"
    "from itertools import accumulate, product, permutations, combinations\n"
    "import collections\n"
    "from collections import Counter, OrderedDict, deque, defaultdict, ChainMap\n"
    "from functools import lru_cache\n"
    "import math\n"
    "from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2\n"
    "import fractions\n"
    "from typing import List, Tuple\n"
    "import numpy as np\n"
    "import random\n"
    "import heapq\n"
    "from heapq import *\n"
)

PRELOADED = (builtins, collections, contextlib, fractions, functools, heapq, io, itertools, math,
             random, shutil, subprocess, time, types, typing, numpy)


class TimeoutException(Exception):
    """Raised by SIGALRM when a test (or loading the program) overruns its time."""


class OutputLimitExceeded(Exception):
    """Raised when a program prints more than the output cap."""


def _on_alarm(_signum, _frame):
    print("alarm went off")
    raise TimeoutException


# ---------------------------------------------------------------- program text


def wrap_standard_input_program(code):
    """Moves every non-import line into `def code():`, as the APPS evaluator does.

    Lines starting with "from " or "import " stay at module level until the first
    other line; after it they are indented into the function like the rest.
    """
    out = []
    inside = False
    for line in code.split("\n"):
        is_import = line.startswith("from ") or line.startswith("import ")
        if is_import and not inside:
            out.append(line + "\n")
        elif is_import:
            out.append("\t" + line + "\n")
        else:
            if not inside:
                out.append("stdin = sys.stdin\nstdout = sys.stdout\ndef code():\n")
                inside = True
            out.append("\t" + line + "\n")
    return PRELUDE + "".join(out)


# ---------------------------------------------------------------- the guard


def install_reliability_guard():
    """Disables the functions the official evaluator disables before running code.

    This is part of the judging semantics (a program calling exit() or
    os.getcwd() fails there, so it fails here), not the security boundary:
    the container, its limits and the process separation are.
    """
    faulthandler.disable()
    builtins.exit = None
    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
                 "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = None
    shutil.move = None
    shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


# ---------------------------------------------------------------- capture


class CappedStringIO(io.StringIO):
    """A StringIO that refuses to grow past a byte budget (counted in characters)."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit
        self.size = 0
        self.overflowed = False

    def write(self, text):
        self.size += len(text)
        if self.size > self.limit:
            self.overflowed = True
            raise OutputLimitExceeded("output exceeds %d characters" % self.limit)
        return super().write(text)


class CapturedLines(list):
    """Captures sys.stdout into a list of lines for the duration of a with-block."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit
        self.overflowed = False

    def __enter__(self):
        self._saved = sys.stdout
        self._buffer = CappedStringIO(self.limit)
        self._buffer.close = lambda *_args: 1
        sys.stdout = self._buffer
        return self

    def __exit__(self, *_exc):
        self.overflowed = self._buffer.overflowed
        self.extend(self._buffer.getvalue().splitlines())
        del self._buffer
        sys.stdout = self._saved


class LazyMockOpen:
    """builtins.open replaced by unittest.mock's mock_open serving the test input.

    Building a mock_open costs milliseconds and most programs never call open(),
    so it is built on the first call; every call then behaves as the evaluator's.
    """

    def __init__(self, read_data):
        self.read_data = read_data
        self.mock = None

    def __call__(self, *args, **kwargs):
        if self.mock is None:
            self.mock = mock.mock_open(read_data=self.read_data)
        return self.mock(*args, **kwargs)


class PatchedAttribute:
    """Sets obj.name for a with-block and restores it (deletes it if it was not in __dict__)."""

    def __init__(self, obj, name, value):
        self.obj, self.name, self.value = obj, name, value

    def __enter__(self):
        self.had_own = self.name in getattr(self.obj, "__dict__", {})
        self.saved = getattr(self.obj, self.name)
        setattr(self.obj, self.name, self.value)

    def __exit__(self, *_exc):
        if self.had_own or isinstance(self.obj, types.ModuleType):
            setattr(self.obj, self.name, self.saved)
        else:
            delattr(self.obj, self.name)


def call_with_test_input(function, test_input):
    """Calls code() with stdin, its read methods and open() serving test_input."""
    if isinstance(test_input, list):
        test_input = "\n".join(test_input)
    lines = iter(test_input.split("\n"))
    with contextlib.ExitStack() as stack:
        # Same order as the evaluator's stacked mock.patch decorators: the method patches
        # land on the stdin object that is current before sys.stdin itself is replaced.
        stack.enter_context(PatchedAttribute(sys.stdin, "read", lambda *_a: test_input))
        stack.enter_context(PatchedAttribute(sys.stdin, "readlines", lambda *_a: test_input.split("\n")))
        stack.enter_context(PatchedAttribute(sys.stdin, "readline", lambda *_a: next(lines)))
        stack.enter_context(PatchedAttribute(sys, "stdin", io.StringIO(test_input)))
        stack.enter_context(PatchedAttribute(builtins, "open", LazyMockOpen(test_input)))
        try:
            return function()
        except SystemExit:
            pass


# ---------------------------------------------------------------- running


def _describe(error):
    text = "%s: %s" % (type(error).__name__, error)
    return text[:500]


PRELUDE_LINES = PRELUDE.count("\n")
WRAPPER_HEADER_LINES = 3  # stdin = ..., stdout = ..., def code():


def user_line_number(line_number, code, fn_name):
    """Maps a line of the wrapped source back to the line of the program the user wrote."""
    line = line_number - PRELUDE_LINES
    if fn_name is not None:
        return line
    leading_imports = 0
    for text in code.split("\n"):
        if not (text.startswith("from ") or text.startswith("import ")):
            break
        leading_imports += 1
    return line if line <= leading_imports else line - WRAPPER_HEADER_LINES


def _describe_compile_error(error, code, fn_name):
    if isinstance(error, SyntaxError) and error.lineno is not None:
        line = user_line_number(error.lineno, code, fn_name)
        return ("%s: %s (line %d)" % (type(error).__name__, error.msg, line))[:500]
    return _describe(error)


def load_program(code, fn_name, timeout_s):
    """Loads the program; returns (callable, None) or (None, compile-error text)."""
    if fn_name is None:
        source = wrap_standard_input_program(code)
        method_name = "code"
    else:
        source = PRELUDE + code
        method_name = fn_name
    signal.alarm(timeout_s)
    try:
        module = types.ModuleType("tmp_sol", "")
        exec(compile(source, "<program>", "exec"), module.__dict__)
        target = module.Solution() if (fn_name is not None and "class Solution" in code) else module
        signal.alarm(0)
    except Exception as error:
        signal.alarm(0)
        return None, _describe_compile_error(error, code, fn_name)
    signal.alarm(0)
    try:
        return getattr(target, method_name), None
    except Exception as error:
        return None, "cannot find %r: %s" % (method_name, _describe(error))


def _int_keyed(mapping):
    return {int(k): v for k, v in mapping.items()}


def run_call_based_test(method, arguments, timeout_s, output_limit):
    """One call-based test; returns the frame to send."""
    try:
        if isinstance(arguments[0], dict):
            arguments = [_int_keyed(arguments[0])]
    except Exception:
        pass
    signal.alarm(timeout_s)
    faulthandler.enable()
    try:
        value = method(*arguments)
        if isinstance(value, tuple):
            value = list(value)
        tree = wire.encode_value(value)
        signal.alarm(0)
    except Exception as error:
        signal.alarm(0)
        faulthandler.disable()
        return {"k": "test", "status": "error", "detail": _describe(error)}
    faulthandler.disable()
    signal.alarm(0)
    return {"k": "test", "status": "ok", "out": tree}


def run_standard_input_test(method, test_input, timeout_s, output_limit):
    """One standard-input test; returns the frame to send."""
    faulthandler.enable()
    signal.alarm(timeout_s)
    failure = None
    if isinstance(test_input, list):
        test_input = "\n".join(test_input)
    with CapturedLines(output_limit) as lines:
        try:
            call_with_test_input(method, test_input)
            signal.alarm(0)
        except Exception as error:
            signal.alarm(0)
            failure = error
        signal.alarm(0)
    faulthandler.disable()
    if lines.overflowed:
        return {"k": "test", "status": "output_limit", "detail": "printed more than %d characters" % output_limit}
    if failure is not None:
        return {"k": "test", "status": "error", "detail": _describe(failure)}
    return {"k": "test", "status": "ok", "out": list(lines)}


def run_program(request, send):
    """Runs every test of one program, sending a frame per test, then 'done'."""
    timeout_s = int(request["timeout_s"])
    output_limit = int(request["output_limit"])
    fn_name = request.get("fn_name")
    install_reliability_guard()
    method, compile_error = load_program(request["code"], fn_name, timeout_s)
    if compile_error is not None:
        send({"k": "compile_error", "detail": compile_error})
        send({"k": "done"})
        return
    run_test = run_standard_input_test if fn_name is None else run_call_based_test
    for index, test_input in enumerate(request["inputs"]):
        message = run_test(method, test_input, timeout_s, output_limit)
        message["i"] = index
        send(message)
    send({"k": "done"})


# ---------------------------------------------------------------- processes


def set_runner_limits(request):
    """Resource limits of a runner; the container's cgroup limits stand behind them."""
    memory = int(request["memory_bytes"])
    cpu_seconds = int(request["global_timeout_s"]) + 2
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(request["file_limit"]),) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def runner_main(sock):
    """Body of a forked runner: wait for a program, run it, exit."""
    _exit = os._exit
    for name in ("SIGCHLD", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a normal Python's dispositions
    signal.signal(signal.SIGALRM, _on_alarm)
    os.setsid()
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as handle:
        handle.write("1000")  # under memory pressure, the program dies, not the judge
    fd = sock.fileno()
    request = wire.read_frame(fd, 1 << 30)
    if request is None:
        _exit(0)
    set_runner_limits(request)

    output_limit = int(request["output_limit"])

    def send(message):
        data = wire.frame_bytes(message)
        if len(data) > output_limit + 4096 and message.get("k") == "test":
            data = wire.frame_bytes({"k": "test", "i": message["i"], "status": "output_limit",
                                     "detail": "returned a value larger than %d bytes" % output_limit})
        wire.write_all(fd, data)

    try:
        run_program(request, send)
    except BaseException:  # noqa: B036 -- anything escaping here is a crash; the server scores it
        _exit(3)
    _exit(0)


def zygote_main(control):
    """Forks one runner per request on the control socket and hands over its socket end.

    The zygote never receives programs or tests, so a runner forked from it
    inherits no trace of any other program or any expected output.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # runners are reaped automatically
    while True:
        try:
            request = control.recv(16)
        except InterruptedError:
            continue
        if not request:
            os._exit(0)
        server_end, runner_end = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            control.close()
            server_end.close()
            runner_main(runner_end)
            os._exit(0)
        runner_end.close()
        socket.send_fds(control, [pid.to_bytes(4, "little")], [server_end.fileno()])
        server_end.close()
