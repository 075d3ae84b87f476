"""The Gemini assistant: a manual function-calling loop over the CRM tools (imports google-genai)."""
