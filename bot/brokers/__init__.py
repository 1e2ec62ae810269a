"""Exchange adapters behind one contract (bot.brokers.base.Broker); they know nothing of strategy."""
