"""Native denoiser adapters for diffusers pipelines: the core's sampler drives the pipeline's denoiser step by step."""
