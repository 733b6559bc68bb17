"""The offline drill: the data plane on an embedded AWS emulator (moto)."""
