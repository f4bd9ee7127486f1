"""The wire: an async httpx client for the Runpod job API. Knows nothing of IPython."""
