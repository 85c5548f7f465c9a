"""The Lightning shell around a run: the LightningModule, the conditions DataModule, the LightningCLI of
``predict`` and ``resume``, and the callbacks (progress, results). Thin callers of ``noisesearch.run``."""
