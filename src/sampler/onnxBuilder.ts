// A small helper for authoring ONNX graphs with the protobufjs classes of `onnx-proto`: nodes
// with unique output names, typed attributes, inline constants, graph inputs/outputs with
// symbolic dimensions, and initializers that point into an external data file.

import { onnx } from "onnx-proto";

export const ElemType = onnx.TensorProto.DataType;

/** One dimension of a graph input/output: a fixed size or a symbolic name such as "batch". */
export type Dim = number | string;

/** An attribute value; arrays of integers become INTS, other numbers FLOAT unless integral. */
export type AttributeValue =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { tensor: onnx.ITensorProto }
  | { string: string };

/** Where one initializer's bytes lie in the external data file. */
export interface ExternalTensorRef {
  name: string;
  dims: number[];
  offset: number;
  length: number;
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ("int" in value) return { name, type: T.INT, i: value.int };
  if ("float" in value) return { name, type: T.FLOAT, f: value.float };
  if ("ints" in value) return { name, type: T.INTS, ints: value.ints };
  if ("tensor" in value) return { name, type: T.TENSOR, t: value.tensor };
  return { name, type: T.STRING, s: new TextEncoder().encode(value.string) };
}

function valueInfo(name: string, elemType: number, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Accumulates the nodes, initializers, inputs and outputs of one graph. */
export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  /** Adds a node; returns the names of its outputs (`outputs` fixes them, else they are fresh). */
  op(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    outputs: number | string[] = 1,
  ): string[] {
    const id = this.counter++;
    const names =
      typeof outputs === "number" ? Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}_${id}_${i}`) : outputs;
    this.nodes.push({
      name: `${opType}_${id}`,
      opType,
      input: inputs,
      output: names,
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    return names;
  }

  /** Single-output shorthand for op(). */
  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, output?: string): string {
    return this.op(opType, inputs, attributes, output ? [output] : 1)[0];
  }

  /** An int64 constant initializer (deduplicated); a scalar when `scalar` is set. */
  int64(values: number[], scalar = false): string {
    const key = `i64:${scalar ? "s" : "v"}:${values.join(",")}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = `const_${this.constants.size}_i64`;
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dataType: ElemType.INT64, dims: scalar ? [] : [values.length], rawData: bytesOf(data) });
    this.constants.set(key, name);
    return name;
  }

  /** A float32 constant initializer stored inline in the graph (deduplicated by content). */
  float32(values: ArrayLike<number>, dims: number[] | null = null): string {
    const data = Float32Array.from(values);
    const key = `f32:${dims ? dims.join("x") : "s"}:${Array.from(data).join(",")}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = `const_${this.constants.size}_f32`;
    this.initializers.push({ name, dataType: ElemType.FLOAT, dims: dims ?? [], rawData: bytesOf(data) });
    this.constants.set(key, name);
    return name;
  }

  /** A float32 initializer whose bytes live in `location` at [offset, offset + length). */
  externalFloat32(ref: ExternalTensorRef, location: string): string {
    this.initializers.push({
      name: ref.name,
      dataType: ElemType.FLOAT,
      dims: ref.dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: location },
        { key: "offset", value: String(ref.offset) },
        { key: "length", value: String(ref.length) },
      ],
    });
    return ref.name;
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Encodes the ModelProto (IR 8, default-domain opset `opset`). */
  encodeModel(graphName: string, opset: number, docString: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "restem",
      producerVersion: "1",
      docString,
      opsetImport: [{ domain: "", version: opset }],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  get nodeCount(): number {
    return this.nodes.length;
  }
}

/** Decodes a ModelProto (used by tests and by the cache check to read a graph back). */
export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
