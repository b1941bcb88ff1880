"""Tradernet / Freedom24 HTTP API client: signed v3 requests, typed answers."""
