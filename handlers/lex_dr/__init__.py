"""Cross-region Lex V2 failover: the region lookup and the health check."""
