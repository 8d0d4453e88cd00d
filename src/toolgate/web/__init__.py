"""The local web pages: server-rendered Starlette apps (the init review page)."""
