// The parameterised problem families behind restem's bundled demo (demo/problems and the
// pretraining corpus of demo/model). Each family draws parameters (an operation variant, one or
// two constants, a wording), writes a question, computes test cases with a JavaScript reference,
// and renders Python programs in two voices:
//   - model(): the one terse, canonical style the demo model is pretrained on;
//   - human(): 1-3 correct programs in deliberately different, varied styles (sys.stdin parsing,
//     a main() function, explicit loops, other variable names), standing in for human-written
//     solutions, which rarely look like a model's own outputs.
// Shared by scripts/make-demo-problems.mjs and scripts/train-demo-model.mjs; pure and seeded
// (the generator needs tsc's out/, as the other demo scripts do).

import { createRequire } from "node:module";

/** The project's seeded PRNG (mulberry32 of src/model, from tsc's out/: run `npm run build` first). */
export const seededRandom = createRequire(import.meta.url)("../out/src/model").mulberry32;

export const int = (r, low, high) => low + Math.floor(r() * (high - low + 1));
export const pick = (r, items) => items[Math.floor(r() * items.length)];
const ints = (r, count, low, high) => Array.from({ length: count }, () => int(r, low, high));
const word = (r, low, high) => Array.from({ length: int(r, low, high) }, () => pick(r, "abcdeilmnorst")).join("");
const lines = (...parts) => parts.join("\n");
const indent = (text) => text.split("\n").map((line) => (line === "" ? line : `    ${line}`)).join("\n");

/** The APPS prompt the demo model is pretrained on and restem samples with. */
export function promptOf(question, callBased) {
  return `QUESTION:\n${question}\nUse ${callBased ? "Call-Based" : "Standard Input"} format\nANSWER:\n`;
}

// ---------------------------------------------------------------------------------------------
// Human voices. A human solution is the same computation as the model's, re-expressed: the input
// is read another way, names differ, builtins become loops. `style` is 0, 1 or 2.

const HUMAN_NAMES = [
  { n: "value", a: "nums", s: "text", w: "words", t: "cases", x: "v", acc: "answer" },
  { n: "num", a: "arr", s: "line", w: "tokens", t: "q", x: "item", acc: "res" },
  { n: "N", a: "A", s: "S", w: "parts", t: "T", x: "e", acc: "out" },
];

/** Input reading code for a reader kind, in the model's voice or a human style. */
function readCode(kind, names, style) {
  const { n, a, s, w } = names ?? HUMAN_NAMES[0];
  if (style === "model") {
    return {
      int: `n = int(input())`,
      pair: `a, b = map(int, input().split())`,
      list: lines(`n = int(input())`, `a = list(map(int, input().split()))`),
      str: `s = input()`,
      words: `w = input().split()`,
    }[kind];
  }
  if (style === 0) {
    return {
      int: lines("import sys", `${n} = int(sys.stdin.readline())`),
      pair: lines("import sys", `first, second = [int(tok) for tok in sys.stdin.readline().split()]`),
      list: lines("import sys", "data = sys.stdin.read().split()", `${n} = int(data[0])`, `${a} = [int(tok) for tok in data[1:${n} + 1]]`),
      str: lines("import sys", `${s} = sys.stdin.readline().rstrip("\\n")`),
      words: lines("import sys", `${w} = sys.stdin.readline().split()`),
    }[kind];
  }
  return {
    int: `${n} = int(input().strip())`,
    pair: lines(`line = input().split()`, `first = int(line[0])`, `second = int(line[1])`),
    list: lines(`${n} = int(input().strip())`, `${a} = [int(tok) for tok in input().split()]`),
    str: `${s} = input().rstrip("\\n")`,
    words: `${w} = input().strip().split()`,
  }[kind];
}

/** Wraps reading + body into a whole program for one human style. */
function humanProgram(kind, style, body) {
  const names = HUMAN_NAMES[style];
  const read = readCode(kind, names, style);
  const code = body(names, style);
  if (style === 1) {
    return lines("def main():", indent(read), indent(code), "", "", "main()");
  }
  return lines(read, code);
}

/** Picks 1-3 distinct human styles and renders them. */
function humanPrograms(r, kind, body) {
  const styles = [0, 1, 2].sort(() => r() - 0.5).slice(0, int(r, 1, 3));
  return styles.map((style) => humanProgram(kind, style, body));
}

const fmt = (value) => `${value}\n`;
const joinOut = (values) => `${values.join(" ")}\n`;

// ---------------------------------------------------------------------------------------------
// Families. draw(r) -> params (with .key: identity without wording, .q: the wording index);
// question(p); tests(p, r) -> [{input, output}] (stdin) or [{args, result}] (call-based);
// model(p) -> code; human(p, r) -> [code].

const INT_OPS = [
  { text: (c) => `n plus ${c}`, py: (n, c) => `${n} + ${c}`, js: (n, c) => n + c },
  { text: (c) => `n minus ${c}`, py: (n, c) => `${n} - ${c}`, js: (n, c) => n - c },
  { text: (c) => `n multiplied by ${c}`, py: (n, c) => `${n} * ${c}`, js: (n, c) => n * c },
  { text: (c) => `the remainder of n divided by ${c}`, py: (n, c) => `${n} % ${c}`, js: (n, c) => n % c },
  { text: (c) => `n divided by ${c}, rounded down`, py: (n, c) => `${n} // ${c}`, js: (n, c) => Math.floor(n / c) },
];

const intArith = {
  name: "int-arith",
  difficulty: "introductory",
  weight: 3,
  draw: (r) => ({ v: int(r, 0, INT_OPS.length - 1), c: int(r, 2, 60), q: int(r, 0, 2) }),
  question: ({ v, c, q }) =>
    [
      `Read an integer n and print ${INT_OPS[v].text(c)}.`,
      `You are given one non-negative integer n. Output ${INT_OPS[v].text(c)}.`,
      `The input is a single integer n (0 <= n <= 1000). Print the value of ${INT_OPS[v].text(c)}.`,
    ][q],
  tests: ({ v, c }, r) => ints(r, 5, 0, 1000).map((n) => ({ input: fmt(n), output: fmt(INT_OPS[v].js(n, c)) })),
  model: ({ v, c }) => lines(readCode("int", null, "model"), `print(${INT_OPS[v].py("n", c)})`),
  human: ({ v, c }, r) =>
    humanPrograms(r, "int", (names, style) =>
      style === 2 ? lines(`${names.acc} = ${INT_OPS[v].py(names.n, c)}`, `print(${names.acc})`) : `print(${INT_OPS[v].py(names.n, c)})`,
    ),
};

