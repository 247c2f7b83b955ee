"""Loading a diffusers UNet and its noise schedule: from a local folder (a pipeline folder with
unet/ and scheduler/, or a bare unet folder), a hub id, or the name of a shipped model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel, UNet2DModel

from .errors import ModelLoadError

ARGUMENT = "model"
ASSETS = Path(__file__).resolve().parent / "assets"
SHIPPED_MODELS: Mapping[str, Path] = MappingProxyType({"digits": ASSETS / "digits_ddpm"})
SUPPORTED_UNETS: Mapping[str, Any] = MappingProxyType({
    "UNet2DModel": UNet2DModel,
    "UNet2DConditionModel": UNet2DConditionModel,
})
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

PromptEncoder = Callable[[list[str]], torch.Tensor]


@dataclass
class DiffusionModel:
    """A loaded UNet with what sampling needs to know about it.

    unet: in eval mode on `device`. scheduler_config: the training noise schedule (betas,
    prediction type, ...), from which every sampler builds its own scheduler.
    class-conditional models (UNet2DModel with num_class_embeds) get `num_classes`; prompt-
    conditional ones (UNet2DConditionModel) get `prompt_embeds` (P, L, D), one row per prompt,
    and optionally `negative_embeds` (1, L, D) for classifier-free guidance."""

    # A diffusers UNet2DModel or UNet2DConditionModel (typed Any: diffusers' lazy module is
    # opaque to type checkers).
    unet: Any
    scheduler_config: dict[str, Any]
    device: torch.device
    source: str
    prompt_embeds: torch.Tensor | None = None
    negative_embeds: torch.Tensor | None = None
    guidance_scale: float = 1.0
    prompts: list[str] = field(default_factory=list)

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler_config.get("num_train_timesteps", 1000))

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return int(self.unet.config.in_channels), int(height), int(width)

    @property
    def num_classes(self) -> int | None:
        """How many class labels a class-conditional UNet2DModel takes; None otherwise."""
        if isinstance(self.unet, UNet2DModel) and self.unet.config.num_class_embeds:
            return int(self.unet.config.num_class_embeds)
        return None

    @property
    def num_conditions(self) -> int | None:
        """How many distinct conditions (classes or prompts) a sample can get; None if none."""
        if self.prompt_embeds is not None:
            return int(self.prompt_embeds.shape[0])
        return self.num_classes

    @property
    def uses_guidance(self) -> bool:
        return self.negative_embeds is not None and self.guidance_scale != 1.0

    def _mean_part(self, output: torch.Tensor) -> torch.Tensor:
        # Models with learned variance output 2C channels; samplers use the first C.
        channels = self.sample_shape[0]
        return output[:, :channels] if output.shape[1] == 2 * channels else output

    def predict_noise(self, sample: torch.Tensor, timestep: int | torch.Tensor,
                      conditions: torch.Tensor | None = None) -> torch.Tensor:
        """The UNet's output at `timestep` for a batch; conditions are class labels or prompt
        indices (one per sample) where the model is conditional."""
        if isinstance(self.unet, UNet2DModel):
            return self._mean_part(self.unet(sample, timestep, class_labels=conditions).sample)
        if self.prompt_embeds is None or conditions is None:
            raise ModelLoadError(ARGUMENT, f"{self.source}: a UNet2DConditionModel needs prompt "
                                 "embeddings (prompt_embeds=, or prompts= with encoder=)")
        embeds = self.prompt_embeds[conditions]
        if not self.uses_guidance:
            return self._mean_part(self.unet(sample, timestep, encoder_hidden_states=embeds).sample)
        assert self.negative_embeds is not None
        negative = self.negative_embeds.expand(len(sample), *self.negative_embeds.shape[1:])
        both = self.unet(torch.cat([sample, sample]), timestep,
                         encoder_hidden_states=torch.cat([negative, embeds])).sample
        unconditional, conditional = self._mean_part(both).chunk(2)
        return unconditional + self.guidance_scale * (conditional - unconditional)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """cuda when available (and not overridden), else cpu; an unavailable device is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ModelLoadError("device", f"{device!r} is not a torch device ({error})") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device", "cuda was asked for but no CUDA device is available")
    return resolved


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(ARGUMENT, f"{path}: unreadable config ({error})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(ARGUMENT, f"{path}: config is not a JSON object")
    return config


def _local_layout(folder: Path) -> tuple[Path, Path | None]:
    """(unet folder, scheduler config file or None) of a local diffusers folder, or an error
    naming what is missing."""
    if not folder.is_dir():
        raise ModelLoadError(ARGUMENT, f"{folder}: not a folder")
    if (folder / "unet" / "config.json").is_file():
        unet_dir = folder / "unet"
        scheduler = folder / "scheduler" / "scheduler_config.json"
    elif (folder / "config.json").is_file():
        unet_dir = folder
        scheduler = folder / "scheduler_config.json"
    else:
        raise ModelLoadError(ARGUMENT, f"{folder}: not a diffusers model (no unet/config.json "
                             "and no config.json)")
    class_name = _read_config(unet_dir / "config.json").get("_class_name")
    if class_name not in SUPPORTED_UNETS:
        raise ModelLoadError(ARGUMENT, f"{unet_dir / 'config.json'}: _class_name is {class_name!r}; "
                             f"expected one of {', '.join(SUPPORTED_UNETS)}")
    if not any((unet_dir / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(ARGUMENT, f"{unet_dir}: no weights ({' or '.join(WEIGHT_FILES)})")
    return unet_dir, scheduler if scheduler.is_file() else None


def _default_scheduler_config() -> dict[str, Any]:
    # A bare unet folder carries no schedule: the DDPM paper's (1000 linear betas) is assumed.
    return dict(DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear",
                              clip_sample=False).config)


def _load_local(folder: Path, dtype: torch.dtype | None) -> tuple[Any, dict[str, Any]]:
    unet_dir, scheduler_file = _local_layout(folder)
    unet_class = SUPPORTED_UNETS[_read_config(unet_dir / "config.json")["_class_name"]]
    try:
        unet = unet_class.from_pretrained(unet_dir, torch_dtype=dtype, low_cpu_mem_usage=False)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ModelLoadError(ARGUMENT, f"{unet_dir}: cannot load the UNet ({error})") from None
    config = _read_config(scheduler_file) if scheduler_file else _default_scheduler_config()
    if "num_train_timesteps" not in config:
        raise ModelLoadError(ARGUMENT, f"{scheduler_file}: no num_train_timesteps")
    return unet, config


def _load_hub(model_id: str, dtype: torch.dtype | None) -> tuple[Any, dict[str, Any]]:
    failures = []
    for unet_class in SUPPORTED_UNETS.values():
        for subfolder in ("unet", None):
            try:
                unet = unet_class.from_pretrained(model_id, subfolder=subfolder, torch_dtype=dtype,
                                                  low_cpu_mem_usage=False)
            except (OSError, ValueError) as error:
                failures.append(str(error).splitlines()[0] if str(error) else type(error).__name__)
                continue
            try:
                config = dict(DDPMScheduler.load_config(model_id, subfolder="scheduler"))
            except (OSError, ValueError):
                config = _default_scheduler_config()
            return unet, config
    raise ModelLoadError(ARGUMENT, f"{model_id}: not a local folder and not loadable from the hub "
                         f"({failures[-1] if failures else 'no UNet'})")


def _embed_prompts(prompts: Sequence[str] | None, encoder: PromptEncoder | None,
                   prompt_embeds: torch.Tensor | None) -> torch.Tensor | None:
    if prompt_embeds is not None:
        if prompt_embeds.dim() != 3:
            raise ModelLoadError("prompt_embeds", "expected (prompts, tokens, dim); got shape "
                                 f"{tuple(prompt_embeds.shape)}")
        return prompt_embeds
    if prompts:
        if encoder is None:
            raise ModelLoadError("prompts", "prompts need an encoder (list[str] -> (P, L, D))")
        with torch.no_grad():
            return _embed_prompts(None, None, encoder(list(prompts)))
    return None


def load_model(
    spec: str | Path = "digits",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    *,
    prompts: Sequence[str] | None = None,
    encoder: PromptEncoder | None = None,
    prompt_embeds: torch.Tensor | None = None,
    negative_prompt_embeds: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
) -> DiffusionModel:
    """Load a diffusers UNet and its training noise schedule.

    spec: a shipped model's name ("digits"), a local folder (pipeline folder with unet/ and
    scheduler/, or a bare unet folder: then 1000 linear betas are assumed), or a hub id.
    For a UNet2DConditionModel give prompt_embeds (P, L, D) or prompts with an encoder;
    negative_prompt_embeds (1, L, D) and guidance_scale turn on classifier-free guidance."""
    target = resolve_device(device)
    text = str(spec)
    folder: Path | None
    if text in SHIPPED_MODELS:
        folder = SHIPPED_MODELS[text]
        if not (folder / "unet").is_dir():
            raise ModelLoadError(ARGUMENT, f"shipped model {text!r} is missing ({folder})")
    else:
        folder = Path(text).expanduser()
        if not folder.exists():
            if not _HUB_ID.match(text):
                raise ModelLoadError(ARGUMENT, f"{text}: no such folder, not a hub id and not a "
                                     f"shipped model ({', '.join(SHIPPED_MODELS)})")
            folder = None
    unet, scheduler_config = _load_local(folder, dtype) if folder else _load_hub(text, dtype)
    unet = unet.to(target).eval().requires_grad_(False)
    model = DiffusionModel(unet=unet, scheduler_config=dict(scheduler_config), device=target,
                           source=text, guidance_scale=float(guidance_scale),
                           prompts=list(prompts or []))
    embeds = _embed_prompts(prompts, encoder, prompt_embeds)
    if isinstance(unet, UNet2DConditionModel):
        if embeds is None:
            raise ModelLoadError(ARGUMENT, f"{text}: a UNet2DConditionModel needs prompt "
                                 "embeddings (prompt_embeds=, or prompts= with encoder=)")
        model.prompt_embeds = embeds.to(target, unet.dtype)
        if negative_prompt_embeds is not None:
            model.negative_embeds = negative_prompt_embeds.to(target, unet.dtype)[:1]
    elif embeds is not None:
        raise ModelLoadError("prompts", f"{text} is a UNet2DModel; it takes no prompts")
    return model
