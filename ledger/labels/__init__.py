"""Label renderers: PACT v3 JSON, SVG, HTML and CSV views of one ProductFootprint."""
