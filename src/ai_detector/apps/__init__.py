"""The applications over the inference core: the ``ai-detector`` CLI (batch folder -> CSV,
explanations), the Telegram bot (``python -m ai_detector.apps.bot``) and the demo page.
"""
