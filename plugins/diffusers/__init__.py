"""Any diffusers pipeline (entry point ``diffusers``): ``source`` reads a model before loading it, ``whole`` runs
``pipe(latents=...)`` per batch of candidates, ``native`` drives its denoiser with the core's samplers."""

from noisesearch.hookspecs import hookimpl


@hookimpl
def noisesearch_pipelines():
    from .whole import DiffusersPipeline

    return [DiffusersPipeline]