const PAIR_OPS = [
  { text: (c) => `the sum of a and b plus ${c}`, py: (c) => `a + b + ${c}`, js: (a, b, c) => a + b + c },
  { text: (c) => `a times b minus ${c}`, py: (c) => `a * b - ${c}`, js: (a, b, c) => a * b - c },
  { text: (c) => `the larger of a and b multiplied by ${c}`, py: (c) => `max(a, b) * ${c}`, js: (a, b, c) => Math.max(a, b) * c },
  { text: (c) => `the smaller of a and b plus ${c}`, py: (c) => `min(a, b) + ${c}`, js: (a, b, c) => Math.min(a, b) + c },
  { text: (c) => `the absolute difference of a and b plus ${c}`, py: (c) => `abs(a - b) + ${c}`, js: (a, b, c) => Math.abs(a - b) + c },
];

const pairArith = {
  name: "pair-arith",
  difficulty: "introductory",
  weight: 3,
  draw: (r) => ({ v: int(r, 0, PAIR_OPS.length - 1), c: int(r, 1, 60), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [
      `Read two integers a and b on one line and print ${PAIR_OPS[v].text(c)}.`,
      `The only line of input has two integers a and b separated by a space. Output ${PAIR_OPS[v].text(c)}.`,
    ][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const [a, b] = ints(r, 2, -50, 100);
      return { input: `${a} ${b}\n`, output: fmt(PAIR_OPS[v].js(a, b, c)) };
    }),
  model: ({ v, c }) => lines(readCode("pair", null, "model"), `print(${PAIR_OPS[v].py(c)})`),
  human: ({ v, c }, r) =>
    humanPrograms(r, "pair", () => {
      const expr = PAIR_OPS[v].py(c).replace(/\ba\b/g, "first").replace(/\bb\b/g, "second");
      return `print(${expr})`;
    }),
};

const LIST_OPS = [
  {
    text: (c) => `the sum of the numbers plus ${c}`,
    model: (c) => `print(sum(a) + ${c})`,
    human: (c, N) => lines(`${N.acc} = ${c}`, `for ${N.x} in ${N.a}:`, `    ${N.acc} += ${N.x}`, `print(${N.acc})`),
    js: (a, c) => a.reduce((s, x) => s + x, 0) + c,
  },
  {
    text: (c) => `the largest number multiplied by ${c}`,
    model: (c) => `print(max(a) * ${c})`,
    human: (c, N) => lines(`${N.acc} = ${N.a}[0]`, `for ${N.x} in ${N.a}:`, `    if ${N.x} > ${N.acc}:`, `        ${N.acc} = ${N.x}`, `print(${N.acc} * ${c})`),
    js: (a, c) => Math.max(...a) * c,
  },
  {
    text: (c) => `the smallest number minus ${c}`,
    model: (c) => `print(min(a) - ${c})`,
    human: (c, N) => lines(`${N.a}.sort()`, `print(${N.a}[0] - ${c})`),
    js: (a, c) => Math.min(...a) - c,
  },
  {
    text: (c) => `how many of the numbers are greater than ${c}`,
    model: (c) => `print(len([x for x in a if x > ${c}]))`,
    human: (c, N) => lines(`${N.acc} = 0`, `for ${N.x} in ${N.a}:`, `    if ${N.x} > ${c}:`, `        ${N.acc} += 1`, `print(${N.acc})`),
    js: (a, c) => a.filter((x) => x > c).length,
  },
  {
    text: (c) => `the sum of the numbers that are less than ${c}`,
    model: (c) => `print(sum([x for x in a if x < ${c}]))`,
    human: (c, N) => `print(sum(${N.x} for ${N.x} in ${N.a} if ${N.x} < ${c}))`,
    js: (a, c) => a.filter((x) => x < c).reduce((s, x) => s + x, 0),
  },
];

const listReduce = {
  name: "list-reduce",
  difficulty: "introductory",
  weight: 3,
  draw: (r) => ({ v: int(r, 0, LIST_OPS.length - 1), c: int(r, 1, 60), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [
      `The first line contains n. The second line contains n integers. Print ${LIST_OPS[v].text(c)}.`,
      `You are given a list of n integers (n on the first line, the list on the second). Output ${LIST_OPS[v].text(c)}.`,
    ][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const a = ints(r, int(r, 1, 8), 0, 99);
      return { input: `${a.length}\n${a.join(" ")}\n`, output: fmt(LIST_OPS[v].js(a, c)) };
    }),
  model: ({ v, c }) => lines(readCode("list", null, "model"), LIST_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "list", (N) => LIST_OPS[v].human(c, N)),
};

const pyRepeatSlice = (s, c) => s.slice(Math.max(0, s.length - c));
const STR_OPS = [
  { text: () => `the string reversed`, model: () => `print(s[::-1])`, human: (c, N) => `print("".join(reversed(${N.s})))`, js: (s) => s.split("").reverse().join("") },
  { text: () => `the string in upper case`, model: () => `print(s.upper())`, human: (c, N) => `print(${N.s}.upper())`, js: (s) => s.toUpperCase() },
  { text: (c) => `the first ${c} characters of the string`, model: (c) => `print(s[:${c}])`, human: (c, N) => `print(${N.s}[0:${c}])`, js: (s, c) => s.slice(0, c) },
  { text: (c) => `the last ${c} characters of the string`, model: (c) => `print(s[-${c}:])`, human: (c, N) => `print(${N.s}[max(0, len(${N.s}) - ${c}):])`, js: pyRepeatSlice },
  { text: (c) => `the string repeated ${c} times`, model: (c) => `print(s * ${c})`, human: (c, N) => lines(`${N.acc} = ""`, `for _ in range(${c}):`, `    ${N.acc} += ${N.s}`, `print(${N.acc})`), js: (s, c) => s.repeat(c) },
  { text: (c) => `the length of the string plus ${c}`, model: (c) => `print(len(s) + ${c})`, human: (c, N) => `print(${c} + len(${N.s}))`, js: (s, c) => s.length + c },
];

const stringBasic = {
  name: "string-basic",
  difficulty: "introductory",
  weight: 3,
  draw: (r) => {
    const v = int(r, 0, STR_OPS.length - 1);
    return { v, c: v < 2 ? 0 : int(r, 2, 9), q: int(r, 0, 2) };
  },
  question: ({ v, c, q }) =>
    [
      `Read a string s of lowercase letters and print ${STR_OPS[v].text(c)}.`,
      `A single word is given. Output ${STR_OPS[v].text(c)}.`,
      `You are given a word made of lowercase letters. Print ${STR_OPS[v].text(c)}.`,
    ][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const s = word(r, 1, 10);
      return { input: `${s}\n`, output: fmt(STR_OPS[v].js(s, c)) };
    }),
  model: ({ v, c }) => lines(readCode("str", null, "model"), STR_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "str", (N) => STR_OPS[v].human(c, N)),
};

const LETTERS = "abcdeilmnorst";
const CHAR_OPS = [
  { text: (x) => `how many times the letter ${x} appears in it`, model: (x) => `print(s.count('${x}'))`, human: (x, N) => lines(`${N.acc} = 0`, `for ch in ${N.s}:`, `    if ch == "${x}":`, `        ${N.acc} += 1`, `print(${N.acc})`), js: (s, x) => s.split(x).length - 1 },
  { text: (x) => `how many of its letters are not ${x}`, model: (x) => `print(len(s) - s.count('${x}'))`, human: (x, N) => `print(len([ch for ch in ${N.s} if ch != "${x}"]))`, js: (s, x) => s.length - (s.split(x).length - 1) },
  { text: (x) => `the string with every letter ${x} removed`, model: (x) => `print(s.replace('${x}', ''))`, human: (x, N) => `print("".join(ch for ch in ${N.s} if ch != "${x}"))`, js: (s, x) => s.split(x).join("") },
  { text: (x, y) => `the string with every letter ${x} replaced by ${y}`, model: (x, y) => `print(s.replace('${x}', '${y}'))`, human: (x, y, N) => `print(${N.s}.replace("${x}", "${y}"))`, js: (s, x, y) => s.split(x).join(y) },
];

const countChar = {
  name: "count-char",
  difficulty: "introductory",
  weight: 3,
  draw: (r) => {
    const x = pick(r, LETTERS);
    const y = pick(r, "xyz");
    return { v: int(r, 0, CHAR_OPS.length - 1), x, y, q: int(r, 0, 1) };
  },
  question: ({ v, x, y, q }) =>
    [`Read a string of lowercase letters and print ${CHAR_OPS[v].text(x, y)}.`, `You are given a word. Output ${CHAR_OPS[v].text(x, y)}.`][q],
  tests: ({ v, x, y }, r) =>
    Array.from({ length: 5 }, (_, i) => {
      const s = word(r, 1, 12) + (i % 2 === 0 ? x : "");
      return { input: `${s}\n`, output: fmt(CHAR_OPS[v].js(s, x, y)) };
    }),
  model: ({ v, x, y }) => lines(readCode("str", null, "model"), CHAR_OPS[v].model(x, y)),
  human: ({ v, x, y }, r) => humanPrograms(r, "str", (N) => (v === 3 ? CHAR_OPS[v].human(x, y, N) : CHAR_OPS[v].human(x, N))),
};

const YES_NO = [["YES", "NO"], ["Yes", "No"], ["yes", "no"]];
const CONDITIONS = [
  { text: (c) => `n is divisible by ${c}`, py: (n, c) => `${n} % ${c} == 0`, js: (n, c) => n % c === 0 },
  { text: (c) => `n is greater than ${c}`, py: (n, c) => `${n} > ${c}`, js: (n, c) => n > c },
  { text: (c) => `n is at most ${c}`, py: (n, c) => `${n} <= ${c}`, js: (n, c) => n <= c },
  { text: (c) => `the last digit of n is ${c % 10}`, py: (n, c) => `${n} % 10 == ${c % 10}`, js: (n, c) => n % 10 === c % 10 },
];

const yesNo = {
  name: "yes-no",
  difficulty: "introductory",
  weight: 3,
  draw: (r) => ({ v: int(r, 0, CONDITIONS.length - 1), c: int(r, 2, 60), y: int(r, 0, 2), q: int(r, 0, 1) }),
  question: ({ v, c, y, q }) =>
    [
      `Read an integer n. Print ${YES_NO[y][0]} if ${CONDITIONS[v].text(c)}, otherwise print ${YES_NO[y][1]}.`,
      `Given a non-negative integer n, output ${YES_NO[y][0]} when ${CONDITIONS[v].text(c)} and ${YES_NO[y][1]} otherwise.`,
    ][q],
  tests: ({ v, c, y }, r) =>
    Array.from({ length: 6 }, (_, i) => {
      const n = i === 0 ? c : i === 1 ? c * 3 : int(r, 0, 200);
      return { input: fmt(n), output: fmt(YES_NO[y][CONDITIONS[v].js(n, c) ? 0 : 1]) };
    }),
  model: ({ v, c, y }) =>
    lines(readCode("int", null, "model"), `if ${CONDITIONS[v].py("n", c)}:`, `    print("${YES_NO[y][0]}")`, "else:", `    print("${YES_NO[y][1]}")`),
  human: ({ v, c, y }, r) =>
    humanPrograms(r, "int", (N, style) =>
      style === 0
        ? `print("${YES_NO[y][0]}" if ${CONDITIONS[v].py(N.n, c)} else "${YES_NO[y][1]}")`
        : lines(`ok = ${CONDITIONS[v].py(N.n, c)}`, `print(["${YES_NO[y][1]}", "${YES_NO[y][0]}"][ok])`),
    ),
};

const RANGE_OPS = [
  {
    text: (c) => `the sum of all integers from 1 to n that are divisible by ${c}`,
    model: (c) => lines("total = 0", "for i in range(1, n + 1):", `    if i % ${c} == 0:`, "        total += i", "print(total)"),
    human: (c, N) => `print(sum(range(${c}, ${N.n} + 1, ${c})))`,
    js: (n, c) => { let t = 0; for (let i = 1; i <= n; i++) if (i % c === 0) t += i; return t; },
  },
  {
    text: (c) => `how many integers from 1 to n are not divisible by ${c}`,
    model: (c) => lines("total = 0", "for i in range(1, n + 1):", `    if i % ${c} != 0:`, "        total += 1", "print(total)"),
    human: (c, N) => `print(${N.n} - ${N.n} // ${c})`,
    js: (n, c) => n - Math.floor(n / c),
  },
  {
    text: (c) => `the sum of the squares of the integers from 1 to n, modulo ${c}`,
    model: (c) => lines("total = 0", "for i in range(1, n + 1):", "    total += i * i", `print(total % ${c})`),
    human: (c, N) => lines(`${N.acc} = 0`, `i = 1`, `while i <= ${N.n}:`, `    ${N.acc} = (${N.acc} + i * i) % ${c}`, `    i += 1`, `print(${N.acc})`),
    js: (n, c) => { let t = 0; for (let i = 1; i <= n; i++) t += i * i; return t % c; },
  },
  {
    text: (c) => `the product of the integers from 1 to n, modulo ${c}`,
    model: (c) => lines("total = 1", "for i in range(1, n + 1):", `    total = total * i % ${c}`, "print(total)"),
    human: (c, N) => lines("import math", `print(math.factorial(${N.n}) % ${c})`),
    js: (n, c) => { let t = 1 % c; for (let i = 1; i <= n; i++) t = (t * i) % c; return t; },
  },
];

const rangeLoop = {
  name: "range-loop",
  difficulty: "interview",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, RANGE_OPS.length - 1), c: int(r, 2, 40), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [`Read an integer n and print ${RANGE_OPS[v].text(c)}.`, `The input is one positive integer n (at most 100). Output ${RANGE_OPS[v].text(c)}.`][q],
  tests: ({ v, c }, r) => [int(r, 1, 9), int(r, 10, 40), int(r, 41, 100), int(r, 1, 100), c].map((n) => ({ input: fmt(n), output: fmt(RANGE_OPS[v].js(n, c)) })),
  model: ({ v, c }) => lines(readCode("int", null, "model"), RANGE_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "int", (N) => RANGE_OPS[v].human(c, N)),
};

