"""The chat models a turn can run on: the factory (`factory`), OpenAI, the offline policy and scripts."""
