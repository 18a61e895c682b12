"""Song -> what a person looks at or listens to: summaries, audio, piano rolls, comparisons."""
