"""Firestore documents the bot owns, behind small typed functions."""
