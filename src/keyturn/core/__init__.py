"""The pure core: no I/O and no framework imports. Time and randomness are passed in."""
