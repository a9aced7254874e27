"""All SQL lives here. Used by activities/ and api/, never by workflows/."""
