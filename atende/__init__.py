"""atende: a conversational SDR and booking agent for clinics."""
__version__ = "0.1.0"
