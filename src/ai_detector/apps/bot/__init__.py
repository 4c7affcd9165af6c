"""Telegram bot: tells users whether a picture is real, AI-generated or a deepfake.

It is a thin front end to the prediction service (``POST /predictions/<model>``):
it downloads what users send, asks the service, and words the answer. Run it with::

    BOT_TOKEN=123456:ABC... AI_DETECTOR_URL=http://127.0.0.1:8080 python -m ai_detector.apps.bot

(or ``make bot``). All settings are environment variables, see :mod:`.config`;
``BOT_MODE=webhook`` switches from long polling to a webhook, see :mod:`.app`.
Needs the ``bot`` extra: ``pip install 'ai-detector[bot]'``.
"""