const MAP_OPS = [
  { text: (c) => `every number multiplied by ${c}`, model: (c) => `print(' '.join([str(x * ${c}) for x in a]))`, human: (c, N) => `print(*[${N.x} * ${c} for ${N.x} in ${N.a}])`, js: (a, c) => a.map((x) => x * c) },
  { text: (c) => `every number increased by ${c}`, model: (c) => `print(' '.join([str(x + ${c}) for x in a]))`, human: (c, N) => lines(`${N.acc} = []`, `for ${N.x} in ${N.a}:`, `    ${N.acc}.append(str(${N.x} + ${c}))`, `print(" ".join(${N.acc}))`), js: (a, c) => a.map((x) => x + c) },
  { text: (c) => `the remainder of every number divided by ${c}`, model: (c) => `print(' '.join([str(x % ${c}) for x in a]))`, human: (c, N) => `print(" ".join(map(lambda ${N.x}: str(${N.x} % ${c}), ${N.a})))`, js: (a, c) => a.map((x) => x % c) },
  { text: (c) => `the numbers in ascending order, each minus ${c}`, model: (c) => `print(' '.join([str(x - ${c}) for x in sorted(a)]))`, human: (c, N) => lines(`${N.a}.sort()`, `print(*[${N.x} - ${c} for ${N.x} in ${N.a}])`), js: (a, c) => [...a].sort((p, q) => p - q).map((x) => x - c) },
  { text: (c) => `the numbers in reverse order, each plus ${c}`, model: (c) => `print(' '.join([str(x + ${c}) for x in a[::-1]]))`, human: (c, N) => lines(`${N.a}.reverse()`, `print(" ".join(str(${N.x} + ${c}) for ${N.x} in ${N.a}))`), js: (a, c) => [...a].reverse().map((x) => x + c) },
];

