"""Golden fixtures for the Swift transformer tests, written by Hugging Face transformers.

For each fixture (tiny random model, float32, eager attention, no dropout) this writes
  <out>/<name>/config.json, model.safetensors   (save_pretrained; generation_config.json removed)
  <out>/<name>/golden.safetensors               (inputs, logits, loss, gradients, 10 AdamW losses,
                                                 KV-cache logits; see Fixtures/README.md)
checks every fixture against the NumPy reference in numpy_reference.py and against a reload
with from_pretrained, then rewrites the generated section of <out>/README.md.

Run through Scripts/make-fixtures (which sets up the pinned virtual environment).
"""

import argparse
import copy
import json
import os
import shutil
import struct
import sys
import warnings

import numpy as np
import torch
import transformers
from safetensors.numpy import load_file as np_load_file
from transformers import (AutoModelForCausalLM, GPT2Config, GPTNeoXConfig, LlamaConfig,
                          Qwen2Config)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_reference  # noqa: E402

FIXTURE_VERSION = "1"
B, T = 2, 7
MASKED_PREFIX = 2  # label positions 0 and 1 of each row are -100 (like prompt tokens)
INIT_STD = 0.2
STEPS = 10
ADAMW = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
SEED = 1234

COMMON = dict(vocab_size=96, max_position_embeddings=64, bos_token_id=1, eos_token_id=2)


def configs():
    """name -> (config, seed offset). Sizes: V 96, C 32, L 2, NH 4, T_max 64."""
    llama = dict(COMMON, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0,
                 rms_norm_eps=1e-6)
    neox = dict(COMMON, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, rotary_pct=0.5, rotary_emb_base=10000,
                layer_norm_eps=1e-5, hidden_act="gelu", attention_dropout=0.0,
                hidden_dropout=0.0, tie_word_embeddings=False)
    return {
        "gpt2": GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                           n_inner=None, activation_function="gelu_new", resid_pdrop=0.0,
                           embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                           bos_token_id=1, eos_token_id=2),
        "llama": LlamaConfig(**llama, tie_word_embeddings=False),
        "llama_tied": LlamaConfig(**llama, tie_word_embeddings=True),
        "qwen2": Qwen2Config(**llama, tie_word_embeddings=False, use_sliding_window=False),
        "gpt_neox": GPTNeoXConfig(**neox, use_parallel_residual=True),
        "gpt_neox_seq": GPTNeoXConfig(**neox, use_parallel_residual=False),
    }


