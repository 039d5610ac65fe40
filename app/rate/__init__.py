"""Exchange rates: the ECB's daily reference rates, a space's own rates, and conversion to the main currency."""
