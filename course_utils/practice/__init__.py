"""The practice loop: exercises, their checkers, references, and the student edition."""
