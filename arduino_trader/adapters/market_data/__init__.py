"""Market-data sources behind the MarketData port: replay (bundled CSV) and yfinance."""
