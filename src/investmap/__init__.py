"""InvestMap: industrial-space and investment-promotion platform."""
