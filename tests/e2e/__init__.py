"""End-to-end reliability tests: the real X and Telegram adapters against the strict fakes."""
