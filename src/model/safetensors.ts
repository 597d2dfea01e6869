// The safetensors file format, read and written without dependencies: an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} with an
// optional "__metadata__" map of strings, then the raw little-endian tensor bytes. Reading
// validates every offset against the file size and widens F16/BF16 to float32 tensor by
// tensor; writing goes through a temporary file that is fsynced, then renamed into place.

import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { decodeStorageBytes, DTYPE_BYTES, encodeStorageBytes } from "./dtype";
import type { StorageDType, WeightMap, WeightTensor } from "./types";
import { elementCount } from "./weights";

/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;
/** Tensors are read and written in pieces of at most this many bytes. */
const CHUNK_BYTES = 64 * 1024 * 1024;
const SUPPORTED_DTYPES: readonly StorageDType[] = ["F32", "F16", "BF16"];

/** One tensor's header entry; offsets are relative to the start of the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: StorageDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Entries in data order (by begin offset). */
  entries: SafetensorsEntry[];
  metadata: Record<string, string> | null;
  /** Absolute file offset of the data section: 8 + header length. */
  dataStart: number;
}

export interface SafetensorsContents {
  tensors: WeightMap;
  /** The dtype each tensor was stored in. */
  dtypes: Map<string, StorageDType>;
  metadata: Record<string, string> | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (!isRecord(value) || !Object.values(value).every((item) => typeof item === "string")) {
    throw new Error(`${file}: "__metadata__" must map names to strings`);
  }
  return value as Record<string, string>;
}

/** One header entry, checked in isolation (dtype, shape, offsets consistent with the size). */
function parseEntry(name: string, value: unknown, file: string): SafetensorsEntry {
  const where = `${file}: tensor "${name}"`;
  if (!isRecord(value)) {
    throw new Error(`${where}: header entry must be an object with dtype, shape and data_offsets`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string" || !(SUPPORTED_DTYPES as readonly string[]).includes(dtype)) {
    throw new Error(
      `${where}: dtype ${JSON.stringify(dtype)} is not supported (restem reads ${SUPPORTED_DTYPES.join(", ")})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new Error(`${where}: shape must be a list of non-negative integers (got ${JSON.stringify(shape)})`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) || offsets[0] > offsets[1]) {
    throw new Error(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end (got ${JSON.stringify(offsets)})`);
  }
  const storageType = dtype as StorageDType;
  const neededBytes = elementCount(shape) * DTYPE_BYTES[storageType];
  if (offsets[1] - offsets[0] !== neededBytes) {
    throw new Error(
      `${where}: data_offsets ${JSON.stringify(offsets)} span ${offsets[1] - offsets[0]} bytes, ` +
        `but ${storageType} shape [${shape.join(", ")}] needs ${neededBytes}`,
    );
  }
  return { name, dtype: storageType, shape: [...shape], begin: offsets[0], end: offsets[1] };
}

/** Entries must tile the data section exactly: contiguous from 0, no overlap, nothing left over. */
function checkEntriesTileData(entries: SafetensorsEntry[], dataBytes: number, file: string): void {
  let expectedBegin = 0;
  for (const entry of entries) {
    if (entry.end > dataBytes) {
      throw new Error(
        `${file}: tensor "${entry.name}" ends at data byte ${entry.end} but the file holds only ` +
          `${dataBytes} data bytes (truncated?)`,
      );
    }
    if (entry.begin !== expectedBegin) {
      throw new Error(
        `${file}: tensor "${entry.name}" starts at data byte ${entry.begin}, expected ${expectedBegin} ` +
          `(tensor data must be contiguous, without gaps or overlaps)`,
      );
    }
    expectedBegin = entry.end;
  }
  if (expectedBegin !== dataBytes) {
    throw new Error(`${file}: tensors cover ${expectedBegin} data bytes but the file holds ${dataBytes}`);
  }
}

/** Parses and validates the JSON header text given the size of the data section after it. */
export function parseSafetensorsHeader(headerText: string, dataBytes: number, file: string): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (error) {
    throw new Error(`${file}: safetensors header is not valid JSON (${(error as Error).message})`);
  }
  if (!isRecord(json)) {
    throw new Error(`${file}: safetensors header must be a JSON object`);
  }
  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(value, file);
    } else {
      entries.push(parseEntry(name, value, file));
    }
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkEntriesTileData(entries, dataBytes, file);
  return { entries, metadata, dataStart: 8 + Buffer.byteLength(headerText, "utf8") };
}

