"""CRM tools: typed actions on CRM records, one registry for the assistant and the slash commands."""