const listMap = {
  name: "list-map",
  difficulty: "interview",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, MAP_OPS.length - 1), c: int(r, 2, 30), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [
      `The first line contains n, the second line n integers. Print ${MAP_OPS[v].text(c)}, separated by spaces.`,
      `Given n and then a line of n integers, output ${MAP_OPS[v].text(c)} on one line, separated by single spaces.`,
    ][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const a = ints(r, int(r, 1, 7), 0, 50);
      return { input: `${a.length}\n${a.join(" ")}\n`, output: joinOut(MAP_OPS[v].js(a, c)) };
    }),
  model: ({ v, c }) => lines(readCode("list", null, "model"), MAP_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "list", (N) => MAP_OPS[v].human(c, N)),
};

const WORD_OPS = [
  { text: (c) => `how many words are longer than ${c} letters`, model: (c) => `print(len([x for x in w if len(x) > ${c}]))`, human: (c, N) => lines(`${N.acc} = 0`, `for tok in ${N.w}:`, `    if len(tok) > ${c}:`, `        ${N.acc} += 1`, `print(${N.acc})`), js: (w, c) => w.filter((x) => x.length > c).length },
  { text: (c) => `the first ${c} words, separated by spaces`, model: (c) => `print(' '.join(w[:${c}]))`, human: (c, N) => `print(*${N.w}[:${c}])`, js: (w, c) => w.slice(0, c).join(" ") },
  { text: (c, x) => `how many words start with the letter ${x}`, model: (c, x) => `print(len([x for x in w if x[0] == '${x}']))`, human: (c, x, N) => `print(sum(1 for tok in ${N.w} if tok.startswith("${x}")))`, js: (w, c, x) => w.filter((t) => t[0] === x).length },
  { text: (c) => `the words in reverse order, separated by spaces, followed by the number ${c}`, model: (c) => `print(' '.join(w[::-1]), ${c})`, human: (c, N) => lines(`${N.w}.reverse()`, `print(" ".join(${N.w}) + " ${c}")`), js: (w, c) => `${[...w].reverse().join(" ")} ${c}` },
];

const wordOps = {
  name: "words",
  difficulty: "interview",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, WORD_OPS.length - 1), c: int(r, 1, 6), x: pick(r, "abcdlmst"), q: int(r, 0, 1) }),
  question: ({ v, c, x, q }) =>
    [`Read a line of words separated by spaces and print ${WORD_OPS[v].text(c, x)}.`, `A line of lowercase words is given. Output ${WORD_OPS[v].text(c, x)}.`][q],
  tests: ({ v, c, x }, r) =>
    Array.from({ length: 5 }, () => {
      const w = Array.from({ length: int(r, 1, 7) }, () => (r() < 0.3 ? x : "") + word(r, 1, 8));
      return { input: `${w.join(" ")}\n`, output: fmt(WORD_OPS[v].js(w, c, x)) };
    }),
  model: ({ v, c, x }) => lines(readCode("words", null, "model"), WORD_OPS[v].model(c, x)),
  human: ({ v, c, x }, r) => humanPrograms(r, "words", (N) => (v === 2 ? WORD_OPS[v].human(c, x, N) : WORD_OPS[v].human(c, N))),
};

