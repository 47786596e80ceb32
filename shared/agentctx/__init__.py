"""Agent context service: sessions of context blocks kept in DynamoDB, served by Lambda."""
