"""The HTTP service: the app factory, one router per resource, dependencies and error mapping."""
