#!/usr/bin/env python3
"""Writes tiny random Hugging Face model folders (config.json, model.safetensors, tokenizer.json) in HF's exact
file layout and key names, and the logits and greedy generations of each model computed here in plain torch
from the published architectures (the `transformers` package is not used: it is not installed).

Run by hand with Debian's python3-torch (1.13):  /usr/bin/python3 test/golden/make_hf_goldens.py
Writes test/golden/hf/<family>/... and test/golden/hf/goldens.json; the jest tests need no Python.

Families and the details where they differ from this library's own models:
- GPT-2 (GPT2LMHeadModel): Conv1D weights stored [in, out] (y = x W + b), tanh GELU ("gelu_new"), pre-LN,
  learned positions, lm_head tied to wte; files name keys with the `transformer.` prefix (and older ones hold
  the causal-mask buffers `attn.bias` / `attn.masked_bias`) or without it.
- BERT (BertModel, BertForSequenceClassification): word + position + token-type embeddings and their
  LayerNorm (eps 1e-12), post-LN layers, erf GELU, the pooler (tanh of a dense layer on the first token) and
  the classifier on the pooled vector; the attention mask adds the float32 minimum to masked scores.
- BART (BartForConditionalGeneration): learned positions with 2 extra rows (position p reads row p + 2),
  `layernorm_embedding` after the embeddings of both stacks, post-LN layers without a final LayerNorm, erf
  GELU, one `shared` embedding for encoder, decoder and the tied lm_head, plus `final_logits_bias`; embeddings
  scaled by sqrt(d_model) only with `scale_embedding`.
Every computation runs in float64 on the float32 weights stored in the files.
"""
import json
import math
import os
import re
import shutil
from collections import Counter

import torch

from safetensors_writer import write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hf")
torch.manual_seed(24)


def rand(*shape, std=0.2):
    return (torch.randn(*shape) * std).float()


def ln_params(prefix, dim, params):
    params[prefix + ".weight"] = (1 + 0.1 * torch.randn(dim)).float()
    params[prefix + ".bias"] = rand(dim, std=0.1)


def linear_params(prefix, out_dim, in_dim, params):
    """An nn.Linear: weight [out, in]."""
    params[prefix + ".weight"] = rand(out_dim, in_dim)
    params[prefix + ".bias"] = rand(out_dim, std=0.1)


def conv1d_params(prefix, in_dim, out_dim, params):
    """GPT-2's Conv1D: weight [in, out]."""
    params[prefix + ".weight"] = rand(in_dim, out_dim)
    params[prefix + ".bias"] = rand(out_dim, std=0.1)


def d(params):
    return {k: v.double() for k, v in params.items()}


def layer_norm(x, p, prefix, eps):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], p[prefix + ".weight"], p[prefix + ".bias"], eps)


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def gelu_erf(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def attention(q, k, v, heads, additive_mask):
    """q [B, T, E], k/v [B, S, E]; additive_mask broadcasts to [B, heads, T, S]."""
    B, T, E = q.shape
    S = k.shape[1]
    hd = E // heads
    q = q.view(B, T, heads, hd).transpose(1, 2)
    k = k.view(B, S, heads, hd).transpose(1, 2)
    v = v.view(B, S, heads, hd).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + additive_mask
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, E)


NEG = torch.finfo(torch.float32).min  # what HF adds to masked attention scores


def pack(t):
    return {"shape": list(t.shape), "data": [float("%.9g" % v) for v in t.reshape(-1).tolist()]}


def save_folder(name, config, params, tokenizer=None, extra=None):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    named = [(k, v, "F32") for k, v in sorted({**params, **(extra or {})}.items())]
    write_safetensors(os.path.join(folder, "model.safetensors"), named, {"format": "pt"})
    if tokenizer is not None:
        with open(os.path.join(folder, "tokenizer.json"), "w") as f:
            json.dump(tokenizer, f, ensure_ascii=False, indent=2)
    return folder


def greedy_margin_ok(logits_rows):
    """Greedy choices must not hinge on float32 rounding: the best logit leads the next by > 1e-3."""
    for row in logits_rows:
        top = row.topk(2).values
        if float(top[0] - top[1]) < 1e-3:
            raise SystemExit("greedy step too close to a tie; change the seed")


