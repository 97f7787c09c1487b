"""The operators' surface: sign-in and sessions, pages, and the JSON admin API."""
