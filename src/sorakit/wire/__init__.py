"""Hand-written pydantic models of what travels on the wire, one module per resource."""