const DIGIT_OPS = [
  { text: (c) => `the sum of the digits of n plus ${c}`, model: (c) => `print(sum([int(d) for d in str(n)]) + ${c})`, human: (c, N) => lines(`${N.acc} = ${c}`, `while ${N.n} > 0:`, `    ${N.acc} += ${N.n} % 10`, `    ${N.n} //= 10`, `print(${N.acc})`), js: (n, c) => String(n).split("").reduce((s, d) => s + Number(d), 0) + c },
  { text: (c) => `how many digits of n are equal to ${c % 10}`, model: (c) => `print(str(n).count('${c % 10}'))`, human: (c, N) => `print(len([d for d in str(${N.n}) if d == "${c % 10}"]))`, js: (n, c) => String(n).split(String(c % 10)).length - 1 },
  { text: (c) => `the number of digits of n multiplied by ${c}`, model: (c) => `print(len(str(n)) * ${c})`, human: (c, N) => `print(${c} * len(str(${N.n})))`, js: (n, c) => String(n).length * c },
  { text: (c) => `the largest digit of n plus ${c}`, model: (c) => `print(max([int(d) for d in str(n)]) + ${c})`, human: (c, N) => `print(int(max(str(${N.n}))) + ${c})`, js: (n, c) => Math.max(...String(n).split("").map(Number)) + c },
];

const digitOps = {
  name: "digits",
  difficulty: "interview",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, DIGIT_OPS.length - 1), c: int(r, 1, 40), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [`Read a positive integer n and print ${DIGIT_OPS[v].text(c)}.`, `You are given an integer n (1 <= n <= 10^9). Output ${DIGIT_OPS[v].text(c)}.`][q],
  tests: ({ v, c }, r) => [int(r, 1, 9), int(r, 10, 999), int(r, 1000, 99999), int(r, 100000, 999999999), c % 10 === 0 ? 100 : (c % 10) * 111].map((n) => ({ input: fmt(n), output: fmt(DIGIT_OPS[v].js(n, c)) })),
  model: ({ v, c }) => lines(readCode("int", null, "model"), DIGIT_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "int", (N) => DIGIT_OPS[v].human(c, N)),
};

const CASE_OPS = [
  { text: (c) => `a + b + ${c}`, py: (c) => `a + b + ${c}`, js: (a, b, c) => a + b + c },
  { text: (c) => `a * b + ${c}`, py: (c) => `a * b + ${c}`, js: (a, b, c) => a * b + c },
  { text: (c) => `the maximum of a and b, minus ${c}`, py: (c) => `max(a, b) - ${c}`, js: (a, b, c) => Math.max(a, b) - c },
  { text: (c) => `(a - b) * ${c}`, py: (c) => `(a - b) * ${c}`, js: (a, b, c) => (a - b) * c },
];

const multiCase = {
  name: "multi-case",
  difficulty: "interview",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, CASE_OPS.length - 1), c: int(r, 1, 50), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [
      `The first line contains t. Each of the next t lines contains two integers a and b. For each line print ${CASE_OPS[v].text(c)}.`,
      `There are t test cases (t is on the first line). Each test case is a line with integers a and b. Output ${CASE_OPS[v].text(c)} for each test case on its own line.`,
    ][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 4 }, () => {
      const pairs = Array.from({ length: int(r, 1, 4) }, () => ints(r, 2, 0, 60));
      return { input: `${pairs.length}\n${pairs.map((p) => p.join(" ")).join("\n")}\n`, output: `${pairs.map(([a, b]) => CASE_OPS[v].js(a, b, c)).join("\n")}\n` };
    }),
  model: ({ v, c }) => lines("t = int(input())", "for _ in range(t):", "    a, b = map(int, input().split())", `    print(${CASE_OPS[v].py(c)})`),
  human: ({ v, c }, r) => {
    const expr = CASE_OPS[v].py(c);
    const all = [
      lines("import sys", "data = sys.stdin.read().split()", "t = int(data[0])", "out = []", "for i in range(t):", "    a = int(data[1 + 2 * i])", "    b = int(data[2 + 2 * i])", `    out.append(str(${expr}))`, 'print("\\n".join(out))'),
      lines("def main():", "    cases = int(input())", "    while cases > 0:", "        a, b = [int(v) for v in input().split()]", `        print(${expr})`, "        cases -= 1", "", "", "main()"),
      lines("T = int(input())", "res = []", "for _ in range(T):", "    x, y = map(int, input().split())", `    res.append(${expr.replace(/\ba\b/g, "x").replace(/\bb\b/g, "y")})`, "for value in res:", "    print(value)"),
    ];
    return all.sort(() => r() - 0.5).slice(0, int(r, 1, 3));
  },
};

const STAT_OPS = [
  { text: (c) => `the difference between the largest and the smallest number, multiplied by ${c}`, model: (c) => `print((max(a) - min(a)) * ${c})`, human: (c, N) => lines(`${N.a}.sort()`, `print((${N.a}[-1] - ${N.a}[0]) * ${c})`), js: (a, c) => (Math.max(...a) - Math.min(...a)) * c },
  { text: (c) => `how many times the largest number occurs, plus ${c}`, model: (c) => `print(a.count(max(a)) + ${c})`, human: (c, N) => lines(`top = max(${N.a})`, `print(len([${N.x} for ${N.x} in ${N.a} if ${N.x} == top]) + ${c})`), js: (a, c) => a.filter((x) => x === Math.max(...a)).length + c },
  { text: (c) => `the 1-based position of the first occurrence of the smallest number, plus ${c}`, model: (c) => `print(a.index(min(a)) + 1 + ${c})`, human: (c, N) => lines("best = 0", `for i in range(len(${N.a})):`, `    if ${N.a}[i] < ${N.a}[best]:`, "        best = i", `print(best + 1 + ${c})`), js: (a, c) => a.indexOf(Math.min(...a)) + 1 + c },
  { text: (c) => `the sum of the numbers at odd positions (1st, 3rd, ...) plus ${c}`, model: (c) => `print(sum(a[::2]) + ${c})`, human: (c, N) => lines(`${N.acc} = ${c}`, `for i in range(0, len(${N.a}), 2):`, `    ${N.acc} += ${N.a}[i]`, `print(${N.acc})`), js: (a, c) => a.filter((_, i) => i % 2 === 0).reduce((s, x) => s + x, 0) + c },
];

