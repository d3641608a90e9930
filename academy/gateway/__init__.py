"""The tenant gateway: API keys, quotas, rate limits, response cache and the audit log, in front of the router."""
