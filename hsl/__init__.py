"""HSL Analytics data package: schema, connections, metrics, exports. Never imports streamlit."""
