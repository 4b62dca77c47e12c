"""The client layer: the port, the ccxt live adapter and the paper adapter."""
