"""Fakes of the outside world, shared by tests/ and bench/ (neither imports the other):

- ``fake_telegram``: a Bot API server over real HTTP (the calls the bot makes);
- ``fake_wecom``: the WeCom API (token, message/send, robots) and its callback signer;
- ``echobot``: python-telegram-bot's echobot example, the benchmark's yardstick;
- ``proxy``: a forwarding HTTP proxy on loopback that records what went through it.
"""
