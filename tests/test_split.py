import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.backbones.stages import stage_backbone
from revmux.multiplexing.heads import ClassifierHead
from revmux.multiplexing.model import MultiplexedModel, teacher_answer_states
from revmux.multiplexing.methods import build_multiplexer

PAIRS = (["A man is playing a guitar on stage.", "Short one."], ["A person plays music.", "Tiny."])


def split_run(backbone, batch, prefill):
    with torch.no_grad():
        hidden, mask = backbone.embed(batch)
        hidden = backbone.run_layers(hidden, mask, 0, prefill)
        hidden = backbone.run_layers(hidden, mask, prefill, backbone.num_layers)
        return backbone.answer_states(hidden, mask, batch.answer_positions.unsqueeze(1))[:, 0]


@pytest.mark.parametrize(("name", "prefill"), [("minilm-l6", 3), ("stories260k", 2), ("t5-tiny-random", 2)])
def test_running_layers_before_and_after_the_split_equals_the_unsplit_model(resources, name, prefill):
    backbone = stage_backbone(load_backbone(name, resources))
    batch = backbone.tokenize("rte", *PAIRS, max_length=48)
    with torch.no_grad():
        reference = backbone.forward_full(batch)
    assert torch.allclose(split_run(backbone, batch, prefill), reference, atol=1e-5)


def test_t5_split_keeps_relative_positions_and_the_soft_prompt(resources):
    backbone = stage_backbone(load_backbone("t5-tiny-random", resources))
    backbone.set_soft_prompt(torch.randn(4, backbone.hidden_size))
    batch = backbone.tokenize("sst-2", PAIRS[0], None, max_length=32)
    with torch.no_grad():
        reference = backbone.forward_full(batch)
        assert torch.allclose(split_run(backbone, batch, 2), reference, atol=1e-5)
        # Without handing block 0's position bias to the later blocks (the released code's defect),
        # the result differs: the test above would catch a regression.
        hidden, mask = backbone.embed(batch)
        hidden = backbone.run_layers(hidden, mask, 0, 2)
        from transformers.masking_utils import create_bidirectional_mask

        attention = create_bidirectional_mask(config=backbone.encoder.config, inputs_embeds=hidden, attention_mask=mask)
        for block in backbone.layers[2:]:
            hidden = block(hidden, attention, None)[0]
        positionless = backbone.answer_states(hidden, mask, batch.answer_positions.unsqueeze(1))[:, 0]
    assert not torch.allclose(positionless, reference, atol=1e-3)


def test_decoder_scores_the_last_real_token_of_right_padded_examples():
    backbone = stage_backbone(load_backbone("stories260k"))
    batch = backbone.tokenize("sst-2", ["Lily was happy.", "Tom liked the big red ball in the park very much."], None, 512)
    assert batch.answer_positions.tolist() == (batch.attention_mask.sum(1) - 1).tolist()
    assert batch.answer_positions[0] < batch.answer_positions[1]


def test_teacher_path_of_the_multiplexed_model_is_the_plain_model(resources):
    backbone = stage_backbone(load_backbone("minilm-l6", resources))
    model = MultiplexedModel(backbone, ClassifierHead(384, 2), build_multiplexer("teacher", 384, 1), 3)
    batch = backbone.tokenize("sst-2", ["good", "bad movie", "fine"], None, 16)
    with torch.no_grad():
        output = model(batch)
        assert torch.allclose(output.answers, teacher_answer_states(backbone, batch), atol=1e-5)


@pytest.mark.parametrize("name", ["minilm-l6", "stories260k", "t5-tiny-random"])
def test_multiplexed_batches_that_are_not_a_multiple_of_n_are_padded_and_never_scored(resources, name):
    backbone = stage_backbone(load_backbone(name, resources))
    model = MultiplexedModel(backbone, ClassifierHead(backbone.hidden_size, 2),
                             build_multiplexer("revmux", backbone.hidden_size, 4), 2).eval()
    batch = backbone.tokenize("sst-2", ["one", "two words", "three words here", "four", "five"], None, 16)
    with torch.no_grad():
        output = model(batch)
    assert output.logits.shape == (5, 2) and torch.isfinite(output.logits).all()
    assert output.instance_mask.shape[:2] == (2, 4)
    assert output.instance_mask[1, 1:].sum() == 0  # three zero instances complete the second group


@pytest.mark.parametrize("prompt_length", [0, 5])
def test_t5_label_scores_equal_t5_for_conditional_generation_logits(resources, prompt_length):
    # Against transformers' own model, not helpers the split shares (random init, tied embeddings, scaling).
    backbone = stage_backbone(load_backbone("t5-tiny-random", resources))
    if prompt_length:
        backbone.set_soft_prompt(torch.randn(prompt_length, backbone.hidden_size))
    batch = backbone.tokenize("rte", *PAIRS, max_length=48)
    label_ids = torch.tensor([71, 5, 1234])
    with torch.no_grad():
        ours = backbone.label_logits(split_run(backbone, batch, 2), label_ids)
        embedded, mask = backbone.embed(batch)  # token embeddings with the soft prompt in front
        start = torch.full((len(mask), 1), backbone.model.config.pad_token_id)  # T5's decoder start token
        theirs = backbone.model(inputs_embeds=embedded, attention_mask=mask, decoder_input_ids=start).logits[:, 0, label_ids]
    assert type(backbone.model).__name__ == "T5ForConditionalGeneration"
    assert torch.allclose(ours, theirs, atol=1e-5)
