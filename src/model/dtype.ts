// Conversions between float32 and the 16-bit storage formats of safetensors checkpoints:
// IEEE 754 half precision (F16) and bfloat16 (BF16). Narrowing rounds to nearest, ties to
// even, overflows to infinity, keeps NaN a (quiet) NaN and the sign of zero; widening is
// exact. Inputs are float32 values (Float32Array elements), so no double rounding occurs.

import type { StorageDType } from "./types";

/** Bytes per element of each storage dtype. */
export const DTYPE_BYTES: Readonly<Record<StorageDType, number>> = { F32: 4, F16: 2, BF16: 2 };

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** The IEEE 754 bit pattern of a number rounded to float32. */
export function float32Bits(value: number): number {
  scratchFloat[0] = value;
  return scratchBits[0];
}

/** The float32 whose bit pattern is `bits`. */
export function float32FromBits(bits: number): number {
  scratchBits[0] = bits >>> 0;
  return scratchFloat[0];
}

/** Rounds the float32 with bit pattern `bits` to half precision; returns the 16-bit pattern. */
export function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) {
    return sign | 0x7c00;
  }
  if (halfExponent <= 0) {
    return sign | roundSubnormalHalfMantissa(exponent, mantissa, halfExponent);
  }
  const truncated = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches infinity at the top).
  const roundUp = remainder > 0x1000 || (remainder === 0x1000 && (truncated & 1) === 1);
  return sign | (truncated + (roundUp ? 1 : 0));
}

/** The half-precision subnormal (or smallest normal, after rounding up) nearest a tiny float32. */
function roundSubnormalHalfMantissa(exponent: number, mantissa: number, halfExponent: number): number {
  if (halfExponent < -10) {
    return 0; // below half the smallest subnormal (2^-25): rounds to zero
  }
  const significand = exponent === 0 ? mantissa : mantissa | 0x800000;
  const shift = 14 - halfExponent;
  const truncated = significand >>> shift;
  const remainder = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  const roundUp = remainder > halfway || (remainder === halfway && (truncated & 1) === 1);
  return truncated + (roundUp ? 1 : 0);
}

/** Widens a half-precision bit pattern to the bit pattern of the equal float32. */
export function float16BitsToFloat32Bits(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >>> 10) & 0x1f;
  let mantissa = half & 0x3ff;
  if (exponent === 0x1f) {
    return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  }
  if (exponent !== 0) {
    return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
  }
  if (mantissa === 0) {
    return sign >>> 0;
  }
  let normalisedExponent = 1;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    normalisedExponent -= 1;
  }
  return (sign | ((normalisedExponent - 15 + 127) << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

/** Rounds the float32 with bit pattern `bits` to bfloat16; returns the 16-bit pattern. */
export function float32BitsToBFloat16Bits(bits: number): number {
  const unsigned = bits >>> 0;
  if ((unsigned & 0x7f800000) === 0x7f800000 && (unsigned & 0x7fffff) !== 0) {
    return (unsigned >>> 16) | 0x40; // NaN stays a quiet NaN even if its payload was in the low bits
  }
  const leastSignificantKeptBit = (unsigned >>> 16) & 1;
  return Math.floor((unsigned + 0x7fff + leastSignificantKeptBit) / 0x10000) & 0xffff;
}

/** Widens a bfloat16 bit pattern to the bit pattern of the equal float32. */
export function bfloat16BitsToFloat32Bits(bf16: number): number {
  return ((bf16 & 0xffff) << 16) >>> 0;
}

/** Half precision → number (exact). */
export function float16ToNumber(half: number): number {
  return float32FromBits(float16BitsToFloat32Bits(half));
}

/** number → half precision bit pattern (via float32, then round to nearest even). */
export function numberToFloat16(value: number): number {
  return float32BitsToFloat16Bits(float32Bits(value));
}

/** bfloat16 → number (exact). */
export function bfloat16ToNumber(bf16: number): number {
  return float32FromBits(bfloat16BitsToFloat32Bits(bf16));
}

/** number → bfloat16 bit pattern (via float32, then round to nearest even). */
export function numberToBFloat16(value: number): number {
  return float32BitsToBFloat16Bits(float32Bits(value));
}

let halfToFloatTable: Uint32Array | null = null;

/** All 65536 half-precision patterns widened to float32 bits, built on first use. */
function halfTable(): Uint32Array {
  if (halfToFloatTable === null) {
    halfToFloatTable = new Uint32Array(0x10000);
    for (let half = 0; half < 0x10000; half++) {
      halfToFloatTable[half] = float16BitsToFloat32Bits(half);
    }
  }
  return halfToFloatTable;
}

/** Widens `source` half-precision patterns into `target` float32 values (same length). */
export function float16ArrayToFloat32(source: Uint16Array, target: Float32Array): void {
  const table = halfTable();
  const targetBits = new Uint32Array(target.buffer, target.byteOffset, target.length);
  for (let i = 0; i < source.length; i++) {
    targetBits[i] = table[source[i]];
  }
}

/** Widens `source` bfloat16 patterns into `target` float32 values (same length). */
export function bfloat16ArrayToFloat32(source: Uint16Array, target: Float32Array): void {
  const targetBits = new Uint32Array(target.buffer, target.byteOffset, target.length);
  for (let i = 0; i < source.length; i++) {
    targetBits[i] = source[i] << 16;
  }
}

/** Rounds `source` float32 values into `target` half-precision patterns (same length). */
export function float32ArrayToFloat16(source: Float32Array, target: Uint16Array): void {
  const sourceBits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  for (let i = 0; i < source.length; i++) {
    target[i] = float32BitsToFloat16Bits(sourceBits[i]);
  }
}

/** Rounds `source` float32 values into `target` bfloat16 patterns (same length). */
export function float32ArrayToBFloat16(source: Float32Array, target: Uint16Array): void {
  const sourceBits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  for (let i = 0; i < source.length; i++) {
    target[i] = float32BitsToBFloat16Bits(sourceBits[i]);
  }
}

/**
 * Decodes little-endian `bytes` of `dtype` into `target` (length = bytes / element size).
 * `bytes` must start at an offset aligned to 4 (fresh Buffers from allocUnsafeSlow are).
 */
export function decodeStorageBytes(dtype: StorageDType, bytes: Uint8Array, target: Float32Array): void {
  if (dtype === "F32") {
    target.set(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    return;
  }
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  if (dtype === "F16") {
    float16ArrayToFloat32(halves, target);
  } else {
    bfloat16ArrayToFloat32(halves, target);
  }
}

/** Encodes float32 `source` as little-endian bytes of `dtype` (a view of `source` itself for F32). */
export function encodeStorageBytes(dtype: StorageDType, source: Float32Array): Uint8Array {
  if (dtype === "F32") {
    return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  }
  const halves = new Uint16Array(source.length);
  if (dtype === "F16") {
    float32ArrayToFloat16(source, halves);
  } else {
    float32ArrayToBFloat16(source, halves);
  }
  return new Uint8Array(halves.buffer);
}