/** Reads exactly `length` bytes at `position` into `target` (from its start). */
async function readExactly(handle: FileHandle, target: Uint8Array, length: number, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(target, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new Error(`${file}: unexpected end of file at byte ${position + done}`);
    }
    done += bytesRead;
  }
}

/** Reads the 8-byte length prefix and the header it announces. */
async function readHeaderFrom(handle: FileHandle, file: string): Promise<SafetensorsHeader> {
  const { size } = await handle.stat();
  if (size < 8) {
    throw new Error(`${file}: not a safetensors file (${size} bytes, shorter than the 8-byte header length)`);
  }
  const prefix = Buffer.alloc(8);
  await readExactly(handle, prefix, 8, 0, file);
  const headerLength = prefix.readBigUInt64LE(0);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
    throw new Error(
      `${file}: header length ${headerLength} exceeds ${headerLength > BigInt(MAX_HEADER_BYTES) ? "the 100 MB limit" : `the file size (${size} bytes); truncated or not safetensors`}`,
    );
  }
  const headerBytes = Buffer.alloc(Number(headerLength));
  await readExactly(handle, headerBytes, headerBytes.length, 8, file);
  let headerText: string;
  try {
    headerText = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw new Error(`${file}: safetensors header is not valid UTF-8`);
  }
  const header = parseSafetensorsHeader(headerText, size - 8 - headerBytes.length, file);
  return { ...header, dataStart: 8 + headerBytes.length };
}

function assertLittleEndianHost(): void {
  if (os.endianness() !== "LE") {
    throw new Error("restem's safetensors reader needs a little-endian host");
  }
}

/** Reads only the header of a safetensors file (cheap: no tensor data). */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const handle = await fs.open(file, "r");
  try {
    return await readHeaderFrom(handle, file);
  } finally {
    await handle.close();
  }
}

/** Reads one tensor in chunks, widening into a fresh Float32Array. */
async function readTensor(handle: FileHandle, entry: SafetensorsEntry, dataStart: number, file: string): Promise<WeightTensor> {
  const elementBytes = DTYPE_BYTES[entry.dtype];
  const data = new Float32Array(elementCount(entry.shape));
  const chunkElements = Math.floor(CHUNK_BYTES / elementBytes);
  const chunk = Buffer.allocUnsafeSlow(Math.min(CHUNK_BYTES, entry.end - entry.begin));
  for (let first = 0; first < data.length; first += chunkElements) {
    const count = Math.min(chunkElements, data.length - first);
    await readExactly(handle, chunk, count * elementBytes, dataStart + entry.begin + first * elementBytes, file);
    decodeStorageBytes(entry.dtype, chunk.subarray(0, count * elementBytes), data.subarray(first, first + count));
  }
  return { shape: entry.shape, data };
}

/** Reads a safetensors file into float32 tensors; `names`, when given, limits which are read. */
export async function readSafetensors(file: string, names?: ReadonlySet<string>): Promise<SafetensorsContents> {
  assertLittleEndianHost();
  const handle = await fs.open(file, "r");
  try {
    const header = await readHeaderFrom(handle, file);
    const tensors: WeightMap = new Map();
    const dtypes = new Map<string, StorageDType>();
    for (const entry of header.entries) {
      if (names === undefined || names.has(entry.name)) {
        tensors.set(entry.name, await readTensor(handle, entry, header.dataStart, file));
        dtypes.set(entry.name, entry.dtype);
      }
    }
    return { tensors, dtypes, metadata: header.metadata };
  } finally {
    await handle.close();
  }
}

