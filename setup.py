"""The packages, found rather than listed: the import names ``noisesearch`` (toolkit/) and ``noisesearch_plugins``
(plugins/) with every folder under them, the weight folders included as data packages (their files are package
data, so building the wheel warns of nothing). Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup


def found(root: str, name: str) -> list[str]:
    return [name] + [f"{name}.{package}" for package in find_namespace_packages(where=root, exclude=["*__pycache__*"])]


setup(packages=found("toolkit", "noisesearch") + found("plugins", "noisesearch_plugins"))
