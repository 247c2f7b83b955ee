"""optograph.agent.llm: chat models, usage accounting, cache and cassettes."""