# ---- tokenizers -------------------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2's map from bytes to printable characters (the byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


CORPUS = "the cat sat on the mat. the dog slept on the rug. a cat and a dog sat on the mat together."


def learn_merges(count):
    table = bytes_to_unicode()
    words = Counter("".join(table[b] for b in w.encode()) for w in re.findall(r" ?\w+| ?[^\w\s]+", CORPUS))
    words = {tuple(w): c for w, c in words.items()}
    merges = []
    for _ in range(count):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        merged = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = c
        words = merged
    return merges


def added(token_id, content):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def byte_level_tokenizer(specials_first, specials_last, merge_count, post_processor):
    vocab = {}
    for s in specials_first:
        vocab[s] = len(vocab)
    for ch in bytes_to_unicode().values():
        vocab[ch] = len(vocab)
    merges = learn_merges(merge_count)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for s in specials_last:
        vocab[s] = len(vocab)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(vocab[s], s) for s in specials_first + specials_last],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": post_processor, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [a + " " + b for a, b in merges]},
    }, len(vocab)


def wordpiece_tokenizer():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["the", "cat", "sat", "on", "mat", "dog", "slept", "rug", "a", "and", ".", ",", "!", "?"]
    pieces = [c for c in "abcdefghijklmnopqrstuvwxyz"] + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + ["##s", "##ing"]
    tokens = list(dict.fromkeys(specials + words + pieces))  # "a" is a word and a letter: once
    vocab = {t: i for i, t in enumerate(tokens)}
    template = lambda *parts: parts  # noqa: E731
    special = lambda name, type_id=0: {"SpecialToken": {"id": name, "type_id": type_id}}  # noqa: E731
    seq = lambda name, type_id: {"Sequence": {"id": name, "type_id": type_id}}  # noqa: E731
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(vocab[s], s) for s in specials],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": list(template(special("[CLS]"), seq("A", 0), special("[SEP]"))),
            "pair": list(template(special("[CLS]"), seq("A", 0), special("[SEP]"), seq("B", 1), special("[SEP]", 1))),
            "special_tokens": {s: {"id": s, "ids": [vocab[s]], "tokens": [s]} for s in ["[CLS]", "[SEP]"]},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }, len(vocab)


# ---- GPT-2 ------------------------------------------------------------------------------------------------

