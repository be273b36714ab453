"""The lambda strategy: package a reproducible ZIP, deploy, promote, roll back, invoke locally."""
