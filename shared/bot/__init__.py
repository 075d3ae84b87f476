"""Turning Telegram updates into replies: routing, commands and their texts."""