def gpt2():
    gpt2_post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    tokenizer, vocab_size = byte_level_tokenizer([], ["<|endoftext|>"], 24, gpt2_post)
    E, L, H, P = 32, 2, 4, 24
    eos = vocab_size - 1
    config = {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": eos, "embd_pdrop": 0.1, "eos_token_id": eos, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-5, "model_type": "gpt2", "n_ctx": P, "n_embd": E, "n_head": H, "n_inner": None,
        "n_layer": L, "n_positions": P, "reorder_and_upcast_attn": False, "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True, "summary_activation": None,
        "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "cls_index",
        "summary_use_proj": True, "torch_dtype": "float32", "transformers_version": "4.40.0", "use_cache": True,
        "vocab_size": vocab_size,
    }
    p = {"wte.weight": rand(vocab_size, E, std=0.5), "wpe.weight": rand(P, E, std=0.3)}
    for i in range(L):
        h = "h.%d." % i
        ln_params(h + "ln_1", E, p)
        conv1d_params(h + "attn.c_attn", E, 3 * E, p)
        conv1d_params(h + "attn.c_proj", E, E, p)
        ln_params(h + "ln_2", E, p)
        conv1d_params(h + "mlp.c_fc", E, 4 * E, p)
        conv1d_params(h + "mlp.c_proj", 4 * E, E, p)
    ln_params("ln_f", E, p)

    def forward(ids, weights=p):
        w = d(weights)
        B, T = ids.shape
        x = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(T)]
        causal = torch.full((T, T), NEG, dtype=torch.float64).triu(1)
        conv = lambda t, name: t @ w[name + ".weight"] + w[name + ".bias"]  # noqa: E731
        for i in range(L):
            h = "h.%d." % i
            a = layer_norm(x, w, h + "ln_1", 1e-5)
            q, k, v = conv(a, h + "attn.c_attn").split(E, dim=-1)
            x = x + conv(attention(q, k, v, H, causal), h + "attn.c_proj")
            m = layer_norm(x, w, h + "ln_2", 1e-5)
            x = x + conv(gelu_tanh(conv(m, h + "mlp.c_fc")), h + "mlp.c_proj")
        return layer_norm(x, w, "ln_f", 1e-5) @ w["wte.weight"].T

    # Right-padded with the end-of-text token (GPT-2 has no pad token): causal attention keeps the real
    # positions' logits independent of what follows.
    ids = torch.tensor([[10, 200, 45, 77, 3, 90, 12, 5], [33, 66, 99, 132, 165, eos, eos, eos]])
    logits = forward(ids)
    prompts = torch.tensor([[72, 101, 108], [84, 104, 101]])
    generated = prompts
    for _ in range(10):
        step = forward(generated)[:, -1]
        greedy_margin_ok(step)
        generated = torch.cat([generated, step.argmax(-1, keepdim=True)], dim=1)

    prefixed = {"transformer." + k: v for k, v in p.items()}
    causal_buffer = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
    buffers = {}
    for i in range(L):
        buffers["transformer.h.%d.attn.bias" % i] = causal_buffer
        buffers["transformer.h.%d.attn.masked_bias" % i] = torch.tensor(-1e4)
    save_folder("gpt2", config, prefixed, tokenizer, buffers)
    save_folder("gpt2-plain", config, p, tokenizer)
    sharded = save_folder("gpt2-sharded", config, {}, tokenizer)
    os.remove(os.path.join(sharded, "model.safetensors"))
    names = sorted(prefixed)
    weight_map = {}
    for shard, part in enumerate([names[: len(names) // 2], names[len(names) // 2:]]):
        file = "model-%05d-of-00002.safetensors" % (shard + 1)
        write_safetensors(os.path.join(sharded, file), [(k, prefixed[k], "F32") for k in part], {"format": "pt"})
        weight_map.update({k: file for k in part})
    with open(os.path.join(sharded, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(prefixed[k].numel() * 4 for k in names)}, "weight_map": weight_map},
                  f, indent=2)
    # Half-precision files (as most hub checkpoints are): the reference runs on the rounded weights.
    halves = {}
    for dtype, torch_dtype in [("F16", torch.float16), ("BF16", torch.bfloat16)]:
        rounded = {k: v.to(torch_dtype) for k, v in p.items()}
        folder = save_folder("gpt2-" + dtype.lower(), config, {}, tokenizer)
        write_safetensors(os.path.join(folder, "model.safetensors"),
                          [(k, v, dtype) for k, v in sorted(rounded.items())], {"format": "pt"})
        halves[dtype] = pack(forward(ids, {k: v.float() for k, v in rounded.items()}))
    return {"ids": pack(ids), "logits": pack(logits), "prompts": pack(prompts), "generated": pack(generated),
            "logitsF16": halves["F16"], "logitsBF16": halves["BF16"]}


# ---- BERT -------------------------------------------------------------------------------------------------

def bert():
    tokenizer, vocab_size = wordpiece_tokenizer()
    E, L, H, I, P, labels = 32, 2, 4, 64, 24, 3
    base = {
        "attention_probs_dropout_prob": 0.1, "classifier_dropout": None, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": E, "initializer_range": 0.02, "intermediate_size": I,
        "layer_norm_eps": 1e-12, "max_position_embeddings": P, "model_type": "bert", "num_attention_heads": H,
        "num_hidden_layers": L, "pad_token_id": 0, "position_embedding_type": "absolute", "torch_dtype": "float32",
        "transformers_version": "4.40.0", "type_vocab_size": 2, "use_cache": True, "vocab_size": vocab_size,
    }
    p = {
        "embeddings.word_embeddings.weight": rand(vocab_size, E, std=0.5),
        "embeddings.position_embeddings.weight": rand(P, E, std=0.3),
        "embeddings.token_type_embeddings.weight": rand(2, E, std=0.3),
    }
    ln_params("embeddings.LayerNorm", E, p)
    for i in range(L):
        l = "encoder.layer.%d." % i
        for part in ["query", "key", "value"]:
            linear_params(l + "attention.self." + part, E, E, p)
        linear_params(l + "attention.output.dense", E, E, p)
        ln_params(l + "attention.output.LayerNorm", E, p)
        linear_params(l + "intermediate.dense", I, E, p)
        linear_params(l + "output.dense", E, I, p)
        ln_params(l + "output.LayerNorm", E, p)
    linear_params("pooler.dense", E, E, p)
    head = {}
    linear_params("classifier", labels, E, head)

    def encode(ids, mask, types):
        w = d(p)
        B, T = ids.shape
        lin = lambda t, name: t @ w[name + ".weight"].T + w[name + ".bias"]  # noqa: E731
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][torch.arange(T)]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = layer_norm(x, w, "embeddings.LayerNorm", 1e-12)
        additive = ((1.0 - mask.double()) * NEG).view(B, 1, 1, T)
        for i in range(L):
            l = "encoder.layer.%d." % i
            ctx = attention(lin(x, l + "attention.self.query"), lin(x, l + "attention.self.key"),
                            lin(x, l + "attention.self.value"), H, additive)
            x = layer_norm(lin(ctx, l + "attention.output.dense") + x, w, l + "attention.output.LayerNorm", 1e-12)
            inner = gelu_erf(lin(x, l + "intermediate.dense"))
            x = layer_norm(lin(inner, l + "output.dense") + x, w, l + "output.LayerNorm", 1e-12)
        pooled = torch.tanh(lin(x[:, 0], "pooler.dense"))
        logits = pooled @ head["classifier.weight"].double().T + head["classifier.bias"].double()
        return x, logits

    ids = torch.tensor([[2, 5, 6, 7, 3, 8, 9, 3], [2, 10, 11, 12, 3, 0, 0, 0]])
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0]])
    hidden, logits = encode(ids, mask, types)
    id2label = {str(i): "LABEL_%d" % i for i in range(labels)}
    classifier_config = {**base, "architectures": ["BertForSequenceClassification"], "id2label": id2label,
                         "label2id": {v: int(k) for k, v in id2label.items()},
                         "problem_type": "single_label_classification"}
    save_folder("bert", {**base, "architectures": ["BertModel"]}, p, tokenizer)
    save_folder("bert-classifier", classifier_config, {"bert." + k: v for k, v in p.items()}, tokenizer, head)
    return {"ids": pack(ids), "attentionMask": pack(mask), "tokenTypeIds": pack(types),
            "hidden": pack(hidden), "logits": pack(logits)}


