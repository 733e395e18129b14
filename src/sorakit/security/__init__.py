"""Security guards for what users hand the gateway: the SSRF guard on every URL they supply."""
