"""Engine(llm=...): providers from the config and the environment, the default provider,
and configs refused with messages naming the field (types here, values by the engine)."""

import pytest

import storyloom

FAKE_KEY = "test-key-not-a-secret"
ENV_KEYS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OPENROUTER_API_KEY",
    "OPENROUTER_MODEL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "STORYLOOM_LLM_PROVIDER",
)


@pytest.fixture
def no_llm_env(monkeypatch):
    for name in ENV_KEYS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_keys_the_default_is_the_offline_provider(db, no_llm_env):
    with storyloom.Engine(db) as engine:
        providers = engine.llm_providers()
        assert providers.default == "offline"
        assert [p.name for p in providers.providers] == ["offline"]
        assert providers["offline"].kind == "offline"


def test_keys_come_from_the_environment_and_are_never_listed(db, no_llm_env):
    no_llm_env.setenv("OPENAI_API_KEY", FAKE_KEY)
    no_llm_env.setenv("ANTHROPIC_API_KEY", FAKE_KEY + "-2")
    with storyloom.Engine(db) as engine:
        providers = engine.llm_providers()
        assert providers.default == "openai"  # the first with a key
        assert providers["openai"].has_key and providers["openai"].model == "gpt-4o-mini"
        assert providers["anthropic"].kind == "anthropic" and providers["anthropic"].has_key
        assert FAKE_KEY not in repr(providers)
    with storyloom.Engine(db, llm={"use_environment": False}) as engine:
        assert "openai" not in [p.name for p in engine.llm_providers().providers]


def test_configured_providers_are_added_and_replace_same_named_ones(db, no_llm_env):
    no_llm_env.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    llm: storyloom.LlmConfig = {
        "default_provider": "local",
        "providers": [
            {
                "name": "local",
                "kind": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "model": "llama",
                "resource": "gpu",
            },
            {"name": "offline", "kind": "offline", "model": "mine", "offline_word_delay_ms": 1},
        ],
    }
    with storyloom.Engine(db, llm=llm) as engine:
        providers = engine.llm_providers()
        assert providers.default == "local"
        local = providers["local"]
        assert (local.base_url, local.model, local.resource, local.has_key) == (
            "http://127.0.0.1:9/v1",
            "llama",
            "gpu",
            False,
        )
        assert providers["offline"].model == "mine"
        assert providers["openrouter"].base_url == "https://openrouter.ai/api/v1"


@pytest.mark.parametrize(
    "llm, message",
    [
        (
            {"providers": [{"name": "x", "kind": "bogus"}]},
            "config.llm.providers[0].kind must be openai, anthropic, gemini or offline, got 'bogus'",
        ),
        ({"providers": [{"kind": "offline"}]}, "config.llm.providers[0].name is required"),
        (
            {"providers": [{"name": "x", "kind": "openai"}]},
            "llm provider 'x' has no api_key and no base_url (a public endpoint needs a key)",
        ),
    ],
)
def test_bad_provider_values_are_refused_by_the_engine(db, no_llm_env, llm, message):
    with pytest.raises(storyloom.InvalidArgument) as info:
        storyloom.Engine(db, llm=llm)
    assert message in str(info.value)


def test_an_unknown_default_provider_is_not_found(db, no_llm_env):
    with pytest.raises(storyloom.NotFound, match="llm provider 'nope' is not configured"):
        storyloom.Engine(db, llm={"default_provider": "nope"})


@pytest.mark.parametrize(
    "llm, message",
    [
        ("offline", "llm must be a dict, got str"),
        ({"bogus": 1}, "llm has an unknown key 'bogus' (known: default_provider, "),
        ({"use_environment": 1}, "llm.use_environment must be True or False, got int"),
        ({"default_provider": 3}, "llm.default_provider must be a str, got int"),
        ({"providers": {"name": "x"}}, "llm.providers must be a list, got dict"),
        ({"providers": "offline"}, "llm.providers must be a list, got str"),
        ({"providers": ["offline"]}, "llm.providers[0] must be a dict, got str"),
        ({"providers": [{"name": "x", "kind": 3}]}, "llm.providers[0].kind must be a str, got int"),
        (
            {"providers": [{"name": "x", "idle_timeout_ms": 1.5}]},
            "llm.providers[0].idle_timeout_ms must be an int, got float",
        ),
        (
            {"providers": [{"name": "x", "nmae": "y"}]},
            "llm.providers[0] has an unknown key 'nmae' (known: name, kind, base_url, api_key,",
        ),
    ],
)
def test_a_config_of_the_wrong_type_is_a_type_error_naming_the_field(db, llm, message):
    with pytest.raises(TypeError) as info:
        storyloom.Engine(db, llm=llm)
    assert str(info.value).startswith(message)


def test_a_bad_key_type_is_named_but_never_echoed(db):
    with pytest.raises(TypeError) as info:
        storyloom.Engine(db, llm={"providers": [{"name": "x", "api_key": FAKE_KEY.encode()}]})
    assert str(info.value) == "llm.providers[0].api_key must be a str, got bytes"