# ---- BART -------------------------------------------------------------------------------------------------

def bart():
    roberta = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
               "add_prefix_space": False}
    tokenizer, vocab_size = byte_level_tokenizer(["<s>", "<pad>", "</s>", "<unk>"], ["<mask>"], 24, roberta)
    E, L, H, F, P = 32, 2, 4, 64, 24
    config = {
        "activation_dropout": 0.0, "activation_function": "gelu", "add_bias_logits": False,
        "add_final_layer_norm": False, "architectures": ["BartForConditionalGeneration"], "attention_dropout": 0.0,
        "bos_token_id": 0, "classif_dropout": 0.0, "classifier_dropout": 0.0, "d_model": E,
        "decoder_attention_heads": H, "decoder_ffn_dim": F, "decoder_layerdrop": 0.0, "decoder_layers": L,
        "decoder_start_token_id": 2, "dropout": 0.1, "encoder_attention_heads": H, "encoder_ffn_dim": F,
        "encoder_layerdrop": 0.0, "encoder_layers": L, "eos_token_id": 2, "forced_bos_token_id": None,
        "forced_eos_token_id": 2, "init_std": 0.02, "is_encoder_decoder": True, "max_position_embeddings": P,
        "model_type": "bart", "normalize_before": False, "normalize_embedding": True, "num_hidden_layers": L,
        "pad_token_id": 1, "scale_embedding": True, "torch_dtype": "float32", "transformers_version": "4.40.0",
        "use_cache": True, "vocab_size": vocab_size,
    }
    p = {"model.shared.weight": rand(vocab_size, E, std=0.3), "final_logits_bias": rand(1, vocab_size, std=0.5)}
    for stack in ["encoder", "decoder"]:
        s = "model.%s." % stack
        p[s + "embed_positions.weight"] = rand(P + 2, E, std=0.3)
        ln_params(s + "layernorm_embedding", E, p)
        for i in range(L):
            l = s + "layers.%d." % i
            blocks = ["self_attn"] + (["encoder_attn"] if stack == "decoder" else [])
            for block in blocks:
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"]:
                    linear_params(l + block + "." + proj, E, E, p)
                ln_params(l + block + "_layer_norm", E, p)
            linear_params(l + "fc1", F, E, p)
            linear_params(l + "fc2", E, F, p)
            ln_params(l + "final_layer_norm", E, p)
    scale = math.sqrt(E)

    def attn(w, prefix, x, memory, additive):
        lin = lambda t, name: t @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]  # noqa: E731
        out = attention(lin(x, "q_proj"), lin(memory, "k_proj"), lin(memory, "v_proj"), H, additive)
        return lin(out, "out_proj")

    def ffn(w, l, x):
        lin = lambda t, name: t @ w[l + name + ".weight"].T + w[l + name + ".bias"]  # noqa: E731
        return lin(gelu_erf(lin(x, "fc1")), "fc2")

    def embed(w, stack, ids):
        T = ids.shape[1]
        x = w["model.shared.weight"][ids] * scale + w["model.%s.embed_positions.weight" % stack][torch.arange(T) + 2]
        return layer_norm(x, w, "model.%s.layernorm_embedding" % stack, 1e-5)

    def encode(src):
        w = d(p)
        B, S = src.shape
        pad = ((src == 1).double() * NEG).view(B, 1, 1, S)
        x = embed(w, "encoder", src)
        for i in range(L):
            l = "model.encoder.layers.%d." % i
            x = layer_norm(x + attn(w, l + "self_attn.", x, x, pad), w, l + "self_attn_layer_norm", 1e-5)
            x = layer_norm(x + ffn(w, l, x), w, l + "final_layer_norm", 1e-5)
        return x

    def decode(tgt, memory, src, tgt_padding=True):
        w = d(p)
        B, T = tgt.shape
        S = src.shape[1]
        self_mask = torch.full((T, T), NEG, dtype=torch.float64).triu(1).view(1, 1, T, T)
        if tgt_padding:
            self_mask = self_mask + ((tgt == 1).double() * NEG).view(B, 1, 1, T)
        self_mask = self_mask.clamp(min=NEG)
        cross = ((src == 1).double() * NEG).view(B, 1, 1, S)
        y = embed(w, "decoder", tgt)
        for i in range(L):
            l = "model.decoder.layers.%d." % i
            y = layer_norm(y + attn(w, l + "self_attn.", y, y, self_mask), w, l + "self_attn_layer_norm", 1e-5)
            y = layer_norm(y + attn(w, l + "encoder_attn.", y, memory, cross), w, l + "encoder_attn_layer_norm", 1e-5)
            y = layer_norm(y + ffn(w, l, y), w, l + "final_layer_norm", 1e-5)
        return y @ w["model.shared.weight"].T + w["final_logits_bias"]

    src = torch.tensor([[0, 40, 80, 120, 160, 200, 2], [0, 50, 100, 150, 2, 1, 1]])
    tgt = torch.tensor([[2, 0, 44, 88, 132, 176], [2, 0, 55, 110, 1, 1]])
    memory = encode(src)
    logits = decode(tgt, memory, src)
    generated = torch.full((2, 1), 2, dtype=torch.long)
    finished = torch.zeros(2, dtype=torch.bool)
    for _ in range(10):
        step = decode(generated, memory, src, tgt_padding=False)[:, -1]
        greedy_margin_ok(step[~finished])
        token = torch.where(finished, torch.tensor(1), step.argmax(-1))
        generated = torch.cat([generated, token[:, None]], dim=1)
        finished = finished | (token == 2)
        if finished.all():
            break
    # Older files also hold the tied copies of `shared`.
    tied = {"model.encoder.embed_tokens.weight": p["model.shared.weight"],
            "model.decoder.embed_tokens.weight": p["model.shared.weight"]}
    save_folder("bart", config, p, tokenizer, tied)
    return {"src": pack(src), "tgtIn": pack(tgt), "logits": pack(logits), "generated": pack(generated)}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    goldens = {"gpt2": gpt2(), "bert": bert(), "bart": bart()}
    with open(os.path.join(OUT, "goldens.json"), "w") as f:
        json.dump(goldens, f)
    print("wrote", OUT)
