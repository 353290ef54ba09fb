import pytest
import torch

from revmux.core.errors import RevmuxError
from revmux.multiplexing.methods import METHODS, build_multiplexer


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_revmux_demux_inverts_mux_exactly_through_an_identity_middle(n):
    torch.manual_seed(n)
    mux = build_multiplexer("revmux", 24 * n, n).eval()
    reduced = torch.randn(5, n, 7, 24)  # (groups, slots, tokens, d/N): states after the down-projection
    composite = mux.combine(reduced)
    assert composite.shape == (5, 7, 24 * n)
    recovered = torch.stack([mux.separate(composite[:, t]) for t in range(7)], dim=2)
    assert torch.allclose(recovered, reduced, atol=1e-5)
    # The coupling really mixes: each block of the composite depends on other slots.
    assert not torch.allclose(composite[..., :24], reduced[:, 0], atol=1e-3)


@pytest.mark.parametrize("method", ["revmux", "ora", "adapter", "hadamard"])
@pytest.mark.parametrize("n", [2, 4])
def test_every_method_maps_n_instances_to_one_composite_and_back(method, n):
    mux = build_multiplexer(method, 32, n)
    states = torch.randn(3, n, 6, 32, requires_grad=True)
    composite = mux.mux(states)
    assert composite.shape == (3, 6, 32)
    separated = mux.demux(composite[:, 0])
    assert separated.shape == (3, n, 32)
    separated.sum().backward()
    assert all(p.grad is not None for p in mux.parameters() if p.requires_grad)


def test_teacher_is_the_identity_with_no_parameters():
    mux = build_multiplexer("teacher", 32, 1)
    states = torch.randn(4, 1, 5, 32)
    assert torch.equal(mux.demux(mux.mux(states)[:, 0])[:, 0], states[:, 0, 0])
    assert list(mux.parameters()) == []


def test_hadamard_slot_vectors_are_fixed_and_shared_by_every_instance_of_the_method():
    first, second = build_multiplexer("hadamard", 16, 2), build_multiplexer("hadamard", 16, 2)
    assert torch.equal(first.slot_vectors, second.slot_vectors)
    assert "slot_vectors" not in dict(first.named_parameters())


def test_registry_names_the_paper_methods():
    assert set(METHODS.names()) == {"identity", "adapter", "ora", "revmux", "hadamard", "truncate"}  # and the alternative at equal compute


@pytest.mark.parametrize(("method", "n", "hidden", "message"), [
    ("revmux", 1, 384, r"multiplexes N >= 2 instances, got N = 1; use method identity"),
    ("hadamard", 0, 384, r"N >= 2"),
    ("revmux", 5, 384, r"splits the hidden size 384 into N = 5 equal blocks: choose an N that divides 384"),
    ("ora", 7, 384, r"choose an N that divides 384"),
    ("teacher", 2, 384, r"does not multiplex: N must be 1"),
    ("datamux", 2, 384, r"unknown method .datamux.: use one of adapter, hadamard, identity, ora, revmux, truncate; aliases: teacher \(= identity\)"),
])
def test_bad_method_settings_are_refused_with_the_fix(method, n, hidden, message):
    with pytest.raises(RevmuxError, match=message):
        build_multiplexer(method, hidden, n)


def test_method_traits_read_without_importing_equal_the_classes():
    # The workflow reads names and traits from the source (no torch); they must be what the classes say.
    for name in METHODS.names():
        cls = METHODS.get(name)
        traits = METHODS.traits(name)
        assert cls.name == name
        assert traits["multiplexes"] == cls.multiplexes, name
        assert traits["needs_divisible_width"] == cls.needs_divisible_width, name


def test_a_method_is_one_file_found_by_name(tmp_path, monkeypatch):
    # A new module in a registry's package is found, with its traits, without editing any other file.
    import sys

    from revmux.core.registry import Registry

    package = tmp_path / "plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fancy.py").write_text(
        "from plugins import REGISTRY\n\n@REGISTRY.register\nclass Fancy:\n    name = 'fancy'\n    multiplexes = False\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("plugin", "plugins", defaults={"multiplexes": True}, aliases={"old": "fancy"})
    import plugins

    monkeypatch.setattr(plugins, "REGISTRY", registry, raising=False)
    assert registry.names() == ["fancy"]
    assert registry.traits("old") == {"multiplexes": False, "name": "fancy"}
    assert "plugins.fancy" not in sys.modules  # traits came from the source
    assert registry.get("fancy").__name__ == "Fancy"
    with pytest.raises(RevmuxError, match="unknown plugin 'plain': use one of fancy; aliases: old"):
        registry.get("plain")