const listStats = {
  name: "list-stats",
  difficulty: "interview",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, STAT_OPS.length - 1), c: int(r, 1, 30), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [`The first line contains n and the second line n integers. Print ${STAT_OPS[v].text(c)}.`, `Read n, then n integers on one line. Output ${STAT_OPS[v].text(c)}.`][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const a = ints(r, int(r, 1, 8), 0, 9);
      return { input: `${a.length}\n${a.join(" ")}\n`, output: fmt(STAT_OPS[v].js(a, c)) };
    }),
  model: ({ v, c }) => lines(readCode("list", null, "model"), STAT_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "list", (N) => STAT_OPS[v].human(c, N)),
};

// Competition-level families: longer programs with state across a loop.

const SCAN_OPS = [
  {
    text: (c) => `the prefix sums of the list, each taken modulo ${c}, separated by spaces`,
    model: (c) => lines("s = 0", "res = []", "for x in a:", `    s = (s + x) % ${c}`, "    res.append(str(s))", "print(' '.join(res))"),
    human: (c, N) => lines("import itertools", `print(*[p % ${c} for p in itertools.accumulate(${N.a})])`),
    js: (a, c) => { let s = 0; return joinOut(a.map((x) => (s = (s + x) % c))); },
  },
  {
    text: (c) => `the length of the longest block of consecutive numbers that are all greater than ${c}`,
    model: (c) => lines("best = 0", "cur = 0", "for x in a:", `    if x > ${c}:`, "        cur += 1", "        best = max(best, cur)", "    else:", "        cur = 0", "print(best)"),
    human: (c, N) => lines(`${N.acc} = 0`, "run = 0", `for ${N.x} in ${N.a}:`, `    run = run + 1 if ${N.x} > ${c} else 0`, `    ${N.acc} = max(${N.acc}, run)`, `print(${N.acc})`),
    js: (a, c) => { let best = 0, cur = 0; for (const x of a) { cur = x > c ? cur + 1 : 0; best = Math.max(best, cur); } return fmt(best); },
  },
  {
    text: (c) => `how many pairs of positions i < j have a[i] + a[j] equal to ${c}`,
    model: (c) => lines("total = 0", "for i in range(n):", "    for j in range(i + 1, n):", `        if a[i] + a[j] == ${c}:`, "            total += 1", "print(total)"),
    human: (c, N) => lines("from collections import Counter", "seen = Counter()", `${N.acc} = 0`, `for ${N.x} in ${N.a}:`, `    ${N.acc} += seen[${c} - ${N.x}]`, `    seen[${N.x}] += 1`, `print(${N.acc})`),
    js: (a, c) => { let t = 0; for (let i = 0; i < a.length; i++) for (let j = i + 1; j < a.length; j++) if (a[i] + a[j] === c) t++; return fmt(t); },
  },
  {
    text: (c) => `the running maximum of the list plus ${c} at each position, separated by spaces`,
    model: (c) => lines("best = a[0]", "res = []", "for x in a:", "    best = max(best, x)", `    res.append(str(best + ${c}))`, "print(' '.join(res))"),
    human: (c, N) => lines(`${N.acc} = []`, `for i in range(len(${N.a})):`, `    ${N.acc}.append(max(${N.a}[:i + 1]) + ${c})`, `print(" ".join(map(str, ${N.acc})))`),
    js: (a, c) => { let best = a[0]; return joinOut(a.map((x) => (best = Math.max(best, x)) + c)); },
  },
  {
    text: (c) => `how many pairs of positions i < j have a[i] * a[j] divisible by ${c}`,
    model: (c) => lines("total = 0", "for i in range(n):", "    for j in range(i + 1, n):", `        if a[i] * a[j] % ${c} == 0:`, "            total += 1", "print(total)"),
    human: (c, N) => lines("from itertools import combinations", `print(sum(1 for p, q in combinations(${N.a}, 2) if (p * q) % ${c} == 0))`),
    js: (a, c) => { let t = 0; for (let i = 0; i < a.length; i++) for (let j = i + 1; j < a.length; j++) if ((a[i] * a[j]) % c === 0) t++; return fmt(t); },
  },
];

const listScan = {
  name: "list-scan",
  difficulty: "competition",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, SCAN_OPS.length - 1), c: int(r, 2, 20), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [`The first line contains n, the second line n integers a[0..n-1]. Print ${SCAN_OPS[v].text(c)}.`, `You are given n (first line) and a list a of n integers (second line). Output ${SCAN_OPS[v].text(c)}.`][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const a = ints(r, int(r, 1, 9), 0, 20);
      return { input: `${a.length}\n${a.join(" ")}\n`, output: SCAN_OPS[v].js(a, c) };
    }),
  model: ({ v, c }) => lines(readCode("list", null, "model"), SCAN_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "list", (N) => SCAN_OPS[v].human(c, N)),
};

const isPrime = (k) => { if (k < 2) return false; for (let d = 2; d * d <= k; d++) if (k % d === 0) return false; return true; };
const NUMBER_OPS = [
  {
    text: (c) => `how many prime numbers are between ${c} and n inclusive`,
    model: (c) => lines("total = 0", `for i in range(${c}, n + 1):`, "    if i > 1 and all(i % d != 0 for d in range(2, int(i ** 0.5) + 1)):", "        total += 1", "print(total)"),
    human: (c, N) => lines(`sieve = [True] * (${N.n} + 2)`, `${N.acc} = 0`, `for i in range(2, ${N.n} + 1):`, "    if sieve[i]:", `        if i >= ${c}:`, `            ${N.acc} += 1`, `        for j in range(i * i, ${N.n} + 1, i):`, "            sieve[j] = False", `print(${N.acc})`),
    js: (n, c) => { let t = 0; for (let i = c; i <= n; i++) if (isPrime(i)) t++; return t; },
  },
  {
    text: (c) => `the number of divisors of n plus ${c}`,
    model: (c) => lines("total = 0", "for d in range(1, n + 1):", "    if n % d == 0:", "        total += 1", `print(total + ${c})`),
    human: (c, N) => `print(len([d for d in range(1, ${N.n} + 1) if ${N.n} % d == 0]) + ${c})`,
    js: (n, c) => { let t = 0; for (let d = 1; d <= n; d++) if (n % d === 0) t++; return t + c; },
  },
  {
    text: (c) => `the greatest common divisor of n and ${c}`,
    model: (c) => lines(`a, b = n, ${c}`, "while b:", "    a, b = b, a % b", "print(a)"),
    human: (c, N) => lines("import math", `print(math.gcd(${N.n}, ${c}))`),
    js: (n, c) => { let a = n, b = c; while (b) [a, b] = [b, a % b]; return a; },
  },
  {
    text: (c) => `the number of steps to reach 1 from n, where each step halves an even number and replaces an odd number x by 3x + 1, plus ${c}`,
    model: (c) => lines("steps = 0", "while n != 1:", "    if n % 2 == 0:", "        n = n // 2", "    else:", "        n = 3 * n + 1", "    steps += 1", `print(steps + ${c})`),
    human: (c, N) => lines(`${N.acc} = ${c}`, `while ${N.n} > 1:`, `    ${N.n} = ${N.n} // 2 if ${N.n} % 2 == 0 else 3 * ${N.n} + 1`, `    ${N.acc} += 1`, `print(${N.acc})`),
    js: (n, c) => { let s = 0; while (n !== 1) { n = n % 2 === 0 ? n / 2 : 3 * n + 1; s++; } return s + c; },
  },
];

