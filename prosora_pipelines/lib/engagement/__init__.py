"""Engagement: feedback import and performance analytics over recorded engagement."""
