"""The local admin and review pages (Starlette, server-rendered, no JS build step)."""
