"""The Telegram channel funnel: the space's own bot, channels, invite pools, updates, drip, stats."""
