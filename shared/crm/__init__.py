"""CRM records (written by the CRM) and the queries the bot makes on them."""
