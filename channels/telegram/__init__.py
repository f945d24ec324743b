"""Telegram channel (python-telegram-bot 22): long polling (``python run.py telegram``) or the
webhook on the shared server (``python run.py serve``). It only translates: a Telegram update
becomes an ``Incoming`` for ``handlers.handle`` and each ``Reply`` becomes messages, inline
keyboards, edits, callback answers, photos and documents.

- ``bot``: the Application, update -> Incoming, Reply -> Telegram calls;
- ``webhook``: ``install(web_app, duban, notifiers)`` for ``channels.server``;
- ``notifier``: ``TelegramNotifier`` for reminders and digests;
- ``cli``: the ``telegram`` sub-command.
"""
