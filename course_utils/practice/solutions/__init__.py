"""Reference solutions generated from the teacher notebooks."""
