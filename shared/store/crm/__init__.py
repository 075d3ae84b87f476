"""The CRM's collections in Firestore (docs/crm-schema.md): the adapter shared.crm reads and changes them through.

It speaks in plain data, each document as a dict of its fields with its id under "id", so that it needs none of
the domain's models: shared.crm validates what it returns into them.
"""
