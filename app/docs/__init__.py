"""The product documentation: docs/*.md rendered to HTML at /docs."""
