"""Whole-pipeline mode for any diffusers pipeline that takes ``latents=`` (entry point ``diffusers``)."""

from noisesearch.hookspecs import hookimpl


@hookimpl
def noisesearch_pipelines():
    from .pipeline import DiffusersPipeline

    return [DiffusersPipeline]
