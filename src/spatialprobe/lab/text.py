"""A word-level tokenizer trained on the lab split's text (Hugging Face `tokenizers`)."""

from __future__ import annotations

from spatialprobe.metrics.captions import words

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PROMPT_WORDS = ["where", "is"]
"""Words of the location head's ``where is …`` prompts, in the vocabulary even if no lab text uses them."""


def train_tokenizer(texts: list[str]):
    """A `PreTrainedTokenizerFast` over every word of ``texts`` (+ specials), deterministic."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted({w for t in texts for w in words(t)} | set(PROMPT_WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>")


def encode_batch(tokenizer, texts: list[str], max_length: int):
    """Token ids [bos, words…, eos] padded on the right, and the attention mask (torch tensors)."""
    import torch

    rows = [[tokenizer.bos_token_id] + tokenizer(t, add_special_tokens=False)["input_ids"][: max_length - 2] + [tokenizer.eos_token_id] for t in texts]
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask
