// Unit tests of the host side of the judge wire protocol: framing and run encoding.
import assert from "node:assert/strict";
import { APPS_LIMITS, FrameDecoder, encodeFrame, encodeRun } from "../../src/sandbox/protocol";

function decodeAll(buffer: Buffer, chunkSize: number): unknown[] {
  const frames: unknown[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame));
  for (let i = 0; i < buffer.length; i += chunkSize) decoder.push(buffer.subarray(i, i + chunkSize));
  return frames;
}

describe("judge wire protocol", () => {
  it("round-trips frames split at every possible chunk size", () => {
    const payloads = [{ op: "hello" }, { op: "verdict", results: [true, -1], text: "é ✓ \n" }, { empty: "" }];
    const buffer = Buffer.concat(payloads.map((p) => encodeFrame(JSON.stringify(p))));
    for (const size of [1, 2, 3, 7, 64, buffer.length]) assert.deepEqual(decodeAll(buffer, size), payloads);
  });

  it("counts the frame length in bytes, not characters", () => {
    const frame = encodeFrame(JSON.stringify({ s: "ünïcødé" }));
    const header = frame.subarray(0, frame.indexOf(0x0a)).toString("ascii");
    assert.equal(Number(header), frame.length - header.length - 1);
  });

  it("rejects malformed headers and oversized frames", () => {
    assert.throws(() => new FrameDecoder(() => undefined).push(Buffer.from("12x\n{}")), /bad frame header/);
    assert.throws(() => new FrameDecoder(() => undefined).push(Buffer.from("x".repeat(40))), /malformed/);
    assert.throws(() => new FrameDecoder(() => undefined, 10).push(Buffer.from("11\n")), /too large/);
  });

  it("sends the raw JSON of inputs and outputs untouched", () => {
    const inputsJson = "[[12345678901234567890, 1.0]]";
    const outputsJson = "[[1.0e0, 98765432109876543210]]";
    const buffer = encodeRun(7, { code: 'print("hi")\n', fnName: "f", inputsJson, outputsJson, strict: true }, APPS_LIMITS);
    const text = buffer.toString("utf8");
    assert.ok(text.includes(`"inputs":${inputsJson}`));
    assert.ok(text.includes(`"outputs":${outputsJson}`));
    const frames = decodeAll(buffer, 5) as Record<string, unknown>[];
    assert.equal(frames.length, 2);
    assert.equal(frames[0].op, "run");
    assert.equal(frames[0].code, 'print("hi")\n');
    assert.equal(frames[0].fn_name, "f");
    assert.equal(frames[0].timeout_s, 4);
    assert.equal(frames[1].op, "expect");
    assert.equal(frames[1].id, 7);
    assert.equal(frames[1].strict, true);
  });

  it("puts the expected outputs only in the second frame", () => {
    const buffer = encodeRun(1, { code: "x", fnName: null, inputsJson: '["in"]', outputsJson: '["SECRET"]', strict: false }, APPS_LIMITS);
    const first = buffer.subarray(0, buffer.indexOf(0x0a) + 1 + Number(buffer.subarray(0, buffer.indexOf(0x0a)).toString()));
    assert.ok(!first.toString().includes("SECRET"));
  });
});