const numberTheory = {
  name: "number-theory",
  difficulty: "competition",
  weight: 2,
  draw: (r) => ({ v: int(r, 0, NUMBER_OPS.length - 1), c: int(r, 2, 40), q: int(r, 0, 1) }),
  question: ({ v, c, q }) =>
    [`Read a positive integer n and print ${NUMBER_OPS[v].text(c)}.`, `The input is one integer n (1 <= n <= 500). Output ${NUMBER_OPS[v].text(c)}.`][q],
  tests: ({ v, c }, r) => [1, int(r, 2, 30), int(r, 31, 200), int(r, 201, 500), c + 7].map((n) => ({ input: fmt(n), output: fmt(NUMBER_OPS[v].js(n, c)) })),
  model: ({ v, c }) => lines(readCode("int", null, "model"), NUMBER_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "int", (N) => NUMBER_OPS[v].human(c, N)),
};

const RUN_OPS = [
  {
    text: () => `the string with every run of equal consecutive letters replaced by the letter followed by the run length (for example aaab becomes a3b1)`,
    model: () => lines("res = ''", "i = 0", "while i < len(s):", "    j = i", "    while j < len(s) and s[j] == s[i]:", "        j += 1", "    res += s[i] + str(j - i)", "    i = j", "print(res)"),
    human: (c, N) => lines("from itertools import groupby", `print("".join(k + str(len(list(g))) for k, g in groupby(${N.s})))`),
    js: (s) => s.replace(/(.)\1*/g, (m) => `${m[0]}${m.length}`),
  },
  {
    text: () => `the string with consecutive duplicate letters collapsed into one`,
    model: () => lines("res = ''", "for ch in s:", "    if res == '' or res[-1] != ch:", "        res += ch", "print(res)"),
    human: (c, N) => lines(`${N.acc} = [${N.s}[0]]`, `for ch in ${N.s}[1:]:`, `    if ch != ${N.acc}[-1]:`, `        ${N.acc}.append(ch)`, `print("".join(${N.acc}))`),
    js: (s) => s.replace(/(.)\1+/g, "$1"),
  },
  {
    text: (c) => `the length of the longest run of equal consecutive letters plus ${c}`,
    model: (c) => lines("best = 1", "cur = 1", "for i in range(1, len(s)):", "    if s[i] == s[i - 1]:", "        cur += 1", "    else:", "        cur = 1", "    best = max(best, cur)", `print(best + ${c})`),
    human: (c, N) => lines("from itertools import groupby", `print(max(len(list(g)) for _, g in groupby(${N.s})) + ${c})`),
    js: (s, c) => Math.max(...(s.match(/(.)\1*/g) ?? [""]).map((m) => m.length)) + c,
  },
  {
    text: (c) => `the number of distinct letters in the string multiplied by ${c}`,
    model: (c) => `print(len(set(s)) * ${c})`,
    human: (c, N) => lines("seen = []", `for ch in ${N.s}:`, "    if ch not in seen:", "        seen.append(ch)", `print(len(seen) * ${c})`),
    js: (s, c) => new Set(s).size * c,
  },
];

const stringRuns = {
  name: "string-runs",
  difficulty: "competition",
  weight: 2,
  draw: (r) => {
    const v = int(r, 0, RUN_OPS.length - 1);
    return { v, c: v < 2 ? 0 : int(r, 1, 30), q: int(r, 0, 1) };
  },
  question: ({ v, c, q }) =>
    [`Read a non-empty string of lowercase letters and print ${RUN_OPS[v].text(c)}.`, `A word of lowercase letters is given on one line. Output ${RUN_OPS[v].text(c)}.`][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const s = Array.from({ length: int(r, 1, 6) }, () => pick(r, "abcde").repeat(int(r, 1, 4))).join("");
      return { input: `${s}\n`, output: fmt(RUN_OPS[v].js(s, c)) };
    }),
  model: ({ v, c }) => lines(readCode("str", null, "model"), RUN_OPS[v].model(c)),
  human: ({ v, c }, r) => humanPrograms(r, "str", (N) => RUN_OPS[v].human(c, N)),
};

// Call-based families: the question names a function; tests pass arguments and expect its value.

const FN_LIST_OPS = [
  { name: ["sum_above", "total_above", "big_sum"], text: (c) => `the sum of the elements of nums that are greater than ${c}`, model: (c) => `return sum([x for x in nums if x > ${c}])`, human: (c) => lines("total = 0", "for value in nums:", `    if value > ${c}:`, "        total += value", "return total"), js: (a, c) => a.filter((x) => x > c).reduce((s, x) => s + x, 0) },
  { name: ["count_equal", "how_many", "occurrences"], text: (c) => `how many elements of nums are equal to ${c}`, model: (c) => `return nums.count(${c})`, human: (c) => `return len([v for v in nums if v == ${c}])`, js: (a, c) => a.filter((x) => x === c).length },
  { name: ["scaled", "times_list", "multiply_all"], text: (c) => `a new list with every element of nums multiplied by ${c}`, model: (c) => `return [x * ${c} for x in nums]`, human: (c) => lines("out = []", "for v in nums:", `    out.append(v * ${c})`, "return out"), js: (a, c) => a.map((x) => x * c) },
  { name: ["max_plus", "top_value", "peak"], text: (c) => `the largest element of nums plus ${c} (nums is never empty)`, model: (c) => `return max(nums) + ${c}`, human: (c) => lines("best = nums[0]", "for v in nums[1:]:", "    best = v if v > best else best", `return best + ${c}`), js: (a, c) => Math.max(...a) + c },
];

