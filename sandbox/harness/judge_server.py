"""The restem judge server: PID 1 of every sandbox container.

The host talks to it in frames (see wire.py) over the container's stdin and
stdout. Per program the host sends two frames back to back:

  {"op": "run", "id", "code", "fn_name", "inputs", "timeout_s", "global_timeout_s",
   "memory_bytes", "output_limit", "file_limit"}
  {"op": "expect", "id", "outputs", "strict"}

and gets one back:

  {"op": "verdict", "id", "results": [true|false|-1|-2, ...], "accepted_by": [...],
   "details": [...], "error": str|null, "clean": bool, "ms": float}

How the untrusted program is kept away from what it must not see:
  * a zygote, forked before any request arrives, forks one runner per program;
    the runner gets only that program and its test inputs;
  * the server reads the "expect" frame only after the runner and every
    process it left behind are dead, and it is not dumpable, so no process in
    the container can read its memory or its file descriptors through /proc;
  * as PID 1 of the container's PID namespace it cannot be killed from inside.
If anything stays wrong after a run (the zygote died, a process survived,
/tmp could not be emptied) the verdict says clean=false and the host replaces
the container.
"""

import ctypes
import json
import os
import select
import shutil
import signal
import socket
import sys
import time

import numpy

import apps_compare
import apps_runner
import wire

PROTOCOL_VERSION = 1
MAX_HOST_FRAME = 256 << 20
SCRATCH_DIRS = ("/tmp", "/dev/shm")
RUNNER_EXIT_WAIT_S = 0.05


def make_undumpable():
    """Denies every same-user process ptrace, /proc/<pid>/mem and /proc/<pid>/fd of this one."""
    pr_set_dumpable = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def null_standard_streams():
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def start_zygote():
    """Forks the zygote; returns (pid, control socket)."""
    server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        server_end.close()
        null_standard_streams()
        os.closerange(3, zygote_end.fileno())
        apps_runner.zygote_main(zygote_end)
        os._exit(0)
    zygote_end.close()
    return pid, server_end


class Runner:
    """A forked runner, idle until it is sent a program."""

    def __init__(self, pid, sock):
        self.pid = pid
        self.sock = sock


def fork_runner(control):
    control.send(b"f")
    data, fds, _flags, _addr = socket.recv_fds(control, 16, 1)
    if not data or not fds:
        raise RuntimeError("zygote did not answer")
    return Runner(int.from_bytes(data[:4], "little"), socket.socket(fileno=fds[0]))


# ---------------------------------------------------------------- one program


