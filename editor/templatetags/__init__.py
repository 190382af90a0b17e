"""Template tags of the editor's pages."""
