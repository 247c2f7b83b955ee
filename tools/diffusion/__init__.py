"""optograph.tools.diffusion (needs the `diffusion` extra)."""