def collect(runner, deadline, max_bytes):
    """Reads the runner's frames until 'done', end of stream, the deadline or too many bytes.

    Returns (messages, ending) with ending one of done, ended, timeout, overflow, malformed.
    """
    fd = runner.sock.fileno()
    buffer = bytearray()
    messages = []
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return messages, "timeout"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return messages, "timeout"
        try:
            chunk = os.read(fd, 1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            return messages, "ended"
        total += len(chunk)
        if total > max_bytes:
            return messages, "overflow"
        buffer += chunk
        while True:
            newline = buffer.find(b"\n", 0, 16)
            if newline < 0:
                if len(buffer) >= 16:
                    return messages, "malformed"
                break
            header = bytes(buffer[:newline])
            if not header.isdigit():
                return messages, "malformed"
            end = newline + 1 + int(header)
            if len(buffer) < end:
                break
            try:
                message = json.loads(bytes(buffer[newline + 1:end]).decode("utf-8"))
            except ValueError:
                return messages, "malformed"
            del buffer[:end]
            if not isinstance(message, dict):
                return messages, "malformed"
            if message.get("k") == "done":
                wait_for_end(fd, min(deadline, time.monotonic() + RUNNER_EXIT_WAIT_S))
                return messages, "done"
            messages.append(message)


def wait_for_end(fd, deadline):
    """After 'done' the runner exits; its socket end closes unless a stray process holds it."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return
        try:
            if not os.read(fd, 1 << 16):
                return
        except OSError:
            return


def process_state(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3]


def zygote_intact(pid):
    """The zygote sleeps in recv with no signal pending; a SIGKILL it has not acted on yet
    (the program killed it a moment ago) shows as a pending signal, not yet as a dead process."""
    try:
        with open("/proc/%d/status" % pid) as handle:
            fields = dict(line.split(":", 1) for line in handle.read().splitlines() if ":" in line)
    except OSError:
        return False
    state = fields.get("State", "").strip()[:1]
    pending = [int(fields.get(name, "0").strip() or "0", 16) for name in ("SigPnd", "ShdPnd")]
    return state in ("S", "R") and not any(pending)


def live_pids(keep):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            pid = int(name)
            if pid not in keep and process_state(pid) not in (None, b"Z", b"X"):
                pids.append(pid)
    return pids


def kill_everything_but(keep):
    """SIGKILLs every other process in the container until none is left; False if some survive."""
    for attempt in range(200):
        pids = live_pids(keep)
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.0005 * min(attempt, 20))
    return not live_pids(keep)


def empty_scratch_dirs():
    clean = True
    for directory in SCRATCH_DIRS:
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(directory, name)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, onerror=_make_writable_and_retry)
                else:
                    os.unlink(path)
            except OSError:
                clean = False
    return clean


def _make_writable_and_retry(function, path, _info):
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path):
        os.chmod(path, 0o700)
    function(path)


# ---------------------------------------------------------------- scoring


def score(request, expect, messages, ending):
    """Turns the runner's reports and the expected outputs into APPS results."""
    count = len(request["inputs"])
    outputs = expect["outputs"]
    strict = bool(expect.get("strict"))
    call_based = request.get("fn_name") is not None
    if ending != "done":
        reason = {
            "timeout": "exceeded the global time limit of %ss" % request["global_timeout_s"],
            "ended": "the program's process died before finishing (crash, kill, exit or memory limit)",
            "overflow": "the program sent more output than the limit",
            "malformed": "the program corrupted the runner's reports",
        }[ending]
        return [-1] * count, [None] * count, [reason] * count, reason
    if messages and messages[0].get("k") == "compile_error":
        detail = str(messages[0].get("detail"))[:500]
        return [-2], [None], [detail], "compile error: " + detail
    results, accepted_by, details = [], [], []
    for message in messages:
        index = message.get("i")
        if not isinstance(index, int) or not 0 <= index < len(outputs):
            continue
        result, accepted, detail = score_test(message, outputs[index], call_based, strict)
        if result == "crash":
            reason = "the evaluator's comparison failed on test %d: %s" % (index, detail)
            return [-1] * count, [None] * count, [reason] * count, reason
        results.append(result)
        accepted_by.append(accepted)
        details.append(detail)
    return results, accepted_by, details, first_failure(results, details)


def score_test(message, expected, call_based, strict):
    status = message.get("status")
    if status != "ok":
        return -1, None, str(message.get("detail") or status)[:500]
    try:
        if call_based:
            output = wire.decode_value(message.get("out"), numpy)
        else:
            output = message.get("out")
            if not isinstance(output, list) or not all(isinstance(line, str) for line in output):
                raise wire.BadValue("captured output is not a list of lines")
    except (wire.BadValue, ValueError, TypeError, RecursionError) as error:
        return -1, None, "unreadable output: %s" % error
    if call_based:
        compare = apps_compare.strict_call_based if strict else apps_compare.apps_call_based
        try:
            accepted = compare(output, expected)
        except Exception as error:  # the evaluator scores a failing comparison -1
            return -1, None, "comparison raised %s: %s" % (type(error).__name__, error)
    else:
        compare = apps_compare.strict_standard_input if strict else apps_compare.apps_standard_input
        try:
            accepted = compare(output, expected)
        except Exception as error:
            return "crash", None, "%s: %s" % (type(error).__name__, error)
    if accepted is None:
        return False, None, "wrong answer"
    return True, accepted, None


def first_failure(results, details):
    for index, result in enumerate(results):
        if result is not True:
            kind = "runtime error or time limit" if result == -1 else "wrong answer"
            return "test %d: %s (%s)" % (index, kind, details[index])
    return None


# ---------------------------------------------------------------- main loop


class Server:
    def __init__(self):
        self.zygote_pid, self.control = start_zygote()
        self.runner = fork_runner(self.control)

    def handle_run(self, request):
        started = time.monotonic()
        runner, self.runner = self.runner, None
        try:
            wire.write_frame(runner.sock.fileno(), request)
            deadline = started + float(request["global_timeout_s"])
            max_bytes = int(request["output_limit"]) * 2 + (1 << 20)
            messages, ending = collect(runner, deadline, max_bytes)
        except OSError:
            messages, ending = [], "ended"
        runner.sock.close()
        breach, clean = self.clean_up(runner)
        expect = wire.read_frame(0, MAX_HOST_FRAME)
        if not isinstance(expect, dict) or expect.get("op") != "expect" or expect.get("id") != request.get("id"):
            raise wire.FrameError("expected the 'expect' frame of run %r" % request.get("id"))
        if breach is not None:
            count = len(request["inputs"])
            results, accepted_by, details, error = [-1] * count, [None] * count, [breach] * count, breach
        else:
            results, accepted_by, details, error = score(request, expect, messages, ending)
        verdict = {"op": "verdict", "id": request.get("id"), "results": results, "accepted_by": accepted_by,
                   "details": details, "error": error, "clean": clean,
                   "ms": round((time.monotonic() - started) * 1000, 3)}
        wire.write_frame(1, verdict)
        if clean:
            self.runner = fork_runner(self.control)
        return clean

    def clean_up(self, runner):
        """Kills what the program left behind; returns (breach reason or None, container still clean)."""
        strays = live_pids({os.getpid(), self.zygote_pid, runner.pid})
        killed_all = kill_everything_but({os.getpid(), self.zygote_pid})
        emptied = empty_scratch_dirs()
        zygote_alive = zygote_intact(self.zygote_pid)
        clean = killed_all and emptied and zygote_alive
        if not zygote_alive:
            return "the program killed the judge's process (sandbox replaced)", clean
        if not killed_all:
            return "processes started by the program survived SIGKILL (sandbox replaced)", clean
        if not emptied:
            return "the program left files the judge could not remove (sandbox replaced)", clean
        if strays:
            return "the program left %d process(es) running in the background" % len(strays), clean
        return None, clean

    def serve(self):
        wire.write_frame(1, {"op": "hello", "protocol": PROTOCOL_VERSION, "python": sys.version.split()[0],
                             "numpy": numpy.__version__, "uid": os.getuid()})
        while True:
            request = wire.read_frame(0, MAX_HOST_FRAME)
            if request is None:
                return
            op = request.get("op") if isinstance(request, dict) else None
            if op == "ping":
                wire.write_frame(1, {"op": "pong", "id": request.get("id")})
            elif op == "run":
                if not self.handle_run(request):
                    return  # no longer trustworthy: the host replaces this container
            else:
                raise wire.FrameError("unknown request %r" % (op,))


def main():
    if os.getpid() != 1:
        # Cleaning up means killing every other process it can see: only safe as a namespace's init.
        sys.stderr.write("restem judge: must run as PID 1 of its own PID namespace (a container)\n")
        sys.exit(2)
    make_undumpable()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # orphans re-parented to PID 1 are reaped
    # As the namespace's init, only signals with a handler reach this process: Python's
    # SIGINT handler is the one a program could use to stop the judge, so ignore it.
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        Server().serve()
    except wire.FrameError as error:
        sys.stderr.write("restem judge: protocol error: %s\n" % error)
        sys.exit(2)


if __name__ == "__main__":
    main()
