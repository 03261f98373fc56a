"""State encoder determinism and similarity; per-tier autoencoders; training."""

import json
import subprocess
import sys

import numpy as np
import pytest

from memory.embeddings.autoencoder import Autoencoder
from memory.embeddings.encoder import StateEncoder

_SNIPPET = """
import json, sys
from memory.embeddings.encoder import StateEncoder
states = json.loads(sys.stdin.read())
sys.stdout.write(StateEncoder(384).encode_states(states).tobytes().hex())
"""


def test_same_vector_in_every_process(states):
    data = states(20, complexity=2)
    here = StateEncoder(384).encode_states(data).tobytes().hex()
    outs = {subprocess.run([sys.executable, "-c", _SNIPPET], input=json.dumps(data), capture_output=True,
                           text=True, check=True, env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout
            for seed in (1, 2)}
    assert outs == {here}


def test_unit_vectors_and_single_equals_batch(states):
    enc = StateEncoder(384)
    data = states(50)
    batch = enc.encode_states(data)
    assert batch.dtype == np.float32 and batch.shape == (50, 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
    assert np.allclose(batch[7], enc.encode(data[7]), atol=1e-6)
    assert not np.any(enc.encode({}))


def test_numbers_by_value_strings_by_token():
    enc = StateEncoder(384)
    v = lambda s: enc.encode(s)
    assert v({"x": 1.0}) @ v({"x": 1.01}) > 0.99 > v({"x": 1.0}) @ v({"x": 3.0})
    assert v({"note": "red apple"}) @ v({"note": "green apple"}) > 0.4 > v({"note": "red apple"}) @ v({"note": "blue sky"})
    assert v({"a": 1}) @ v({"b": 1}) < 0.3  # different paths


def test_autoencoder_untrained_is_orthonormal_and_training_lowers_loss(states):
    enc = StateEncoder(384)
    x = enc.encode_states(states(400, seed=3))
    ae = Autoencoder(384, 32, seed=0)
    assert np.allclose(ae.w_enc.T @ ae.w_enc, np.eye(32), atol=1e-5)
    before = ae.reconstruction_mse(x)
    losses = ae.fit(x, epochs=8, batch_size=64, learning_rate=1e-3)
    assert len(losses) == 8 and losses[-1] < losses[0] and ae.reconstruction_mse(x) < before
    again = Autoencoder(384, 32, seed=0)
    assert again.fit(x, epochs=8, batch_size=64, learning_rate=1e-3) == losses  # deterministic


def test_tier_encoders(system, states):
    data = states(10)
    for tier, dim in (("stm", 384), ("im", 128), ("ltm", 32)):
        enc = system.get_encoder(tier)
        code = enc.encode(data[0])
        assert code.shape == (dim,) and enc.dim == dim
        assert enc.decode(code).shape == (384,)
        assert enc.encode_states(data).shape == (10, dim)
    stm = system.get_encoder("stm")
    assert np.allclose(stm.decode(stm.encode(data[0])), stm.encode(data[0]))


def test_train_compression_reports_and_keeps_search_working(make_system, states):
    system = make_system(stm_limit=200, cleanup_interval=10_000)
    data = states(400, seed=11)
    ids = system.store_agent_states("a", data)
    system.force_memory_maintenance("a")  # 200 go to IM
    report = system.train_compression(epochs=5)
    assert report["samples"] == 200 and report["epochs"] == 5 and report["seconds"] > 0
    for tier in ("im", "ltm"):
        r = report["tiers"][tier]
        assert len(r["loss_per_epoch"]) == 5 and r["final_mse"] < r["initial_mse"]
    im_id = next(m for m in ids if system.memory_exists(m, tier="im"))
    query = data[ids.index(im_id)]
    assert system.retrieve_similar_states("a", query, k=1, tier="im")[0]["memory_id"] == im_id


def test_train_needs_data(system):
    with pytest.raises(ValueError):
        system.train_compression()
