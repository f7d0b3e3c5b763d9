"""Plain NumPy (float64) forward passes of GPT-2, Llama, Qwen2 and GPT-NeoX, written from the
conventions documented in Tests/TransformerTests/Fixtures/README.md.

make_fixtures.py runs these on every fixture and stops unless they agree with Hugging Face's
logits: that is the check that the README's description (weight layouts, rotary convention,
norm placement, eps, tying) is what transformers actually computes.

Inputs: `sd` maps Hugging Face parameter names to float64 arrays, `cfg` is the parsed
config.json, `ids` is one row of token ids, shape (T,). Output: logits, shape (T, V).
"""

import math

import numpy as np


def layer_norm(x, w, b, eps):
    """LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * w + b (biased variance)."""
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    """RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * w."""
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def gelu_tanh(x):
    """GELU, tanh approximation (HF "gelu_new")."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x):
    """GELU, exact erf form (HF "gelu")."""
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_rotate_half(x, rot, theta):
    """Rotary embedding, rotate-half (GPT-NeoX / HF Llama) convention, on the first `rot` dims.

    x: (T, heads, HS). For pair index i in [0, rot/2): angle(t, i) = t * theta^(-2i/rot);
    dims i and i + rot/2 form a pair: (a, b) -> (a cos - b sin, b cos + a sin).
    Dims [rot, HS) pass through unchanged.
    """
    T = x.shape[0]
    inv = 1.0 / theta ** (np.arange(0, rot, 2, dtype=np.float64) / rot)  # (rot/2,)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]  # (T, rot/2)
    cos = np.cos(ang)[:, None, :]
    sin = np.sin(ang)[:, None, :]
    half = rot // 2
    a = x[..., :half]
    b = x[..., half:rot]
    out = x.copy()
    out[..., :half] = a * cos - b * sin
    out[..., half:rot] = b * cos + a * sin
    return out


def causal_attention(q, k, v):
    """q (T, NH, HS), k and v (T, NKV, HS); query head h reads kv head h // (NH / NKV).
    Scores scaled by 1/sqrt(HS), causal mask, softmax over keys. Returns (T, NH * HS)."""
    T, NH, HS = q.shape
    group = NH // k.shape[1]
    out = np.zeros((T, NH, HS))
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    for h in range(NH):
        s = q[:, h] @ k[:, h // group].T / math.sqrt(HS)
        s[mask] = -np.inf
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out[:, h] = p @ v[:, h // group]
    return out.reshape(T, NH * HS)


def gpt2(sd, cfg, ids):
    C, NH, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    HS = C // NH
    T = len(ids)
    x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][np.arange(T)]
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        h = layer_norm(x, sd[p + "ln_1.weight"], sd[p + "ln_1.bias"], eps)
        # Conv1D: weight (in, out), y = x @ W + b; c_attn columns are [q | k | v], each C wide.
        qkv = h @ sd[p + "attn.c_attn.weight"] + sd[p + "attn.c_attn.bias"]
        q, k, v = (qkv[:, i * C:(i + 1) * C].reshape(T, NH, HS) for i in range(3))
        a = causal_attention(q, k, v)
        x = x + a @ sd[p + "attn.c_proj.weight"] + sd[p + "attn.c_proj.bias"]
        h = layer_norm(x, sd[p + "ln_2.weight"], sd[p + "ln_2.bias"], eps)
        m = gelu_tanh(h @ sd[p + "mlp.c_fc.weight"] + sd[p + "mlp.c_fc.bias"])
        x = x + m @ sd[p + "mlp.c_proj.weight"] + sd[p + "mlp.c_proj.bias"]
    x = layer_norm(x, sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"], eps)
    return x @ sd["transformer.wte.weight"].T  # lm_head tied to wte


def rope_theta(cfg, default=10000.0):
    rp = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    return float(rp.get("rope_theta", cfg.get("rope_theta", cfg.get("rotary_emb_base", default))))


def llama(sd, cfg, ids):
    """Llama and Qwen2 (Qwen2 adds biases to q_proj, k_proj, v_proj)."""
    C, NH, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["rms_norm_eps"]
    NKV = cfg["num_key_value_heads"]
    HS = cfg.get("head_dim") or C // NH
    theta = rope_theta(cfg)
    T = len(ids)

    def linear(x, name):
        y = x @ sd[name + ".weight"].T  # nn.Linear: weight (out, in)
        return y + sd[name + ".bias"] if name + ".bias" in sd else y

    x = sd["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, sd[p + "input_layernorm.weight"], eps)
        q = linear(h, p + "self_attn.q_proj").reshape(T, NH, HS)
        k = linear(h, p + "self_attn.k_proj").reshape(T, NKV, HS)
        v = linear(h, p + "self_attn.v_proj").reshape(T, NKV, HS)
        q, k = rope_rotate_half(q, HS, theta), rope_rotate_half(k, HS, theta)
        x = x + linear(causal_attention(q, k, v), p + "self_attn.o_proj")
        h = rms_norm(x, sd[p + "post_attention_layernorm.weight"], eps)
        g = silu(linear(h, p + "mlp.gate_proj")) * linear(h, p + "mlp.up_proj")
        x = x + linear(g, p + "mlp.down_proj")
    x = rms_norm(x, sd["model.norm.weight"], eps)
    head = sd["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else sd["lm_head.weight"]
    return x @ head.T


def gpt_neox(sd, cfg, ids):
    C, NH, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    HS = C // NH
    rp = cfg.get("rope_parameters") or {}
    pct = float(rp.get("partial_rotary_factor", cfg.get("rotary_pct", 0.25)))
    rot = int(HS * pct)
    theta = rope_theta(cfg)
    T = len(ids)

    def linear(x, name):
        y = x @ sd[name + ".weight"].T
        return y + sd[name + ".bias"] if name + ".bias" in sd else y

    def mlp(h, p):
        return linear(gelu_erf(linear(h, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")

    x = sd["gpt_neox.embed_in.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{l}."
        h = layer_norm(x, sd[p + "input_layernorm.weight"], sd[p + "input_layernorm.bias"], eps)
        # query_key_value rows (3C, C): per head h, rows [h*3HS, h*3HS+HS) = q, then k, then v.
        qkv = linear(h, p + "attention.query_key_value").reshape(T, NH, 3 * HS)
        q, k, v = qkv[..., :HS], qkv[..., HS:2 * HS], qkv[..., 2 * HS:]
        q, k = rope_rotate_half(q, rot, theta), rope_rotate_half(k, rot, theta)
        a = linear(causal_attention(q, k, v), p + "attention.dense")
        ln2 = lambda y: layer_norm(
            y, sd[p + "post_attention_layernorm.weight"], sd[p + "post_attention_layernorm.bias"], eps)
        if cfg["use_parallel_residual"]:
            x = x + a + mlp(ln2(x), p)
        else:
            x = x + a
            x = x + mlp(ln2(x), p)
    x = layer_norm(x, sd["gpt_neox.final_layer_norm.weight"], sd["gpt_neox.final_layer_norm.bias"], eps)
    return x @ sd["embed_out.weight"].T


FORWARDS = {"gpt2": gpt2, "llama": llama, "qwen2": llama, "gpt_neox": gpt_neox}


def logits(sd, cfg, ids):
    return FORWARDS[cfg["model_type"]](sd, cfg, np.asarray(ids, dtype=np.int64))
