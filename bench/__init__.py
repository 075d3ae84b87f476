"""`make bench`: how fast, how cheap and how well-paced the bot is, on this machine (docs/performance.md)."""
