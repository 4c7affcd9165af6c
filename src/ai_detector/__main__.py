"""``python -m ai_detector predict ...``: the ``ai-detector`` command without the console script."""

from ai_detector.apps.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
