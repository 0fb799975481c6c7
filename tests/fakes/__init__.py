"""Fakes of external services that speak the real wire protocol over a real socket on 127.0.0.1."""
