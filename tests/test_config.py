"""MemoryConfig validation: every invalid field raises ConfigError naming it."""

import pytest

from memory import AgentMemorySystem, ConfigError, MemoryConfig


@pytest.mark.parametrize("path, value, fragment", [
    ("stm_config.memory_limit", 0, "stm_config.memory_limit"),
    ("stm_config.memory_limit", 1.5, "stm_config.memory_limit"),
    ("stm_config.ttl", -1, "stm_config.ttl"),
    ("im_config.memory_limit", True, "im_config.memory_limit"),
    ("im_config.float_precision", 0, "im_config.float_precision"),
    ("ltm_config.float_precision", 40, "ltm_config.float_precision"),
    ("ltm_config.memory_limit", -5, "ltm_config.memory_limit"),
    ("ltm_config.db_path", "", "ltm_config.db_path"),
    ("autoencoder_config.im_dim", 500, "must shrink"),
    ("autoencoder_config.ltm_dim", 0, "autoencoder_config.ltm_dim"),
    ("cleanup_interval", 0, "cleanup_interval"),
    ("discard_threshold", float("nan"), "discard_threshold"),
    ("importance_weights.priority", -1, "importance_weights.priority"),
    ("importance_weights.half_life_steps", 0, "importance_weights.half_life_steps"),
    ("backend", "mongo", "backend"),
    ("namespace", "a:b", "namespace"),
    ("blas_threads", 0, "blas_threads"),
])
def test_invalid_field_names_itself(path, value, fragment):
    config = MemoryConfig()
    target = config
    *parents, leaf = path.split(".")
    for p in parents:
        target = getattr(target, p)
    setattr(target, leaf, value)
    with pytest.raises(ConfigError) as err:
        AgentMemorySystem(config)
    assert fragment in str(err.value)


def test_wrong_section_type_is_a_config_error():
    config = MemoryConfig()
    config.stm_config = {"memory_limit": 5}
    with pytest.raises(ConfigError, match="stm_config"):
        config.validate()


def test_round_trip_and_unknown_keys():
    config = MemoryConfig()
    config.stm_config.memory_limit = 7
    again = MemoryConfig.from_dict(config.to_dict())
    assert again == config and again.stm_config.memory_limit == 7
    with pytest.raises(ConfigError, match="bogus"):
        MemoryConfig.from_dict({"stm_config": {"bogus": 1}})


def test_not_a_config():
    with pytest.raises(ConfigError):
        AgentMemorySystem({"stm_config": {}})
