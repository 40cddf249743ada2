"""Log-probs and entropy from the hidden states, chunk by chunk: the same numbers and
gradients as the whole logits tensor, without ever making it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from torch.utils._python_dispatch import TorchDispatchMode

from zerosearch_agents.head_logprobs import HeadLogprobs, head_of
from zerosearch_agents.policy import forward_logprobs


def tiny_llama(vocab_size: int = 300, *, tied: bool = False, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=tied, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def batch(vocab_size: int, rows: int = 3, length: int = 17):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, vocab_size, (rows, length), generator=generator)
    attention = torch.ones_like(ids)
    attention[0, :5] = 0  # left padding
    attention[1, -3:] = 0  # right padding
    return ids, attention


def loss_and_grads(model, ids, attention, *, chunk_size, temperature=1.0, terms=(1.0, -0.01)):
    """``chunk_size`` None: the whole logits tensor (the plain computation). The loss is
    ``terms[0] * sum(logprobs) + terms[1] * sum(entropy)``; a zero leaves that output
    out of the loss (the entropy when it is only logged)."""
    model.zero_grad()
    out = forward_logprobs(model, ids, attention, temperature=temperature, with_entropy=True, chunk_size=chunk_size, whole_logits=chunk_size is None)
    used = [weight * out[name].sum() for weight, name in zip(terms, ("logprobs", "entropy"), strict=True) if weight]
    sum(used).backward()
    return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("terms", [(1.0, -0.01), (1.0, 0.0), (0.0, 1.0)], ids=["both", "logprobs-only", "entropy-only"])
def test_chunked_logprobs_entropy_and_gradients_equal_the_whole_logits(tied, temperature, terms):
    model = tiny_llama(tied=tied)
    ids, attention = batch(300)
    chunked, chunked_grads = loss_and_grads(model, ids, attention, chunk_size=5, temperature=temperature, terms=terms)  # 5 does not divide 3 x 17
    whole, whole_grads = loss_and_grads(model, ids, attention, chunk_size=None, temperature=temperature, terms=terms)
    assert torch.allclose(chunked["logprobs"], whole["logprobs"], atol=1e-5)
    assert torch.allclose(chunked["entropy"], whole["entropy"], atol=1e-5)
    assert set(chunked_grads) == set(whole_grads)
    for name, grad in whole_grads.items():
        assert (chunked_grads[name] - grad).norm() <= 1e-4 * grad.norm() + 1e-9, name


def test_the_custom_backward_matches_finite_differences():
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 3, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    weight = torch.randn(7, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    bias = torch.randn(7, dtype=torch.float64, generator=generator, requires_grad=True)
    targets = torch.randint(0, 7, (2, 3), generator=generator)
    assert torch.autograd.gradcheck(lambda h, w, b: HeadLogprobs.apply(h, w, b, targets, 1 / 0.7, 4, True), (hidden, weight, bias))
    assert torch.autograd.gradcheck(lambda h, w, b: HeadLogprobs.apply(h, w, b, targets, 1.0, 2, False)[0], (hidden, weight, bias))


class LargestTensor(TorchDispatchMode):
    """The most elements of any tensor an operation made, forward and backward."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


def test_no_tensor_of_batch_by_tokens_by_vocabulary_is_ever_made():
    vocab = 5000  # larger than anything else in the model: the logits would be the largest tensor
    model = tiny_llama(vocab)
    ids, attention = batch(vocab, rows=4, length=32)
    whole = ids.shape[0] * (ids.shape[1] - 1) * vocab
    with LargestTensor() as seen:
        loss_and_grads(model, ids, attention, chunk_size=16)
    assert seen.largest <= 32 * vocab < whole  # the embedding matrix (vocabulary x 32) and its gradient; a chunk of logits is 16 x vocabulary
    with LargestTensor() as seen:
        loss_and_grads(model, ids, attention, chunk_size=None)
    assert seen.largest >= whole  # the plain path does make it: the check can fail


