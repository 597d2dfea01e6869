// Gradient functions for the kernels in the trainer's training graph.
//
// The CommonJS build of @tensorflow/tfjs-core (the one Node loads) registers no gradients:
// they ship only in the full @tensorflow/tfjs package, as ES modules the CommonJS loader cannot
// import. So tf.variableGrads would fail with "gradient function not found" on the first op.
// This module registers the few the decoder and loss need, each written from the calculus:
//
//   Add/Sub/Mul/RealDiv  (with broadcasting: dy is summed over the broadcast axes)
//   Neg, Square, Rsqrt, Sigmoid, Softmax, Exp, Log, Cast
//   Sum, Mean, Max (for logSoftmax's stabiliser), Reshape, Transpose, Pack, Unpack
//   BatchMatMul (used on backends other than wasm; see ops.ts)
//   GatherV2 (axis 0; its gradient is UnsortedSegmentSum, see backend.ts)
//
// Matrix products have their own gradients in ops.ts (tf.customGrad). Registration is global
// and idempotent: an existing gradient (e.g. from @tensorflow/tfjs-node) is left in place.

import * as tf from "@tensorflow/tfjs-core";
import type { GradConfig, NamedAttrMap } from "@tensorflow/tfjs-core";

type NamedGradientMap = Record<string, () => tf.Tensor>;

type Grad = (dy: tf.Tensor, saved: tf.Tensor[], attrs: NamedAttrMap) => NamedGradientMap;

/** Sums `dy` down to `shape`, undoing numpy-style broadcasting. */
export function reduceToShape(dy: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i])) return dy;
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? tf.sum(dy, axes) : dy;
  return tf.reshape(summed, [...shape]);
}

/** Normalised, sorted reduction axes of attrs.axis for a tensor of `rank`. */
function reductionAxes(axis: unknown, rank: number): number[] {
  const list = axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? (axis as number[]) : [axis as number];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** dy of a reduction, reshaped with the reduced axes kept (size 1) so it broadcasts over x. */
function keptDims(dy: tf.Tensor, xShape: readonly number[], axes: readonly number[]): tf.Tensor {
  return tf.reshape(
    dy,
    xShape.map((d, i) => (axes.includes(i) ? 1 : d)),
  );
}

const grads: Record<string, { save?: string[]; outputs?: boolean[]; grad: Grad }> = {
  Add: { save: ["a", "b"], grad: (dy, [a, b]) => ({ a: () => reduceToShape(dy, a.shape), b: () => reduceToShape(dy, b.shape) }) },
  Sub: {
    save: ["a", "b"],
    grad: (dy, [a, b]) => ({ a: () => reduceToShape(dy, a.shape), b: () => reduceToShape(tf.neg(dy), b.shape) }),
  },
  Multiply: {
    save: ["a", "b"],
    grad: (dy, [a, b]) => ({
      a: () => reduceToShape(tf.mul(dy, tf.cast(b, "float32")), a.shape),
      b: () => reduceToShape(tf.mul(dy, tf.cast(a, "float32")), b.shape),
    }),
  },
  RealDiv: {
    save: ["a", "b"],
    grad: (dy, [a, b]) => ({
      a: () => reduceToShape(tf.div(dy, b), a.shape),
      // d(a/b)/db = -a / b^2
      b: () => reduceToShape(tf.neg(tf.div(tf.mul(dy, a), tf.square(b))), b.shape),
    }),
  },
  Neg: { grad: (dy) => ({ x: () => tf.neg(dy) }) },
  Square: { save: ["x"], grad: (dy, [x]) => ({ x: () => tf.mul(dy, tf.mul(x, 2)) }) },
  // y = x^(-1/2): dy/dx = -1/2 * y^3
  Rsqrt: { outputs: [true], grad: (dy, [y]) => ({ x: () => tf.mul(dy, tf.mul(tf.pow(y, 3), -0.5)) }) },
  Sigmoid: { outputs: [true], grad: (dy, [y]) => ({ x: () => tf.mul(dy, tf.mul(y, tf.sub(1, y))) }) },
  Exp: { outputs: [true], grad: (dy, [y]) => ({ x: () => tf.mul(dy, y) }) },
  Log: { save: ["x"], grad: (dy, [x]) => ({ x: () => tf.div(dy, x) }) },
  Cast: { grad: (dy) => ({ x: () => tf.clone(dy) }) },
  // y = softmax(x) along dim: dx = y * (dy - sum(dy * y, dim))
  Softmax: {
    outputs: [true],
    grad: (dy, [y], attrs) => {
      const dim = Number(attrs.dim ?? -1);
      return { logits: () => tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), dim, true))) };
    },
  },
  Sum: {
    save: ["x"],
    grad: (dy, [x], attrs) => {
      const axes = reductionAxes(attrs.axis, x.rank);
      return { x: () => tf.mul(keptDims(dy, x.shape, axes), tf.onesLike(x)) };
    },
  },
  Mean: {
    save: ["x"],
    grad: (dy, [x], attrs) => {
      const axes = reductionAxes(attrs.axis, x.rank);
      const count = axes.reduce((n, a) => n * x.shape[a], 1);
      return { x: () => tf.mul(tf.div(keptDims(dy, x.shape, axes), count), tf.onesLike(x)) };
    },
  },
  // Max only stabilises logSoftmax (whose own gradient is custom); route dy to the maxima.
  Max: {
    save: ["x"],
    outputs: [true],
    grad: (dy, [x, y], attrs) => {
      const axes = reductionAxes(attrs.reductionIndices, x.rank);
      const hit = tf.cast(tf.equal(x, keptDims(y, x.shape, axes)), "float32");
      return { x: () => tf.mul(hit, keptDims(dy, x.shape, axes)) };
    },
  },
  Reshape: { save: ["x"], grad: (dy, [x]) => ({ x: () => tf.reshape(dy, x.shape) }) },
  Transpose: {
    grad: (dy, _saved, attrs) => {
      const perm = attrs.perm as number[];
      const inverse = new Array<number>(perm.length);
      perm.forEach((p, i) => (inverse[p] = i));
      return { x: () => tf.transpose(dy, inverse) };
    },
  },
  // y = op(a) op(b) with op = identity or transpose (same batch dims on both sides).
  BatchMatMul: {
    save: ["a", "b"],
    grad: (dy, [a, b], attrs) => {
      const ta = Boolean(attrs.transposeA);
      const tb = Boolean(attrs.transposeB);
      const da = !ta ? (tb ? tf.matMul(dy, b) : tf.matMul(dy, b, false, true)) : tb ? tf.matMul(b, dy, true, true) : tf.matMul(b, dy, false, true);
      const db = !tb ? (ta ? tf.matMul(a, dy) : tf.matMul(a, dy, true, false)) : ta ? tf.matMul(dy, a, true, true) : tf.matMul(dy, a, true, false);
      return { a: () => reduceToShape(da, a.shape), b: () => reduceToShape(db, b.shape) };
    },
  },
  GatherV2: {
    save: ["x", "indices"],
    grad: (dy, [x, indices], attrs) => {
      if (Number(attrs.axis ?? 0) !== 0 || Number(attrs.batchDims ?? 0) !== 0) {
        throw new Error("trainer gradients: GatherV2 is differentiable along axis 0 only");
      }
      return {
        x: () => {
          const rows = tf.reshape(dy, [indices.size, ...x.shape.slice(1)]);
          return tf.unsortedSegmentSum(rows, tf.reshape(tf.cast(indices, "int32"), [-1]) as tf.Tensor1D, x.shape[0]);
        },
        indices: () => tf.zerosLike(indices),
      };
    },
  },
};

/** Pack (tf.stack) and Unpack (tf.unstack) are each other's gradients. */
function registerStackGradients(): void {
  if (!tf.getGradient("Pack")) {
    tf.registerGradient({
      kernelName: "Pack",
      saveAllInputs: true,
      gradFunc: (dy, saved, attrs) => {
        const axis = Number(attrs.axis ?? 0);
        const pieces = tf.unstack(dy as tf.Tensor, axis);
        const map: NamedGradientMap = {};
        saved.forEach((_, i) => (map[i] = () => pieces[i]));
        return map;
      },
    });
  }
  if (!tf.getGradient("Unpack")) {
    tf.registerGradient({
      kernelName: "Unpack",
      gradFunc: (dy, _saved, attrs) => ({ value: () => tf.stack(dy as tf.Tensor[], Number(attrs.axis ?? 0)) }),
    });
  }
}

let registered = false;

/** Registers every gradient above that tfjs does not already have (once per process). */
export function registerTrainerGradients(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, spec] of Object.entries(grads)) {
    if (tf.getGradient(kernelName)) continue;
    const config: GradConfig = {
      kernelName,
      inputsToSave: spec.save,
      outputsToSave: spec.outputs,
      gradFunc: (dy, saved, attrs) => spec.grad(dy as tf.Tensor, saved, attrs),
    };
    tf.registerGradient(config);
  }
  registerStackGradients();
}

registerTrainerGradients();
