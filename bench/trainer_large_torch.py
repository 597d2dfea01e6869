"""PyTorch rival of bench/trainerLarge.ts: one LoRA training step at the Qwen2.5-Coder-0.5B shape.

    /usr/bin/python3 bench/trainer_large_torch.py [--layers 24] [--seq 256] [--steps 3] [--threads 2]

Random weights of the published shape (hidden 896, 14 query / 2 KV heads of 64, FFN 4864,
q/k/v biases, vocabulary 151936, tied embeddings), frozen; LoRA rank 16 (alpha 32) on q, k, v,
o, gate, up and down of every layer; one sequence of --seq tokens (batch 1), loss on every
position (next-token cross-entropy), backward, AdamW step on the adapters. Prints one JSON line:
{"tokens_per_second": ..., "seconds_per_step": ..., "peak_rss_gib": ...}.
Written for this benchmark (plain torch, no transformers/peft needed).
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB = 896, 14, 2, 64, 4864, 151936


class LoraLinear(torch.nn.Module):
    def __init__(self, n_in, n_out, rank, bias):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02, requires_grad=False)
        self.bias = torch.nn.Parameter(torch.zeros(n_out), requires_grad=False) if bias else None
        self.a = torch.nn.Parameter(torch.empty(rank, n_in).uniform_(-1 / math.sqrt(n_in), 1 / math.sqrt(n_in)))
        self.b = torch.nn.Parameter(torch.zeros(n_out, rank))
        self.scale = 2.0

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + self.scale * F.linear(F.linear(x, self.a), self.b)


def rms_norm(x, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, rank):
        super().__init__()
        self.q = LoraLinear(HIDDEN, HEADS * HEAD_DIM, rank, True)
        self.k = LoraLinear(HIDDEN, KV_HEADS * HEAD_DIM, rank, True)
        self.v = LoraLinear(HIDDEN, KV_HEADS * HEAD_DIM, rank, True)
        self.o = LoraLinear(HEADS * HEAD_DIM, HIDDEN, rank, False)
        self.gate = LoraLinear(HIDDEN, FFN, rank, False)
        self.up = LoraLinear(HIDDEN, FFN, rank, False)
        self.down = LoraLinear(FFN, HIDDEN, rank, False)

    def forward(self, x, cos, sin, mask):
        s = x.shape[0]
        h = rms_norm(x)
        q = self.q(h).view(s, HEADS, HEAD_DIM).transpose(0, 1)
        k = self.k(h).view(s, KV_HEADS, HEAD_DIM).transpose(0, 1)
        v = self.v(h).view(s, KV_HEADS, HEAD_DIM).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(HEADS // KV_HEADS, 0)
        v = v.repeat_interleave(HEADS // KV_HEADS, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(HEAD_DIM) + mask, -1)
        x = x + self.o((att @ v).transpose(0, 1).reshape(s, HEADS * HEAD_DIM))
        h = rms_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rank", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    embedding = torch.randn(VOCAB, HIDDEN) * 0.02
    layers = torch.nn.ModuleList([Layer(args.rank) for _ in range(args.layers)])
    adapters = [p for p in layers.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(adapters, lr=2e-4, weight_decay=0.1)
    s = args.seq
    inv = 1.0 / (1e6 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
    angles = torch.outer(torch.arange(s).float(), inv)
    angles = torch.cat((angles, angles), -1)
    cos, sin = angles.cos(), angles.sin()
    mask = torch.full((s, s), float("-inf")).triu(1)
    ids = torch.randint(0, VOCAB, (s + 1,))
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        x = embedding[ids[:-1]]
        for layer in layers:
            x = layer(x, cos, sin, mask)
        logits = rms_norm(x) @ embedding.t()
        loss = F.cross_entropy(logits, ids[1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    per_step = sum(times[1:]) / len(times[1:])  # first step is warm-up
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(json.dumps({"tokens_per_second": s / per_step, "seconds_per_step": per_step, "peak_rss_gib": peak, "loss": loss.item()}))


if __name__ == "__main__":
    main()
