"""Any diffusers pipeline (entry point ``diffusers``): ``family`` describes each model before loading it (``source``
reads its files) and picks a mode per search; ``whole`` runs ``pipe(latents=...)`` per batch of candidates;
``native`` drives its denoiser with the core's samplers."""

from noisesearch.plugin import hookimpl

NOISESEARCH_API = 3  # the plugin API this package targets (noisesearch.plugin.API_VERSION)


@hookimpl
def noisesearch_pipelines():
    from .family import Diffusers

    return [Diffusers]