def test_lora_models_go_through_the_chunked_head_with_the_adapters_on():
    pytest.importorskip("peft")
    from zerosearch_env.lora import add_lora

    base = tiny_llama()
    model = add_lora(base, r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    assert head_of(model) is base.lm_head
    ids, attention = batch(300)
    chunked, grads = loss_and_grads(model, ids, attention, chunk_size=7)
    whole, whole_grads = loss_and_grads(model, ids, attention, chunk_size=None)
    assert torch.allclose(chunked["logprobs"], whole["logprobs"], atol=1e-5)
    assert grads and set(grads) == set(whole_grads) and all("lora" in name for name in grads)  # only the adapters train
    with model.disable_adapter():
        plain = forward_logprobs(model, ids, attention, chunk_size=7)["logprobs"]
    assert not torch.allclose(plain, chunked["logprobs"])  # the adapters changed the numbers


def test_a_head_that_is_not_a_plain_linear_layer_keeps_the_whole_logits():
    model = tiny_llama()
    model.config.final_logit_softcapping = 30.0  # logits transformed after the head (Gemma)
    assert head_of(model) is None
    model.config.final_logit_softcapping = None
    assert head_of(model) is model.lm_head
    ids, attention = batch(300)
    out = forward_logprobs(model, ids, attention, chunk_size=4)
    assert "forward" not in model.lm_head.__dict__  # the swap is undone
    assert model(input_ids=ids).logits.shape[-1] == 300 and out["logprobs"].shape == ids.shape


def test_under_autocast_the_head_runs_in_bf16_forward_and_backward_as_the_plain_head_does():
    model = tiny_llama()
    ids, attention = batch(300)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        chunked, grads = loss_and_grads(model, ids, attention, chunk_size=5)
        whole, whole_grads = loss_and_grads(model, ids, attention, chunk_size=None)
    assert chunked["logprobs"].dtype == torch.float32
    assert torch.allclose(chunked["logprobs"], whole["logprobs"], atol=2e-2)  # bf16 logits: the two sum in other orders
    assert all(grads[name].dtype == torch.float32 for name in grads)  # the fp32 weights get fp32 gradients
    for name, grad in whole_grads.items():
        assert (grads[name] - grad).norm() <= 5e-2 * grad.norm() + 1e-6, name


def test_the_default_chunk_holds_every_token_of_a_small_vocabulary_and_a_gib_of_a_large_one():
    from zerosearch_agents.head_chunks import CHUNK_BYTES, chunk_tokens

    assert chunk_tokens(300) > 8 * 512  # the tiny policy: one chunk, as fast as the plain head
    tokens = chunk_tokens(151_936, compute_bytes=2)
    assert tokens * 151_936 * (2 * 2 + 12) <= CHUNK_BYTES < (tokens + 1) * 151_936 * (2 * 2 + 12)
    model = tiny_llama()
    ids, attention = batch(300)
    default = forward_logprobs(model, ids, attention, with_entropy=True)
    assert torch.allclose(default["logprobs"], forward_logprobs(model, ids, attention, whole_logits=True)["logprobs"], atol=1e-5)


def test_a_single_chunk_keeps_its_logits_for_backward_and_a_second_backward_agrees():
    """With every token in one chunk the backward pass reuses the forward's logits (no
    recomputed matmul); a retained graph's second backward recomputes them, to the same gradients."""
    model = tiny_llama()
    ids, attention = batch(300)
    _whole, whole_grads = loss_and_grads(model, ids, attention, chunk_size=None)
    model.zero_grad()
    out = forward_logprobs(model, ids, attention, with_entropy=True)  # the default chunk holds all 51 tokens
    loss = out["logprobs"].sum() - 0.01 * out["entropy"].sum()
    loss.backward(retain_graph=True)
    first = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    loss.backward()
    for name, grad in whole_grads.items():
        assert (first[name] - grad).norm() <= 1e-4 * grad.norm() + 1e-9, name
        assert torch.allclose(model.get_parameter(name).grad, first[name], atol=1e-6), name
