"""Order file import: read the retailer's CSV, check every row, create orders through intake."""
