"""Screens pushed over the main one: help, and the comparison of two runs."""
