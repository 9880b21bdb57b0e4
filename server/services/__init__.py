"""Business rules: async functions with keyword-only arguments. Nothing here knows GraphQL."""