/** The header bytes (length prefix + JSON padded with spaces to a multiple of 8) and the entries. */
export function buildSafetensorsHeader(
  tensors: ReadonlyArray<readonly [string, WeightTensor]>,
  dtype: StorageDType,
  metadata: Record<string, string> | null,
): { bytes: Buffer; entries: SafetensorsEntry[] } {
  const json: Record<string, unknown> = metadata === null ? {} : { __metadata__: metadata };
  const entries: SafetensorsEntry[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (name === "__metadata__") {
      throw new Error('a tensor cannot be named "__metadata__"');
    }
    if (tensor.data.length !== elementCount(tensor.shape)) {
      throw new Error(`tensor "${name}" holds ${tensor.data.length} values but its shape [${tensor.shape.join(", ")}] needs ${elementCount(tensor.shape)}`);
    }
    const end = offset + elementCount(tensor.shape) * DTYPE_BYTES[dtype];
    entries.push({ name, dtype, shape: [...tensor.shape], begin: offset, end });
    json[name] = { dtype, shape: tensor.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const text = JSON.stringify(json);
  const textBytes = Buffer.byteLength(text, "utf8");
  const padded = textBytes + ((8 - (textBytes % 8)) % 8);
  const bytes = Buffer.alloc(8 + padded, 0x20);
  bytes.writeBigUInt64LE(BigInt(padded), 0);
  bytes.write(text, 8, "utf8");
  return { bytes, entries };
}

/** Writes all of `bytes` at the handle's current end. */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

/** Encodes one tensor in chunks and appends it. */
async function writeTensor(handle: FileHandle, tensor: WeightTensor, dtype: StorageDType): Promise<void> {
  const chunkElements = Math.floor(CHUNK_BYTES / DTYPE_BYTES[dtype]);
  for (let first = 0; first < tensor.data.length; first += chunkElements) {
    await writeAll(handle, encodeStorageBytes(dtype, tensor.data.subarray(first, first + chunkElements)));
  }
}

/** A file written under a temporary name, waiting to be renamed into place. */
export interface StagedFile {
  temporary: string;
  destination: string;
}

/** Writes `destination`'s content to a temporary sibling through `write`, then fsyncs it. */
export async function stageFile(destination: string, write: (handle: FileHandle) => Promise<void>): Promise<StagedFile> {
  const temporary = `${destination}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const handle = await fs.open(temporary, "wx");
  try {
    await write(handle);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  return { temporary, destination };
}

/** Renames staged files into place, in order, then fsyncs their directories. */
export async function commitStagedFiles(staged: readonly StagedFile[]): Promise<void> {
  for (const file of staged) {
    await fs.rename(file.temporary, file.destination);
  }
  for (const directory of new Set(staged.map((file) => path.dirname(file.destination)))) {
    await syncDirectory(directory);
  }
}

/** Removes staged files that will not be committed. */
export async function discardStagedFiles(staged: readonly StagedFile[]): Promise<void> {
  await Promise.all(staged.map((file) => fs.rm(file.temporary, { force: true })));
}

/** Makes a rename durable; some platforms cannot open directories, which is harmless. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await fs.open(directory, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Directory fsync is unsupported on some platforms (Windows); the rename itself still happened.
  }
}

/** Writes `content` to `file` atomically (temporary file, fsync, rename). */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  await commitStagedFiles([await stageFile(file, (handle) => writeAll(handle, bytes))]);
}

/** Stages a safetensors file holding `tensors` (in order) as `dtype`, with `{"format": "pt"}` metadata. */
export async function stageSafetensors(
  file: string,
  tensors: ReadonlyArray<readonly [string, WeightTensor]>,
  dtype: StorageDType,
  metadata: Record<string, string> = { format: "pt" },
): Promise<StagedFile> {
  assertLittleEndianHost();
  const header = buildSafetensorsHeader(tensors, dtype, metadata);
  return stageFile(file, async (handle) => {
    await writeAll(handle, header.bytes);
    for (const [, tensor] of tensors) {
      await writeTensor(handle, tensor, dtype);
    }
  });
}

/** Writes a safetensors file atomically; tensors keep the order given. */
export async function writeSafetensors(
  file: string,
  tensors: WeightMap | ReadonlyArray<readonly [string, WeightTensor]>,
  dtype: StorageDType,
  metadata: Record<string, string> = { format: "pt" },
): Promise<void> {
  const list = tensors instanceof Map ? [...tensors.entries()] : tensors;
  await commitStagedFiles([await stageSafetensors(file, list, dtype, metadata)]);
}
