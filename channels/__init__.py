"""Chat channels: the only modules that import a chat SDK (Telegram, WeCom, console)."""