def init_weights(model, gen):
    """Every parameter ~ N(0, INIT_STD^2), except 1-D `.weight`s (norm gains) ~ N(1, INIT_STD^2).
    Biases (including norm biases) are therefore nonzero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32) * INIT_STD
            if p.ndim == 1 and name.endswith("weight"):
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)


def hf_loss(logits, labels):
    """Mean cross-entropy of logits[:, t] against labels[:, t+1] over labels != -100."""
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def adamw_losses(model, input_ids, labels):
    """STEPS steps of torch.optim.AdamW; decay only on parameters with ndim >= 2.
    Returns the loss after each step (evaluated with the updated parameters) and the decayed names."""
    params = list(model.named_parameters())
    decay = [p for _, p in params if p.ndim >= 2]
    no_decay = [p for _, p in params if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": ADAMW["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"], foreach=False)
    losses = []
    for step in range(STEPS + 1):
        opt.zero_grad(set_to_none=True)
        # hf_loss == HF's ForCausalLMLoss (checked in make_fixture), but keeps float64 models in
        # float64 (HF upcasts logits to float32 only), for the float64 drift estimate.
        loss = hf_loss(model(input_ids=input_ids).logits, labels)
        if step > 0:
            losses.append(loss.item())
        if step < STEPS:
            loss.backward()
            opt.step()
    return losses, [n for n, p in params if p.ndim >= 2]


def cached_logits(model, ids_row):
    """Logits of feeding ids_row one token at a time with use_cache=True: (T, V)."""
    out_rows, past = [], None
    with torch.no_grad():
        for t in range(ids_row.shape[0]):
            out = model(input_ids=ids_row[None, t:t + 1], past_key_values=past, use_cache=True)
            past = out.past_key_values
            out_rows.append(out.logits[0, -1])
    return torch.stack(out_rows)


def save_safetensors(path, tensors, metadata):
    """A safetensors file with sorted header keys, so regenerating gives identical bytes
    (safetensors' own writer orders __metadata__ differently on each run).
    Layout: u64 little-endian header size N, N bytes of JSON header (padded with spaces to a
    multiple of 8), then the little-endian float32 data of each tensor in name order."""
    header, blobs, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def checkpoint_names(model, saved):
    """Parameter name in the module -> tensor name in model.safetensors (same values)."""
    out = {}
    for n, p in model.named_parameters():
        if n in saved:
            out[n] = n
            continue
        value = p.detach().numpy()
        hits = [k for k, v in saved.items() if v.shape == value.shape and np.array_equal(v, value)]
        assert len(hits) == 1, (n, hits)
        out[n] = hits[0]
    return out


def float64_drift(model, input_ids, labels, logits, loss, grads):
    """Largest |float32 - float64| of logits, loss and gradients for the same model and inputs."""
    m64 = copy.deepcopy(model).double()
    m64.zero_grad(set_to_none=True)
    out = m64(input_ids=input_ids)
    loss64 = hf_loss(out.logits, labels)  # HF's own loss upcasts to float32 only
    loss64.backward()
    return {
        "logits": (out.logits.detach() - logits.double()).abs().max().item(),
        "loss": abs(loss64.item() - loss.item()),
        "grads": max((p.grad - grads[n].double()).abs().max().item()
                     for n, p in m64.named_parameters()),
    }


def make_fixture(name, config, index, out_dir):
    final = os.path.join(out_dir, name)
    d = final + ".partial"  # renamed to `final` once every check passed
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seed = SEED + index
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager",
                                             dtype=torch.float32)
    model.eval()  # no dropout (all dropout probabilities are 0 as well)
    init_weights(model, gen)
    model_at_init = copy.deepcopy(model)
    model.save_pretrained(d)
    gc = os.path.join(d, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)

    input_ids = torch.randint(0, config.vocab_size, (B, T), generator=gen)
    labels = input_ids.clone()
    labels[:, :MASKED_PREFIX] = -100

    model.zero_grad(set_to_none=True)
    out = model(input_ids=input_ids, labels=labels)
    out.loss.backward()
    logits = out.logits.detach()
    loss = out.loss.detach()
    manual = hf_loss(logits, labels)
    assert abs(manual.item() - loss.item()) < 1e-6, (name, manual.item(), loss.item())
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    assert all(g.abs().max() > 0 for g in grads.values()), [n for n, g in grads.items()
                                                             if g.abs().max() == 0]

    cached = cached_logits(model, input_ids[0])
    cache_err = (cached - logits[0]).abs().max().item()
    assert cache_err < 1e-4, (name, "cached logits differ", cache_err)

    # Reload the saved directory: it must give the same logits (complete, tied weights restored).
    reloaded = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager",
                                                    dtype=torch.float32).eval()
    with torch.no_grad():
        reload_err = (reloaded(input_ids=input_ids).logits - logits).abs().max().item()
    assert reload_err == 0.0, (name, "reload differs", reload_err)

    # Independent NumPy float64 forward from the saved files and the documented conventions.
    cfg = json.load(open(os.path.join(d, "config.json")))
    sd = {k: v.astype(np.float64) for k, v in np_load_file(os.path.join(d, "model.safetensors")).items()}
    ref_err = max(np.abs(numpy_reference.logits(sd, cfg, input_ids[b].numpy())
                         - logits[b].numpy()).max() for b in range(B))
    assert ref_err < 1e-4, (name, "NumPy reference differs", ref_err)

    # Checkpoint names: transformers 5 renames some parameters when saving (GPT-NeoX's module
    # `lm_head` is written as `embed_out`); gradients and tables use the names in the file.
    saved = np_load_file(os.path.join(d, "model.safetensors"))
    file_name = checkpoint_names(model, saved)

    # Float32 rounding scale: the same computations in float64 (tolerance guide for the Swift side).
    drift = float64_drift(model, input_ids, labels, logits, loss, grads)

    losses, decayed = adamw_losses(model, input_ids, labels)
    drift["losses_10_steps"] = max(abs(a - b) for a, b in zip(
        losses, adamw_losses(copy.deepcopy(model_at_init).double(), input_ids, labels)[0]))

    tensors = {
        "input_ids": input_ids.float(),
        "labels": labels.float(),
        "logits": logits,
        "loss": loss.reshape(1),
        "losses_10_steps": torch.tensor(losses, dtype=torch.float32),
        "cached_logits": cached,
    }
    for n, g in grads.items():
        tensors["grad." + file_name[n]] = g
    metadata = {
        "fixture_version": FIXTURE_VERSION,
        "name": name,
        "model_type": config.model_type,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seed": str(seed),
        "adamw": json.dumps(dict(ADAMW, steps=STEPS, decay="ndim>=2", foreach=False)),
        "decayed": ",".join(file_name[n] for n in decayed),
    }
    save_safetensors(os.path.join(d, "golden.safetensors"), tensors, metadata)
    check = np_load_file(os.path.join(d, "golden.safetensors"))
    assert all(np.array_equal(check[k], v.float().numpy()) for k, v in tensors.items())

    shutil.rmtree(final, ignore_errors=True)
    os.rename(d, final)
    print(f"{name:13s} loss {loss.item():.4f}  after 10 steps {losses[-1]:.4f}  "
          f"|logits|max {logits.abs().max().item():.2f}  numpy-ref err {ref_err:.1e}  "
          f"cache err {cache_err:.1e}  f32-f64 {', '.join(f'{k} {v:.1e}' for k, v in drift.items())}")
    return dict(name=name, cfg=cfg, saved={k: v.shape for k, v in saved.items()},
                params=[(file_name[n], n, tuple(p.shape)) for n, p in model.named_parameters()],
                decayed={file_name[n] for n in decayed}, loss=loss.item(), losses=losses,
                drift=drift)


def generated_readme_section(results):
    lines = ["<!-- BEGIN GENERATED by Scripts/make-fixtures: do not edit by hand -->", "",
             f"Generated with torch {torch.__version__}, transformers {transformers.__version__}, "
             f"fixture_version {FIXTURE_VERSION}.", ""]
    for r in results:
        cfg = r["cfg"]
        keys = ["model_type", "tie_word_embeddings", "rms_norm_eps", "layer_norm_eps",
                "layer_norm_epsilon", "activation_function", "hidden_act", "use_parallel_residual",
                "rope_parameters", "rotary_pct", "rotary_emb_base", "rope_theta", "attention_bias",
                "num_key_value_heads", "head_dim", "n_inner", "intermediate_size"]
        summary = ", ".join(f"`{k}`={json.dumps(cfg[k])}" for k in keys if k in cfg)
        dr = r["drift"]
        lines += [f"### `{r['name']}`", "", f"config.json: {summary}", "",
                  f"`loss` = {r['loss']:.6f}; `losses_10_steps[9]` = {r['losses'][-1]:.6f}. "
                  "Largest |float32 − float64| (same computation in torch float64): "
                  + ", ".join(f"{k} {v:.1e}" for k, v in dr.items()) + ".", "",
                  "| tensor name (model.safetensors; golden has `grad.` + name) | shape | AdamW decay | module name in transformers 5 |",
                  "| --- | --- | --- | --- |"]
        for fname, mname, shape in r["params"]:
            alias = "" if fname == mname else f"`{mname}`"
            lines.append(f"| `{fname}` | {list(shape)} | {'yes' if fname in r['decayed'] else 'no'} | {alias} |")
        names = {f for f, _, _ in r["params"]}
        extra = sorted(set(r["saved"]) - names)
        missing = [f for f in names if f not in r["saved"]]
        assert not missing, missing
        if extra:
            lines += ["", "Also in model.safetensors: " + ", ".join(f"`{n}` {list(r['saved'][n])}" for n in extra)]
        lines.append("")
    lines.append("<!-- END GENERATED -->")
    return "\n".join(lines)


def update_readme(out_dir, section):
    path = os.path.join(out_dir, "README.md")
    text = open(path).read() if os.path.exists(path) else ""
    begin, end = "<!-- BEGIN GENERATED", "<!-- END GENERATED -->"
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n## Parameters per fixture\n\n" + section + "\n"
    open(path, "w").write(text)


def quiet():
    warnings.filterwarnings("ignore", category=FutureWarning)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def main():
    quiet()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="Fixtures directory")
    ap.add_argument("--only", default="", help="comma-separated fixture names (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    all_cfgs = configs()
    names = [n for n in args.only.split(",") if n] or list(all_cfgs)
    unknown = set(names) - set(all_cfgs)
    if unknown:
        sys.exit(f"error: unknown fixture(s) {sorted(unknown)}; known: {list(all_cfgs)}")
    os.makedirs(args.out, exist_ok=True)
    results = [make_fixture(n, all_cfgs[n], list(all_cfgs).index(n), args.out) for n in names]
    if len(names) == len(all_cfgs):
        update_readme(args.out, generated_readme_section(results))
    total = 0
    for root, _, files in os.walk(args.out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"total size of {args.out}: {total} bytes ({total / 2**20:.2f} MiB)")
    if total > 2 * 2**20:
        sys.exit("error: fixtures exceed 2 MiB")


if __name__ == "__main__":
    main()
