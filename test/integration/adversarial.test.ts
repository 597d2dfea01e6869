// Attacks on the real Docker sandbox. Each attack must be contained: the program is
// killed or fails, the run counts as a failure, a dirty container is replaced, and the
// next program on the same judge is judged normally. A secret expected output checks
// that no channel inside the container reveals what the program should print.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Judge } from "../../src/sandbox/judge";
import { lines, openJudgeOrSkip, problemOf } from "./support";

describe("sandbox judge: adversarial programs (real Docker)", function () {
  this.timeout(300_000);
  let judge: Judge;
  const echo = problemOf({ inputs: ["7\n"], outputs: ["7\n"] });

  before(async function () {
    judge = await openJudgeOrSkip(this, { concurrency: 1, limits: { timeoutS: 2, globalTimeoutS: 6, memoryBytes: 256 << 20 } });
  });
  after(async () => judge?.close());

  /** After every attack, an honest program must still pass on the same judge. */
  afterEach(async () => {
    const verdict = await judge.judge(echo, "print(input())");
    assert.deepEqual(verdict.results, [true], `honest program after attack: ${verdict.error}`);
  });

  async function attack(code: string, problem = echo) {
    const verdict = await judge.judge(problem, code);
    assert.equal(verdict.passed, false, `attack passed: ${code}`);
    return verdict;
  }

  it("contains a fork bomb", async () => {
    const verdict = await attack(lines("import posix", "while True:", "    try:", "        posix.fork()", "    except OSError:", "        pass"));
    assert.ok(verdict.results.every((r) => r === -1), JSON.stringify(verdict));
  });

  it("contains a memory balloon", async () => {
    const verdict = await attack(lines("chunks = []", "while True:", "    chunks.append(bytearray(16 << 20))"));
    assert.deepEqual(verdict.results, [-1]);
    assert.match(verdict.error ?? "", /MemoryError|died/);
  });

  it("caps runaway output without waiting for the time limit", async () => {
    const verdict = await attack(lines("while True:", "    print('x' * 4096)"));
    assert.deepEqual(verdict.results, [-1]);
    // The cap, not a time limit, ended the program. (No wall-clock bound: on a loaded
    // machine the same run can take longer than the 2 s per-test limit in real time.)
    assert.match(verdict.details[0] ?? "", /printed more than/);
    assert.doesNotMatch(verdict.details[0] ?? "", /TimeoutException|global time limit/);
  });

  it("fails a program that leaves a background process and kills it", async () => {
    const code = lines("import posix, time", "if posix.fork() == 0:", "    posix.setsid()", "    time.sleep(600)", "print(input())");
    const verdict = await attack(code);
    assert.deepEqual(verdict.results, [-1]);
    assert.match(verdict.error ?? "", /background/);
    const census = await judge.judge(
      problemOf({ inputs: ["\n"], outputs: ["3\n"] }),
      "import posix\nprint(len([p for p in posix.listdir('/proc') if p.isdigit()]))",
    );
    assert.deepEqual(census.results, [true], "only the server, the zygote and the runner may exist");
  });

  it("replaces the container when the program kills its parent process", async () => {
    const before = judge.stats().replaced;
    const verdict = await attack(lines("import posix", "posix.kill(posix.getppid(), 9)", "print(input())"));
    assert.deepEqual(verdict.results, [-1]);
    assert.match(verdict.error ?? "", /killed the judge/);
    await judge.judge(echo, "print(input())");
    assert.equal(judge.stats().replaced, before + 1);
  });

  it("cannot kill the judge server (PID 1 of the container)", async () => {
    const verdict = await judge.judge(echo, lines("import posix", "for sig in (9, 15, 2, 1):", "    posix.kill(1, sig)", "print(input())"));
    assert.deepEqual(verdict.results, [true]);
  });

  it("has no network", async () => {
    const code = lines(
      "import socket",
      "names = open('/proc/net/dev').read().split('\\n')[2:]",
      "assert all(n.split(':')[0].strip() in ('', 'lo') for n in names), names",
      "s = socket.socket()",
      "s.settimeout(1)",
      "s.connect(('1.1.1.1', 80))",
      "print(input())",
    );
    const verdict = await attack(code);
    assert.deepEqual(verdict.results, [-1]);
    assert.match(verdict.details[0] ?? "", /OSError|unreachable|Errno/);
  });

  it("cannot write outside its scratch directory, and its scratch files are wiped", async () => {
    // (builtins.open is mocked with the test input, as in the APPS evaluator: io.open is the real one.)
    for (const target of ["/opt/restem/judge_server.py", "/etc/passwd", "/new-file"]) {
      const verdict = await attack(lines("import io", `io.open('${target}', 'a').write('x')`, "print(input())"));
      assert.match(verdict.error ?? "", /Read-only|Permission|denied/, target);
    }
    const leave = await judge.judge(echo, lines("import io", "io.open('/tmp/left-behind', 'w').write('x')", "print(input())"));
    assert.deepEqual(leave.results, [true]);
    const look = await judge.judge(problemOf({ inputs: ["\n"], outputs: ["[]\n"] }), "import posix\nprint(posix.listdir('/tmp'))");
    assert.deepEqual(look.results, [true]);
  });

  it("runs as an unprivileged user with no capabilities", async () => {
    const code = lines(
      "import io, posix",
      "status = io.open('/proc/self/status').read()",
      "caps = [l.split()[1] for l in status.splitlines() if l.startswith(('CapEff', 'CapPrm', 'CapBnd'))]",
      "nnp = [l.split()[1] for l in status.splitlines() if l.startswith('NoNewPrivs')]",
      "print(posix.getuid(), posix.getgid(), caps, nnp)",
    );
    const verdict = await judge.judge(
      problemOf({ inputs: ["\n"], outputs: ["65534 65534 ['0000000000000000', '0000000000000000', '0000000000000000'] ['1']\n"] }),
      code,
    );
    assert.deepEqual(verdict.results, [true], verdict.details.join());
  });

  it("cannot find the expected output anywhere it can reach", async () => {
    const secret = `restem-secret-${randomBytes(12).toString("hex")}`;
    const problem = problemOf({ inputs: ["go\n"], outputs: [`${secret}\n`] });
    const hunt = lines(
      "import gc, io, posix, re",
      "pattern = re.compile(rb'restem-secret-[0-9a-f]{24}')",
      "found = []",
      "def grab(path, limit=1 << 22):",
      "    try:",
      "        with io.open(path, 'rb') as f:",
      "            found.extend(pattern.findall(f.read(limit)))",
      "    except Exception:",
      "        pass",
      "for pid in [p for p in posix.listdir('/proc') if p.isdigit()]:",
      "    for leaf in ('environ', 'cmdline', 'mem', 'fd/0', 'fd/1', 'fd/3', 'fd/4', 'stat', 'status', 'maps'):",
      "        grab('/proc/%s/%s' % (pid, leaf))",
      "for directory in ('/tmp', '/dev/shm', '/opt/restem'):",
      "    for name in posix.listdir(directory):",
      "        grab(directory + '/' + name)",
      "for obj in gc.get_objects():",
      "    if isinstance(obj, (str, bytes)):",
      "        data = obj.encode() if isinstance(obj, str) else obj",
      "        found.extend(pattern.findall(data))",
      "try:",
      "    found.extend(pattern.findall(posix.read(0, 1 << 20)))",
      "except Exception:",
      "    pass",
      "print(found[0].decode() if found else 'nothing found')",
    );
    const verdict = await attack(hunt, problem);
    assert.deepEqual(verdict.results, [false], verdict.error ?? "");
  });

  it("survives a program that corrupts the runner's report channel", async () => {
    const code = lines("import posix", "for fd in range(3, 10):", "    try:", "        posix.write(fd, b'999999999999\\n{garbage')", "    except OSError:", "        pass", "print(input())");
    const verdict = await attack(code);
    assert.deepEqual(verdict.results, [-1]);
  });
});
