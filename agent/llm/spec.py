"""Turn a model spec into a LangChain chat model: an object, "provider:model", or "local".

Provider integrations are imported only when their spec is used, so none of them is needed to
import optograph, and a missing one is reported with the command that installs it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from .errors import LLMConfigError, LLMSpecError
from .local import DEFAULT_GGUF_NAME, LocalChatModel, local_model_for

INSTALL_PROVIDERS = "pip install 'optograph[llm]'"

# provider -> (module, class, PyPI distribution)
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "openai": ("langchain_openai", "ChatOpenAI", "langchain-openai"),
    "anthropic": ("langchain_anthropic", "ChatAnthropic", "langchain-anthropic"),
    "ollama": ("langchain_ollama", "ChatOllama", "langchain-ollama"),
}
# a model object's _llm_type -> provider, to name objects the way specs name them
_LLM_TYPES = {"openai-chat": "openai", "anthropic-chat": "anthropic", "chat-ollama": "ollama"}
_ACCEPTED = "'local', 'local:/path/model.gguf', or 'provider:model' with provider in " + ", ".join(
    PROVIDERS
)


def parse_spec(spec: str | None) -> tuple[str, str | None]:
    """Split a spec string into (provider, model); ("local", None) means the embedded default."""
    if spec is None:
        return "local", None
    if not isinstance(spec, str):
        raise LLMSpecError(
            f"model spec must be a string or a langchain BaseChatModel, got {type(spec).__name__}"
        )
    text = spec.strip()
    if text.lower() == "local":
        return "local", None
    provider, colon, name = text.partition(":")
    provider, name = provider.strip().lower(), name.strip()
    if not colon or not provider or not name:
        raise LLMSpecError(f"model spec {spec!r} is malformed: expected {_ACCEPTED}")
    if provider != "local" and provider not in PROVIDERS:
        raise LLMSpecError(
            f"model spec {spec!r} names an unknown provider {provider!r}: expected {_ACCEPTED}"
        )
    return provider, name


def canonical_spec(spec: str | None) -> str:
    """The stable name of a spec: lower-case provider, and for GGUF files the file name only
    (so a cassette recorded on one machine replays on another)."""
    provider, name = parse_spec(spec)
    if provider == "local":
        return f"local:{DEFAULT_GGUF_NAME if name is None else Path(name).name}"
    return f"{provider}:{name}"


def describe_model(model: BaseChatModel) -> str:
    """A "provider:model" name for a chat model object (its type name when it has no model)."""
    if isinstance(model, LocalChatModel):
        return model.model_name
    llm_type = getattr(model, "_llm_type", type(model).__name__)
    provider = _LLM_TYPES.get(llm_type, llm_type)
    for attribute in ("model_name", "model", "model_id"):
        name = getattr(model, attribute, None)
        if isinstance(name, str) and name:
            return f"{provider}:{name}"
    return str(provider)


def get_chat_model(spec: str | BaseChatModel | None = None, **settings: Any) -> BaseChatModel:
    """A LangChain chat model for `spec`.

    - a BaseChatModel object is returned as it is;
    - None or "local": the embedded SmolLM2-135M-Instruct (llama-cpp-python, CPU);
    - "local:/path/model.gguf": any GGUF chat model file;
    - "openai:gpt-4o-mini", "anthropic:claude-3-5-haiku-latest", "ollama:llama3.2": the
      provider's LangChain integration (install with `pip install 'optograph[llm]'`).
    `settings` (temperature, max_tokens, ...) go to the model's constructor."""
    if isinstance(spec, BaseChatModel):
        if settings:
            raise LLMSpecError(
                f"settings {sorted(settings)} apply to spec strings only; set them on the "
                f"{describe_model(spec)} object itself"
            )
        return spec
    provider, name = parse_spec(spec)
    if provider == "local":
        return local_model_for(name, **settings)
    module_name, class_name, distribution = PROVIDERS[provider]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LLMConfigError(
            f"model spec {spec!r} needs {distribution}, which is not installed: "
            f"run `{INSTALL_PROVIDERS}`"
        ) from error
    chat_class = getattr(module, class_name)
    try:
        return chat_class(model=name, **settings)
    except Exception as error:  # provider constructors raise anything: missing key, bad option
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise LLMConfigError(
            f"model spec {spec!r}: could not create {class_name}: {detail}"
        ) from error


def json_schema_kwargs(
    model: BaseChatModel, schema: dict[str, Any], messages_text: str
) -> dict[str, Any]:
    """Call parameters that ask `model` for JSON following `schema`, where it supports that:
    the local model is constrained by a grammar, Ollama takes the schema as `format`, OpenAI
    gets JSON mode (which the API accepts only when the prompt mentions JSON). Other models
    get nothing extra and rely on the prompt."""
    if getattr(type(model), "accepts_json_schema", False):
        return {"json_schema": schema}
    provider = describe_model(model).partition(":")[0]
    if provider == "ollama":
        return {"format": schema}
    if provider == "openai" and "json" in messages_text.lower():
        return {"response_format": {"type": "json_object"}}
    return {}
