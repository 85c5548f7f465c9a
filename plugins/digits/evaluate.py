"""The former name of ``python -m noisesearch_plugins.digits.evaluation OUT_DIR``, kept so the command still works."""

from .evaluation import evaluate_run, main

__all__ = ["evaluate_run", "main"]

if __name__ == "__main__":
    main()
