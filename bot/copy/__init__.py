"""Copy trading: a master's fills become signals, copied once to each follower of the same brokerage."""
