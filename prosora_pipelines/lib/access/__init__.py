"""Who may call the API and how often: bearer-token verification (``tokens``) and per-key
rate limiting shared by every API process (``rate_limits``). Pure library code; the API
layer reads settings and passes them in."""
