"""WeCom (企业微信) channel: callback crypto and API client."""
