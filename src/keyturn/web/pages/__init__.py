"""The pages a person sees in a browser: the interaction (login, consent), logout, and their rendering."""
