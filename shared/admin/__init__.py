"""The operator's HTTP API: webhook set-up, bot info, command menus, link codes, users, stats, audit."""
