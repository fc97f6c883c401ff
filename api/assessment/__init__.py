"""The assessment a street runs (考核): its scheme, the indicators per compound-month, the score."""
