"""Who a Telegram user is in the CRM: login over chat, deep-link codes, sessions."""
