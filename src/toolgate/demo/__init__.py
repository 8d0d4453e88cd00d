"""The toolgate demo: a simulated exchange MCP server, a policy for it and a scripted agent."""
