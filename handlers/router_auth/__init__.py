"""The router API's token authorizer, which works in either region without
the user pool's region (see docs/decisions/cross-region-auth.md)."""
