"""Trainers: thin subclasses of TRL's trainers where a loss or a step must change, and their callbacks."""
