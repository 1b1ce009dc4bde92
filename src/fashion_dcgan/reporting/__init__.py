"""Reporting: the HTML and Markdown report, its figures and the validation page."""
