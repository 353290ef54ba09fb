import pytest
import torch

from conftest import requires_hub
from revmux.backbones.load import fetch_backbone, load_backbone
from revmux.backbones import resolve_backbone
from revmux.backbones import load as load_module
from revmux.backbones.registry import BUILTIN_BACKBONES, SUPPORTED_MODEL_TYPES
from revmux.backbones.stages import stage_backbone
from revmux.core.errors import RevmuxError


def encoder_states(backbone, text):
    tokens = backbone.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return backbone.model(**tokens).last_hidden_state


def test_registry_covers_every_family_and_the_paper_shapes():
    families = {spec.family for spec in BUILTIN_BACKBONES.values()}
    assert families == {"encoder", "decoder", "encoder-decoder"}
    assert resolve_backbone("bert-base-uncased").paper_prefill_layers == 6
    assert resolve_backbone("t5-small").paper_prefill_layers == 3
    assert resolve_backbone("llama-3-8b-instruct").paper_prefill_layers == 16
    assert resolve_backbone("t5-large").paper_prefill_layers is None
    assert resolve_backbone("t5-large").default_prefill_layers == 12


def test_random_init_backbones_say_so_and_pretrained_ones_do_not():
    for spec in BUILTIN_BACKBONES.values():
        assert ("random init" in spec.provenance) == spec.random_init == spec.name.endswith("-random")


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(RevmuxError, match="unknown backbone 'bert-large'.*minilm-l6.*local directory"):
        resolve_backbone("bert-large")


def test_local_directory_is_recognised_by_its_model_type(tmp_path):
    spec = resolve_backbone(str(resolve_backbone("stories260k").source.path))
    assert (spec.family, spec.num_layers, spec.hidden_size) == ("decoder", 5, 64)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(RevmuxError, match="model_type 'gpt2' is not one this harness knows"):
        resolve_backbone(str(tmp_path))


@pytest.mark.slow
def test_minilm_from_its_wheel_gives_384_wide_states(resources):
    backbone = load_backbone("minilm-l6", resources)
    states = encoder_states(backbone, "a gripping, well acted film")
    assert states.shape[-1] == 384 and backbone.spec.hidden_size == 384
    assert backbone.model.config.num_hidden_layers == 6
    assert not any(p.requires_grad for p in backbone.model.parameters())
    assert fetch_backbone(backbone.spec, resources) is False  # already fetched and intact


@pytest.mark.slow
def test_smollm2_from_its_wheel_knows_the_capital_of_france(resources):
    backbone = load_backbone("smollm2-135m", resources)
    assert backbone.model.config.hidden_size == 576 and backbone.model.config.num_hidden_layers == 30
    tokens = backbone.tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        output = backbone.model.generate(**tokens, max_new_tokens=6, do_sample=False)
    assert "Paris" in backbone.tokenizer.decode(output[0][tokens["input_ids"].shape[1]:])


def test_stories260k_tells_its_story():
    backbone = load_backbone("stories260k")
    bos = torch.tensor([[backbone.tokenizer.bos_token_id]])
    with torch.no_grad():
        output = backbone.model.generate(bos, max_new_tokens=20, do_sample=False)
    assert backbone.tokenizer.decode(output[0], skip_special_tokens=True).startswith("Once upon a time")


def test_random_t5_is_deterministic_and_labelled(resources):
    first = load_backbone("t5-tiny-random", resources)
    second = load_backbone("t5-tiny-random", resources)
    assert first.spec.provenance.startswith("random init, not pretrained")
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    ids = first.tokenizer("a short review", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        states = first.model.get_encoder()(input_ids=ids).last_hidden_state
    assert states.shape == (1, ids.shape[1], 64)


def test_wheel_backbone_not_in_cache_says_to_fetch(tmp_path):
    with pytest.raises(RevmuxError, match="not in the cache.*revmux fetch smollm2-135m"):
        load_backbone("smollm2-135m", tmp_path)


def test_hub_backbone_without_hub_or_cache_gives_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(load_module, "hub_reachable", lambda: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(RevmuxError, match="cannot load backbone bert-base-uncased.*not reachable.*local Hugging Face cache"):
        load_backbone("bert-base-uncased")
    with pytest.raises(RevmuxError, match="cannot fetch backbone t5-small .*not reachable"):
        fetch_backbone(resolve_backbone("t5-small"))


@requires_hub
@pytest.mark.hub
@pytest.mark.slow
def test_bert_base_uncased_loads_from_the_hub():
    backbone = load_backbone("bert-base-uncased")
    assert encoder_states(backbone, "hello world").shape[-1] == 768


# A tiny random configuration per supported model_type: the split must equal the unsplit model.
_TINY = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64, vocab_size=120,
             max_position_embeddings=64)
_TINY_DECODER = dict(_TINY, num_key_value_heads=2, head_dim=8, pad_token_id=0)
_TINY_T5 = dict(d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=4, num_decoder_layers=2, vocab_size=120)


def _tiny_model_dir(tmp_path, model_type, family):
    import transformers

    from revmux.backbones.load import _model_class

    settings = {"encoder": _TINY, "decoder": _TINY_DECODER, "encoder-decoder": _TINY_T5}[family]
    config = transformers.AutoConfig.for_model(model_type, **settings)
    torch.manual_seed(0)
    directory = tmp_path / model_type
    _model_class(family).from_config(config).save_pretrained(directory)
    return directory


@pytest.mark.parametrize(("model_type", "family"), [
    (model_type, family) for family, types in sorted(SUPPORTED_MODEL_TYPES.items()) for model_type in sorted(types)
])
def test_every_supported_model_type_splits_into_the_unsplit_model(tmp_path, model_type, family):
    spec = resolve_backbone(str(_tiny_model_dir(tmp_path, model_type, family)))
    assert spec.family == family
    backbone = stage_backbone(load_backbone(spec, with_tokenizer=False))
    ids = torch.randint(3, 120, (3, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    batch = backbone.token_batch(ids, mask)
    with torch.no_grad():
        hidden, mask = backbone.embed(batch)
        hidden = backbone.run_layers(backbone.run_layers(hidden, mask, 0, 2), mask, 2, backbone.num_layers)
        split = backbone.answer_states(hidden, mask, batch.answer_positions.unsqueeze(1))[:, 0]
        assert torch.allclose(split, backbone.forward_full(batch), atol=1e-5)


@pytest.mark.parametrize("model_type", ["albert", "deberta-v2", "distilbert", "electra", "mpnet", "umt5"])
def test_a_model_type_the_split_cannot_run_is_refused_with_the_supported_list(tmp_path, model_type):
    import json

    directory = tmp_path / model_type
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_size": 32, "num_hidden_layers": 2}))
    with pytest.raises(RevmuxError, match=f"model_type '{model_type}' is not one this harness knows how to split.*bert"):
        resolve_backbone(str(directory))
