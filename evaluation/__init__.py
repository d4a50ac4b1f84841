"""Evaluation of the detection engine on labelled homes (`anxin eval`); not part of any running service."""