const fnList = {
  name: "fn-list",
  difficulty: "interview",
  weight: 2,
  callBased: true,
  draw: (r) => ({ v: int(r, 0, FN_LIST_OPS.length - 1), c: int(r, 1, 20), f: int(r, 0, 2), q: int(r, 0, 1) }),
  fnName: ({ v, f }) => FN_LIST_OPS[v].name[f],
  question: ({ v, c, f, q }) =>
    [`Write a function ${FN_LIST_OPS[v].name[f]}(nums) that returns ${FN_LIST_OPS[v].text(c)}.`, `Implement ${FN_LIST_OPS[v].name[f]}(nums): given a list of integers nums, return ${FN_LIST_OPS[v].text(c)}.`][q],
  tests: ({ v, c }, r) =>
    Array.from({ length: 5 }, () => {
      const a = ints(r, int(r, 1, 7), 0, 25);
      return { args: [a], result: FN_LIST_OPS[v].js(a, c) };
    }),
  model: ({ v, c, f }) => lines(`def ${FN_LIST_OPS[v].name[f]}(nums):`, indent(FN_LIST_OPS[v].model(c))),
  human: ({ v, c, f }, r) => {
    const name = FN_LIST_OPS[v].name[f];
    const all = [lines(`def ${name}(nums):`, indent(FN_LIST_OPS[v].human(c))), lines(`def ${name}(nums):`, `    """Returns ${FN_LIST_OPS[v].text(c)}."""`, indent(FN_LIST_OPS[v].human(c)))];
    return all.slice(0, int(r, 1, 2));
  },
};

const FN_STR_OPS = [
  { name: ["strip_letter", "without", "remove_all"], text: (x) => `the string s with every letter ${x} removed`, model: (x) => `return s.replace('${x}', '')`, human: (x) => `return "".join(ch for ch in s if ch != "${x}")`, js: (s, x) => s.split(x).join("") },
  { name: ["count_letter", "letter_count", "tally"], text: (x, c) => `the number of times the letter ${x} occurs in s, plus ${c}`, model: (x, c) => `return s.count('${x}') + ${c}`, human: (x, c) => lines(`n = ${c}`, "for ch in s:", `    n += ch == "${x}"`, "return n"), js: (s, x, c) => s.split(x).length - 1 + c },
  { name: ["mirror", "backwards", "flip"], text: (x, c) => `s reversed and repeated ${c} times`, model: (x, c) => `return s[::-1] * ${c}`, human: (x, c) => `return "".join(reversed(s)) * ${c}`, js: (s, x, c) => s.split("").reverse().join("").repeat(c) },
];

const fnString = {
  name: "fn-string",
  difficulty: "introductory",
  weight: 2,
  callBased: true,
  draw: (r) => ({ v: int(r, 0, FN_STR_OPS.length - 1), x: pick(r, LETTERS), c: int(r, 1, 5), f: int(r, 0, 2), q: int(r, 0, 1) }),
  fnName: ({ v, f }) => FN_STR_OPS[v].name[f],
  question: ({ v, x, c, f, q }) =>
    [`Write a function ${FN_STR_OPS[v].name[f]}(s) that returns ${FN_STR_OPS[v].text(x, c)}.`, `Implement ${FN_STR_OPS[v].name[f]}(s): given a string s of lowercase letters, return ${FN_STR_OPS[v].text(x, c)}.`][q],
  tests: ({ v, x, c }, r) =>
    Array.from({ length: 5 }, (_, i) => {
      const s = word(r, 1, 9) + (i % 2 === 0 ? x : "");
      return { args: [s], result: FN_STR_OPS[v].js(s, x, c) };
    }),
  model: ({ v, x, c, f }) => lines(`def ${FN_STR_OPS[v].name[f]}(s):`, indent(FN_STR_OPS[v].model(x, c))),
  human: ({ v, x, c, f }) => [lines(`def ${FN_STR_OPS[v].name[f]}(s):`, indent(FN_STR_OPS[v].human(x, c)))],
};

/** Every family, in a fixed order (the generator's output depends on it). */
export const FAMILIES = [
  intArith, pairArith, listReduce, stringBasic, countChar, yesNo, fnString,
  rangeLoop, listMap, wordOps, digitOps, multiCase, listStats, fnList,
  listScan, numberTheory, stringRuns,
];

/** A family instance: question, prompt, tests (APPS input_output), model and human programs. */
export function instantiate(family, params, r) {
  const question = family.question(params);
  const callBased = family.callBased === true;
  const cases = family.tests(params, r);
  const inputOutput = callBased
    ? { fn_name: family.fnName(params), inputs: cases.map((t) => t.args), outputs: cases.map((t) => [t.result]) }
    : { inputs: cases.map((t) => t.input), outputs: cases.map((t) => t.output) };
  const identity = { ...params };
  delete identity.q; // the wording is not part of a problem's identity
  return {
    family: family.name,
    key: `${family.name}:${JSON.stringify(identity)}`,
    difficulty: family.difficulty,
    question,
    callBased,
    prompt: promptOf(question, callBased),
    inputOutput,
    model: family.model(params),
    human: (r2) => family.human(params, r2),
  };
}

/** Draws one instance of a family chosen by weight. */
export function drawInstance(r) {
  const total = FAMILIES.reduce((sum, family) => sum + family.weight, 0);
  let u = r() * total;
  let family = FAMILIES[FAMILIES.length - 1];
  for (const candidate of FAMILIES) {
    u -= candidate.weight;
    if (u < 0) {
      family = candidate;
      break;
    }
  }
  return instantiate(family, family.draw(r), r);
}

/** The demo's splits and sizes (APPS-style: train for ReST-EM's E-step, valid, and held-out test). */
export const SPLITS = [
  ["train", 300],
  ["valid", 50],
  ["test", 100],
];
export const PROBLEM_SEED = 4242; // seed of the problem sets

/**
 * Draws every split's problems. No two problems share a key (family, variant and constants) or a
 * question text, so test problems differ from training ones in parameters, not only in wording.
 * Ids are numbered across splits (train 0000-0299, valid 0300-0349, test 0350-0449).
 */
export function generateSplits(seed = PROBLEM_SEED) {
  const r = seededRandom(seed);
  const seenKeys = new Set();
  const seenQuestions = new Set();
  const splits = {};
  let next = 0;
  for (const [split, size] of SPLITS) {
    splits[split] = [];
    while (splits[split].length < size) {
      const instance = drawInstance(r);
      if (seenKeys.has(instance.key) || seenQuestions.has(instance.question)) continue;
      seenKeys.add(instance.key);
      seenQuestions.add(instance.question);
      splits[split].push({ id: String(next++).padStart(4, "0"), ...instance, solutions: instance.human(r) });
    }
  }
  return splits;
}
