"""Tiny random diffusers UNets saved as model folders, for fast tests of the diffusion tools."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel, UNet2DModel

CROSS_DIM = 8


def tiny_unet(num_class_embeds: int | None = None) -> UNet2DModel:
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4,
        attention_head_dim=8, num_class_embeds=num_class_embeds,
    ).eval()


def tiny_condition_unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=4,
        cross_attention_dim=CROSS_DIM, attention_head_dim=4,
    ).eval()


def tiny_scheduler() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)


def save_pipeline(folder: Path, unet: UNet2DModel | UNet2DConditionModel) -> Path:
    """A pipeline-style folder: unet/ and scheduler/."""
    unet.save_pretrained(folder / "unet")
    tiny_scheduler().save_pretrained(folder / "scheduler")
    return folder


def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread (more only oversubscribe a shared CPU); use as a
    module-scoped autouse fixture: `_threads = pytest.fixture(autouse=True, scope="module")(one_thread)`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
