import factory

from accounts.tests.factories import UserFactory
from llm.models import ActionLog, Agent, LLMConfig, Provider


class LLMConfigFactory(factory.django.DjangoModelFactory):
    """Pass `api_key="sk-..."` to choose the plaintext; it is stored encrypted."""

    class Meta:
        model = LLMConfig

    # Not a model field: popped in _create/_build and stored encrypted by set_api_key().
    api_key = factory.Sequence(lambda n: f"sk-test-{n:032d}abcd")
    user = factory.SubFactory(UserFactory)
    provider = Provider.OPENAI
    model_settings = factory.LazyFunction(lambda: {"model": "gpt-4o-mini", "temperature": 0.7})
    is_active = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        api_key = kwargs.pop("api_key")
        config = model_class(*args, **kwargs)
        config.set_api_key(api_key)
        config.save()
        return config

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        api_key = kwargs.pop("api_key")
        config = model_class(*args, **kwargs)
        config.set_api_key(api_key)
        return config


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Agent {n}")
    description = "Helps with everyday questions."
    model = "gpt-4o-mini"
    system_prompt = "You are a helpful WhatsApp assistant."
    functions = factory.LazyFunction(list)


class ActionLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActionLog

    user = factory.SubFactory(UserFactory)
    config = factory.SubFactory(LLMConfigFactory, user=factory.SelfAttribute("..user"))
    action = "check_key"
    provider = factory.LazyAttribute(lambda o: o.config.provider if o.config else "openai")
    status = ActionLog.Status.SUCCESS
    execution_time_ms = 42
