"""Replays the first steps of an lcc compilation with the independent PyTorch sketch.

Reads the JSON written by tools/bench/dist/export-initial-state.js (context, queries,
LoRA and buffer initialisation), runs the same recipe with the reference's Model class
(interleaved RoPE on the original llama2.c weights, repeat_interleave attention, eager
per-sample loops), and prints the reconstruction and regularisation losses per step.

Usage:
  /usr/bin/python3 reference_losses.py STATE.json REFERENCE_DIR MODEL.bin TOK.bin

REFERENCE_DIR is the folder holding lcc_proto.py and llama2_ref.py. Needs Debian's
python3-torch (apt-get install python3-torch).
"""
import json
import math
import sys

import torch

state_path, reference_dir, model_path, tok_path = sys.argv[1:5]
sys.path.insert(0, reference_dir)
import lcc_proto as P  # noqa: E402

torch.set_num_threads(1)
state = json.load(open(state_path))
options = state["options"]
initial = state["initial"]
cfg, T, _vocab, _scores = P.load(model_path, tok_path)
m = P.Model(cfg, T)
m.scale = 16 / 8  # alpha / rank

ctx = initial["contextIds"]
L = len(ctx)
ratio = options["ratio"]
K = math.ceil((L - 1) / ratio)
D = m.dim
answer_tokens = options["answerTokens"]

# Trainable state from lcc: buffer [1, K, D]; LoRA A [Din, R] and B [R, Dout] (lcc layout),
# transposed to the sketch's [R, Din] and [Dout, R]. lcc stores q and k rows in
# rotate-half order, but B starts at zero and A sits on the input side, so only B
# (zero) would need the permutation.
Eb = torch.tensor(initial["bufferEmbeddings"], dtype=torch.float32).view(K, D).requires_grad_(True)
lora = [dict() for _ in range(m.L)]
params = [Eb]
for adapter in initial["adapters"]:
    din, rank = adapter["aShape"]
    rank_b, dout = adapter["bShape"]
    A = torch.tensor(adapter["a"], dtype=torch.float32).view(din, rank).T.contiguous().requires_grad_(True)
    B = torch.tensor(adapter["b"], dtype=torch.float32).view(rank_b, dout).T.contiguous().requires_grad_(True)
    assert float(B.abs().sum()) == 0.0, "B must start at zero for the layouts to agree"
    lora[adapter["layer"]][adapter["target"]] = (A, B)
    params += [A, B]
opt = torch.optim.AdamW(params, lr=options["learningRate"], weight_decay=0.0)

# Teacher cache, as in lcc_proto.compile_memory.
m.lora = None
with torch.no_grad():
    _, bos_kv = m.forward(m.embed([1]), torch.tensor([0]))
    _, ctx_kv = m.forward(m.embed(ctx), torch.arange(L))
y = ctx[1:]
with torch.no_grad():
    tl, _ = m.forward(m.embed([1] + y[:-1]), torch.arange(L, L + len(y)), past=ctx_kv)
samples = [("recon", [1] + y[:-1], y, tl.softmax(-1), 0)]
for toks in initial["queries"]:
    with torch.no_grad():
        past = [(k.clone(), v.clone()) for k, v in ctx_kv]
        lg, kv = m.forward(m.embed(toks), torch.arange(L, L + len(toks)), past=past)
        past = [(torch.cat([p[0], n[0]]), torch.cat([p[1], n[1]])) for p, n in zip(past, kv)]
        gen = []
        nxt = int(lg[-1].argmax())
        for t in range(answer_tokens - 1):
            gen.append(nxt)
            lg2, kv = m.forward(m.embed([nxt]), torch.tensor([L + len(toks) + t]), past=past)
            past = [(torch.cat([p[0], n[0]]), torch.cat([p[1], n[1]])) for p, n in zip(past, kv)]
            nxt = int(lg2[-1].argmax())
        seq = list(toks) + gen
        tl2, _ = m.forward(m.embed(seq), torch.arange(L, L + len(seq)), past=ctx_kv)
        samples.append(("reg", seq, seq[1:] + [nxt], tl2.softmax(-1), len(toks)))

history = []
n_reg = len(samples) - 1
for step in range(options["steps"]):
    m.lora = lora
    _, kv = m.forward(torch.cat([m.embed(ctx), Eb], 0), torch.arange(L + K))
    mem = [(k[L:], v[L:]) for k, v in kv]
    m.lora = None
    past = [(torch.cat([b[0], mm[0]]), torch.cat([b[1], mm[1]])) for b, mm in zip(bos_kv, mem)]
    loss_r = torch.zeros(())
    loss_q = torch.zeros(())
    for kind, ids, _gold, teacher, query_len in samples:
        lg, _ = m.forward(m.embed(ids), torch.arange(L + K, L + K + len(ids)), past=past)
        lp = lg.log_softmax(-1)
        if kind == "recon":
            loss_r = (teacher * (teacher.clamp_min(1e-12).log() - lp)).sum(-1).mean()
        else:
            start = query_len - 1
            tp = teacher[start:]
            loss_q = loss_q + (tp * (tp.clamp_min(1e-12).log() - lp[start:])).sum(-1).mean() / max(1, n_reg)
    loss = loss_r + loss_q
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    history.append({"reconstruction": float(loss_r), "regularisation": float(loss_q)})

print(json.dumps({"story": state["story"], "options": options, "referenceLosses": history, "lccLosses": state.get("lccLosses")}, indent=1))
