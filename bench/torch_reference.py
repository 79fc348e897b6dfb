"""The issue's reference point, measured here: nanoGPT's CPU configuration trained with PyTorch, in tokens/s and
model FLOP utilization, to set beside :mod:`gpt_breakdown` (GenForge's Keras GPT of the same shape).

    pip install torch==2.13.0      # not a GenForge dependency: a separate virtual environment is enough
    python bench/torch_reference.py [--steps 200]

The model is nanoGPT's (Karpathy, ``model.py``): 4 pre-norm blocks of causal self-attention
(``scaled_dot_product_attention``, ``is_causal=True``) and a 4x GELU MLP, width 128, 4 heads, block 64, no dropout,
biases on, the head tied to the token embedding; AdamW (lr 1e-3, betas (0.9, 0.99), weight decay 0.1); batch 12,
random tokens over 65 ids (the speed does not depend on them), eager PyTorch on every thread torch sees. FLOPs per token
as :mod:`throughput` counts them (``6 N + 12 L T d``, ``N`` without the position table). Prints figures; no pass or
fail.
"""

from __future__ import annotations

import argparse
import time

import torch
from peak import fp32_peak
from torch import nn
from torch.nn import functional as F

V, T, B, E, H, L = 65, 64, 12, 128, 4, 4


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(E), nn.LayerNorm(E)
        self.c_attn, self.c_proj = nn.Linear(E, 3 * E), nn.Linear(E, E)
        self.c_fc, self.mlp_proj = nn.Linear(E, 4 * E), nn.Linear(4 * E, E)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(E, dim=2)
        q, k, v = (z.view(b, t, H, E // H).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, E)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, E), nn.Embedding(T, E)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(E)
        self.head = nn.Linear(E, V, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = GPT()
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    flops = 6 * n + 12 * L * T * E
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    x = torch.randint(0, V, (B, T))

    def step():
        loss = model(x, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(20):  # warm-up
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    rate = args.steps * B * T / (time.perf_counter() - start)
    peak = fp32_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: {n:,} parameters, "
          f"{flops / 1e6:.2f} MFLOP/token")
    print(f"nanoGPT CPU shape, AdamW step: {rate:,.0f} tokens/s, {rate * flops / 1e9:.1f} GFLOP/s, "
          f"MFU {rate * flops / peak:.1%} of {peak / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
